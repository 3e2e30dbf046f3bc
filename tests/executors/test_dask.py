"""The dask executor's own guarantees: its cluster, lost workers and schedulers, bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from daskcluster import DaskCluster
from proctools import processes_with, wait_until_gone

from flowkit import DefinitionError, Flow, RunListener, RunState, TaskState, task_values
from flowkit._errors import ExecutorError
from flowkit._store import open_store
from flowkit.executors import resolve
from flowkit.executors.dask import DaskExecutor

ROOT = Path(__file__).parents[2]


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _zygotes() -> list[int]:
    """The zygotes of the workers: ``--serve`` processes whose parent is not one."""
    found = []
    for pid in processes_with("flowkit.executors.dask._zygote --serve"):
        try:
            parent = Path(f"/proc/{_parent_of(pid)}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if b"flowkit.executors.dask._zygote" not in parent:
            found.append(pid)
    return found


def _kill_my_worker() -> None:
    """From inside an attempt: SIGKILL the dask worker process running it.

    The attempt's parent is the worker's zygote, a child of the worker process.
    """
    os.kill(_parent_of(os.getppid()), signal.SIGKILL)
    time.sleep(60)  # the worker's death takes this process with it


def _worker_killer(tmp_path: Path) -> Flow:
    flow = Flow("worker_loss")

    @flow.task(retries=1)
    def victim():
        marker = tmp_path / "killed"
        if not marker.exists():
            marker.write_text("once")
            _kill_my_worker()
        return "survived"

    @flow.task(depends_on=[victim])
    def after(victim):
        task_values.set("got", victim)

    return flow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the ephemeral cluster -----------------------------------------------------------------
def test_an_ephemeral_cluster_runs_the_flow_and_is_gone_when_the_run_ends():
    flow = Flow("job_cluster")

    @flow.task
    def where():
        task_values.set("pid", os.getpid())
        return os.getpid()

    @flow.task(depends_on=[where])
    def fails():
        raise RuntimeError("the run fails; the cluster still closes")

    executor = DaskExecutor(workers=2)
    result = flow.run(executor=executor)

    assert result.tasks["where"].state is TaskState.SUCCEEDED
    assert result.values["where"]["pid"] != os.getpid()
    assert result.state is RunState.FAILED
    report = executor.cluster_report
    assert report is not None
    assert report.ephemeral
    assert report.workers == 2
    assert 0 < report.startup_seconds < report.lifetime_seconds
    # The autouse fixture asserts that no process of the cluster outlives the test.


def test_no_cluster_starts_before_a_task_is_ready():
    flow = Flow("idle")

    @flow.task
    def only():
        pass

    executor = DaskExecutor(workers=1)
    executor.start(flow.plan(), None, run_id="idle")
    executor.shutdown()

    assert executor.cluster_report is None  # started and shut down: no cluster was needed


def test_a_cancelled_run_closes_its_ephemeral_cluster_and_kills_the_attempts(marker):
    flow = Flow("cancelled")

    @flow.task
    def sleeps():
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
        print("started", flush=True)
        time.sleep(60)

    class CancelWhenRunning(RunListener):
        def task_output(self, event):
            raise KeyboardInterrupt  # Ctrl-C once the task has started its child

    executor = DaskExecutor(workers=1, grace_period=1)
    with pytest.raises(KeyboardInterrupt) as raised:
        flow.run(executor=executor, listeners=[CancelWhenRunning()])

    assert raised.value.result.state is RunState.CANCELLED
    assert wait_until_gone(marker) == []
    assert executor.cluster_report is not None


# -- lost workers and schedulers -----------------------------------------------------------
def test_a_killed_worker_fails_the_attempt_and_the_retry_runs_on_the_ephemeral_cluster(
    tmp_path,
):
    result = _worker_killer(tmp_path).run(executor=DaskExecutor(workers=2))

    assert result.tasks["victim"].state is TaskState.SUCCEEDED
    assert result.tasks["victim"].attempts == 2
    assert result.values["after"] == {"got": "survived"}


def test_a_killed_worker_of_a_running_scheduler_is_one_failed_attempt(tmp_path, dask_cluster):
    flow = _worker_killer(tmp_path)
    no_retry = Flow("worker_loss_no_retry")

    @no_retry.task
    def victim():
        _kill_my_worker()

    try:
        failed = no_retry.run(executor=DaskExecutor(address=dask_cluster.address))
        retried = flow.run(executor=DaskExecutor(address=dask_cluster.address))
    finally:
        dask_cluster.wait_for_workers(dask_cluster.workers)  # their nannies restart them

    # dask would have run it again on another worker; flowkit's retries decide instead.
    assert failed.tasks["victim"].state is TaskState.FAILED
    assert failed.tasks["victim"].attempts == 1
    assert failed.tasks["victim"].error.type_name == "WorkerLost"
    assert "died" in failed.tasks["victim"].error.message
    assert retried.tasks["victim"].attempts == 2
    assert retried.values["after"] == {"got": "survived"}


def test_a_scheduler_lost_mid_run_cancels_the_run_with_a_message(tmp_path, marker):
    cluster = DaskCluster(tmp_path / "cluster", workers=1).start()
    flow = Flow("scheduler_loss")

    @flow.task
    def long():
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
        print("running", flush=True)
        time.sleep(60)

    class KillScheduler(RunListener):
        def task_output(self, event):
            cluster.processes[0].kill()  # the scheduler, as the task runs

    try:
        started = time.monotonic()
        result = flow.run(
            executor=DaskExecutor(address=cluster.address), listeners=[KillScheduler()]
        )
        elapsed = time.monotonic() - started
        assert wait_until_gone(marker, seconds=15) == []  # the workers stop what they ran
    finally:
        cluster.stop()

    assert result.state is RunState.CANCELLED
    assert cluster.address in result.cancel_reason
    assert result.tasks["long"].state is TaskState.CANCELLED
    assert "lost the connection to the dask scheduler" in result.tasks["long"].error.message
    assert elapsed < 30


# -- bad input -----------------------------------------------------------------------------
def test_an_unreachable_scheduler_is_an_error_naming_it_before_anything_runs(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    flow = Flow("unreachable")

    @flow.task
    def never():
        (tmp_path / "ran").touch()

    store = open_store()
    with pytest.raises(ExecutorError, match=f"cannot reach the dask scheduler at {address}"):
        flow.run(executor=DaskExecutor(address=address, connect_timeout=1), store=store)

    assert not (tmp_path / "ran").exists()
    assert store.list_runs() == []  # nothing recorded: the run never started


@pytest.mark.parametrize(
    "address", ["127.0.0.1:8786", "tcp://127.0.0.1", "tcp://:8786", "http://host:8786", "x"]
)
def test_an_invalid_address_is_a_definition_error_naming_the_flow(address):
    flow = Flow("bad_address")

    @flow.task
    def never():
        pass

    with pytest.raises(DefinitionError, match=r"flow 'bad_address'.*tcp://HOST:PORT") as error:
        flow.run(executor=DaskExecutor(address=address), store=False)
    assert repr(address) in str(error.value)


def test_an_invalid_address_in_the_environment_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv("FLOWKIT_DASK_ADDRESS", "localhost")
    flow = Flow("env_address")

    @flow.task
    def never():
        pass

    with pytest.raises(DefinitionError, match="from FLOWKIT_DASK_ADDRESS"):
        flow.run(executor="dask", store=False)


def test_without_distributed_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails

    with pytest.raises(DefinitionError, match=r"pip install 'flowkit-workflows\[dask\]'") as error:
        resolve("dask", flow_name="etl")
    assert "flow 'etl'" in str(error.value)


def test_an_unknown_executor_lists_the_valid_ones():
    with pytest.raises(DefinitionError, match="valid executors: inline, local, dask"):
        resolve("dusk", flow_name="etl")


def test_a_function_that_cannot_be_pickled_is_an_error_before_any_task_runs(tmp_path):
    lock = threading.Lock()
    flow = Flow("unshippable")

    @flow.task
    def first():
        (tmp_path / "ran").touch()

    @flow.task
    def guarded():
        with lock:
            pass

    store = open_store()
    with pytest.raises(DefinitionError, match="task 'guarded': its function cannot be pickled"):
        flow.run(executor=DaskExecutor(workers=1), store=store)
    assert not (tmp_path / "ran").exists()
    assert store.list_runs() == []


def test_unpicklable_parameters_fail_the_attempts_with_the_reason(dask_cluster):
    flow = Flow("arguments", params={"lock": None})

    @flow.task
    def uses(lock):
        return "ran"

    @flow.task(depends_on=[uses], run_if="all_done")
    def cleanup():
        return "ran"

    executor = DaskExecutor(address=dask_cluster.address)
    result = flow.run(executor=executor, params={"lock": threading.Lock()})

    for name in ("uses", "cleanup"):  # params go with every attempt, as on local
        assert result.tasks[name].state is TaskState.FAILED
        assert result.tasks[name].error.type_name == "PicklingError"
        assert "cannot be pickled" in result.tasks[name].error.message
    assert result.state is RunState.FAILED


def test_a_module_missing_on_the_workers_is_a_clear_task_failure(tmp_path, dask_cluster):
    package = tmp_path / "only_here"
    package.mkdir()
    (package / "helpers_only_here.py").write_text("def work():\n    return 42\n")
    sys.path.insert(0, str(package))
    try:
        from helpers_only_here import work  # importable here, not on the workers

        flow = Flow("missing_module")
        flow.task(name="work")(work)
        result = flow.run(executor=DaskExecutor(address=dask_cluster.address))
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("helpers_only_here", None)

    error = result.tasks["work"].error
    assert result.tasks["work"].state is TaskState.FAILED
    assert error.type_name == "WorkerSetupError"
    assert "helpers_only_here" in error.message
    assert "installed" in error.message


# -- output ------------------------------------------------------------------------------
def test_output_streams_while_the_task_runs_and_every_line_lands_once(dask_cluster, tmp_path):
    flow = Flow("streams")

    @flow.task
    def talks():
        for index in range(5):
            print(f"line {index}", flush=True)
            time.sleep(0.3)
        (tmp_path / "done").touch()
        for index in range(5, 2000):
            print(f"line {index}")

    seen: list[tuple[str, bool]] = []

    class Collect(RunListener):
        def task_output(self, event):
            seen.append((event.line, (tmp_path / "done").exists()))

    result = flow.run(executor=DaskExecutor(address=dask_cluster.address), listeners=[Collect()])

    assert [line for line, _ in seen] == [f"line {index}" for index in range(2000)]
    assert not seen[0][1]  # the first line arrived before the task was done
    log = Path(result.tasks["talks"].log_path).read_text().splitlines()
    assert log == [f"line {index}" for index in range(2000)]


# -- the command line --------------------------------------------------------------------
def _flowkit(*args: str, home: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    env.pop("FLOWKIT_DASK_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "flowkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_the_lakehouse_example_runs_on_a_real_scheduler_and_two_workers(dask_cluster, tmp_path):
    done = _flowkit(
        "run", "examples/lakehouse.py", "--address", dask_cluster.address, home=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert "executor dask" in done.stdout
    assert "succeeded" in done.stdout.splitlines()[-1]


def test_the_command_line_starts_an_ephemeral_cluster_of_the_workers_asked(tmp_path):
    done = _flowkit("run", "examples/lakehouse.py", "--workers", "2", home=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "executor dask" in done.stdout


def test_command_line_errors_exit_2_before_anything_runs(tmp_path, monkeypatch):
    from flowkit.cli import main

    monkeypatch.setitem(DaskExecutor.__init__.__kwdefaults__, "connect_timeout", 1.0)
    example = str(ROOT / "examples" / "lakehouse.py")
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert main(["run", example, "--address", address]) == 2
    assert main(["run", example, "--address", "nonsense"]) == 2
    assert main(["run", example, "--executor", "local", "--workers", "2"]) == 2
    assert main(["run", example, "--executor", "warp"]) == 2
    assert open_store().list_runs() == []  # none of them started a run


def test_a_worker_starts_a_new_zygote_when_its_zygote_died(dask_cluster):
    flow = Flow("zygotes")

    @flow.task
    def where():
        return os.getppid()  # the zygote that forked this attempt

    executor = DaskExecutor(address=dask_cluster.address)
    assert flow.run(executor=executor).tasks["where"].state is TaskState.SUCCEEDED
    zygotes = _zygotes()
    assert zygotes  # a worker keeps one, warm, for its next attempts
    for pid in zygotes:
        os.kill(pid, signal.SIGKILL)

    again = flow.run(executor=executor)

    assert again.tasks["where"].state is TaskState.SUCCEEDED
    assert again.results["where"] not in zygotes


def test_the_command_line_names_the_flow_and_the_extra_without_distributed(monkeypatch, capsys):
    from flowkit.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)
    example = str(ROOT / "examples" / "lakehouse.py")

    assert main(["run", example, "--workers", "2"]) == 2
    assert "flow 'lakehouse'" in capsys.readouterr().err
    assert main(["run", example, "--executor", "dask"]) == 2
    assert "pip install 'flowkit-workflows[dask]'" in capsys.readouterr().err


def test_at_capacity_a_new_attempt_waits_for_dask_to_free_a_reported_ones_thread(monkeypatch):
    """A task submitted before dask hears a reported attempt ended may queue behind a busy
    worker's tasks for a whole task's time: at capacity, submit waits for that word first."""
    from flowkit.executors.dask import _reports

    monkeypatch.setattr(_reports, "THREAD_WAIT_SECONDS", 30.0)
    executor = DaskExecutor()
    executor._reported.update({"first", "second"})  # reported, their dask tasks not yet done
    returned = threading.Event()
    waiter = threading.Thread(target=lambda: (executor._wait_for_a_thread(2), returned.set()))
    waiter.start()
    waiter.join(0.3)
    assert not returned.is_set()  # both threads still busy in dask's eyes
    executor._future_done("first")  # dask's callback thread: that task is done
    waiter.join(10)
    assert returned.is_set()
    assert executor._reported == {"second"}
    executor._wait_for_a_thread(3)  # below capacity: returns at once (30 s otherwise)
