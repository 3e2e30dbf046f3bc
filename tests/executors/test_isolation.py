"""Executors with isolated attempts (local, dask): crashes, timeouts killing whole trees, output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from proctools import processes_with, wait_until_gone

from flowkit import Flow, RunListener, RunState, TaskState, task_values

counter = {"value": 0}


def test_each_attempt_runs_in_its_own_process_and_globals_do_not_leak(isolating):
    flow = Flow("isolation", max_parallel=2)

    @flow.task
    def first():
        counter["value"] += 1
        task_values.set("pid", os.getpid())
        task_values.set("seen", counter["value"])

    @flow.task(depends_on=[first])
    def second():
        counter["value"] += 1
        task_values.set("pid", os.getpid())
        task_values.set("seen", counter["value"])

    result = flow.run(executor=isolating())

    assert result.state is RunState.SUCCEEDED
    pids = {result.values[name]["pid"] for name in ("first", "second")}
    assert os.getpid() not in pids
    assert len(pids) == 2
    # Each task saw the global as it was when the run started, not the other's change.
    assert result.values["first"]["seen"] == result.values["second"]["seen"] == 1
    assert counter["value"] == 0


def _crash(kind: str) -> None:
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)
    elif kind == "exit":
        os._exit(3)
    elif kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "exit_in_thread":
        threading.Thread(target=os._exit, args=(4,)).start()
        time.sleep(5)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("segfault", "killed by signal 11 (SIGSEGV)"),
        ("exit", "exited with code 3 without reporting a result"),
        ("sigkill", "killed by signal 9 (SIGKILL)"),
        ("exit_in_thread", "exited with code 4 without reporting a result"),
    ],
)
def test_a_hard_crash_is_a_failure_with_its_cause_and_is_retried(kind, words, tmp_path, isolating):
    flag = tmp_path / "crashed-once"
    flow = Flow("crashes")

    @flow.task(retries=1)
    def fragile():
        if not flag.exists():
            flag.touch()
            _crash(kind)
        return "recovered"

    @flow.task(depends_on=[fragile], run_if="all_done")
    def after():
        pass

    result = flow.run(executor=isolating())

    assert result.tasks["fragile"].state is TaskState.SUCCEEDED
    assert result.tasks["fragile"].attempts == 2
    assert result.state is RunState.SUCCEEDED

    flag.unlink()
    no_retry = Flow("crashes-no-retry")
    no_retry.task(name="fragile")(fragile.fn)
    result = no_retry.run(executor=isolating())
    task = result.tasks["fragile"]
    assert task.state is TaskState.FAILED
    assert task.attempts == 1
    assert words in task.error.message
    assert "fragile" in task.error.message


def _sleeper(marker: str) -> str:
    """A shell command that sleeps with ``marker`` in its command line."""
    return f"{sys.executable} -c 'import time; time.sleep(300)' {marker}"


def _start_grandchildren(marker: str) -> None:
    subprocess.Popen(_sleeper(marker), shell=True)
    # A daemonising grandchild: a new session, and its parent exits at once.
    subprocess.Popen(["setsid", "sh", "-c", f"{_sleeper(marker)} & exit 0"])
    subprocess.Popen(["sh", "-c", f"setsid {_sleeper(marker)}"], start_new_session=True)


def test_a_timeout_kills_the_whole_process_tree_grandchildren_included(marker, isolating):
    flow = Flow("timeouts")

    @flow.task(timeout=1, retries=1, retry_on_timeout=True)
    def hangs():
        _start_grandchildren(marker)
        time.sleep(60)

    @flow.task(timeout=1, retries=2)
    def hangs_no_retry():
        _start_grandchildren(marker)
        time.sleep(60)

    executor = isolating(grace_period=0.5)
    started = time.monotonic()
    result = flow.run(executor=executor)
    elapsed = time.monotonic() - started
    assert processes_with(marker) == []  # gone the moment the run returns

    assert result.tasks["hangs"].state is TaskState.TIMED_OUT
    assert result.tasks["hangs"].attempts == 2  # retry_on_timeout=True
    assert result.tasks["hangs_no_retry"].state is TaskState.TIMED_OUT
    assert result.tasks["hangs_no_retry"].attempts == 1  # timeouts not retried by default
    assert "timed out after 1s" in result.tasks["hangs"].error.message
    assert result.state is RunState.FAILED
    assert elapsed < 30
    assert wait_until_gone(marker) == []


def test_a_task_that_ignores_sigterm_is_killed_after_the_grace_period(marker, isolating):
    flow = Flow("stubborn")

    @flow.task(timeout=0.5)
    def ignores_sigterm():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen(["sh", "-c", f"trap '' TERM; {_sleeper(marker)}"])
        while True:
            time.sleep(0.05)

    result = flow.run(executor=isolating(grace_period=0.3))

    assert result.tasks["ignores_sigterm"].state is TaskState.TIMED_OUT
    assert wait_until_gone(marker) == []


def test_processes_a_task_leaves_running_after_it_returns_are_killed(marker, isolating):
    flow = Flow("leaky")

    @flow.task
    def leaves_a_daemon():
        _start_grandchildren(marker)
        deadline = time.monotonic() + 10
        while len(processes_with(marker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)  # until all three sleepers run, two of them orphaned
        task_values.set("alive_inside", len(processes_with(marker)))

    result = flow.run(executor=isolating())

    assert result.state is RunState.SUCCEEDED
    assert result.values["leaves_a_daemon"]["alive_inside"] >= 3  # sleepers and their shells
    assert processes_with(marker) == []


def test_finally_blocks_run_when_a_timeout_terminates_the_task(tmp_path, isolating):
    cleaned = tmp_path / "cleaned"
    flow = Flow("cleanup")

    @flow.task(timeout=0.5)
    def with_cleanup():
        try:
            time.sleep(60)
        finally:
            cleaned.write_text("yes")

    result = flow.run(executor=isolating(grace_period=5))

    assert result.tasks["with_cleanup"].state is TaskState.TIMED_OUT
    assert cleaned.read_text() == "yes"


class Unpicklable:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return "Unpicklable()"


class UnpicklableError(Exception):
    def __init__(self) -> None:
        super().__init__("the error itself carries a lock")
        self.lock = threading.Lock()


def test_unpicklable_return_value_exception_and_task_value_are_clear_errors(isolating):
    flow = Flow("pickling")

    @flow.task
    def returns_lock():
        return Unpicklable()

    @flow.task
    def raises_unpicklable():
        raise UnpicklableError

    @flow.task
    def sets_lock():
        task_values.set("lock", threading.Lock())

    @flow.task(depends_on=[returns_lock, raises_unpicklable, sets_lock], run_if="all_done")
    def still_runs():
        pass

    result = flow.run(executor=isolating())

    returned = result.tasks["returns_lock"].error
    assert returned.type_name == "PicklingError"
    assert "returns_lock" in returned.message
    assert "Unpicklable()" in returned.message
    assert "cannot be pickled" in returned.message
    raised = result.tasks["raises_unpicklable"].error
    assert raised.type_name == "UnpicklableError"
    assert "carries a lock" in raised.message
    value = result.tasks["sets_lock"].error
    assert value.type_name == "TaskValueError"
    assert "not JSON-serialisable" in value.message
    assert result.tasks["still_runs"].state is TaskState.SUCCEEDED


def test_twenty_megabytes_of_output_neither_deadlock_nor_get_lost(isolating):
    flow = Flow("chatty")
    line = "y" * 99

    @flow.task
    def prints_a_lot():
        for _ in range(200_000):
            print(line)
        print("to stderr", file=sys.stderr)

    lines: list[str] = []

    class Collect(RunListener):
        def task_output(self, event):
            lines.append(event.line)

    result = flow.run(executor=isolating(), listeners=[Collect()])

    assert result.state is RunState.SUCCEEDED
    log = Path(result.tasks["prints_a_lot"].log_path)
    assert log.stat().st_size == 200_000 * 100 + len("to stderr\n")
    assert len(lines) == 200_001
    assert lines[-1] == "to stderr"


def test_output_is_prefixed_with_the_task_and_the_attempt_after_the_first(
    tmp_path, capsys, isolating
):
    flag = tmp_path / "once"
    flow = Flow("prefixes")

    @flow.task(retries=1)
    def talks():
        print("hello")
        if not flag.exists():
            flag.touch()
            raise RuntimeError("first attempt fails")

    flow.run(executor=isolating())

    out = capsys.readouterr().out.splitlines()
    assert "[talks] hello" in out
    assert "[talks#2] hello" in out


def test_max_parallel_bounds_the_attempts_running_at_once(tmp_path):
    flow = Flow("parallel", max_parallel=3)
    log = tmp_path / "events"

    def work():
        with log.open("a") as handle:
            handle.write(f"start {time.monotonic()}\n")
        time.sleep(0.3)
        with log.open("a") as handle:
            handle.write(f"end {time.monotonic()}\n")

    for index in range(7):
        flow.task(name=f"w{index}")(work)

    result = flow.run(executor="local")

    assert result.state is RunState.SUCCEEDED
    rows = [row.split() for row in log.read_text().splitlines()]
    events = sorted((float(stamp), kind) for kind, stamp in rows)
    running = peak = 0
    for _, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 3
    assert flow.run(executor="local", max_parallel=1).state is RunState.SUCCEEDED


def test_local_is_the_default_executor():
    flow = Flow("default")

    @flow.task
    def where():
        task_values.set("pid", os.getpid())

    assert flow.run().values["where"]["pid"] != os.getpid()


def test_print_logging_and_loguru_inside_a_task_all_reach_its_log(isolating):
    import logging

    from loguru import logger

    flow = Flow("loggers")

    @flow.task
    def talks():
        print("from print")
        logging.basicConfig(level=logging.INFO, force=True)
        logging.getLogger("etl").warning("from logging")
        logger.add(sys.stderr, format="{message}")
        logger.info("from loguru")
        sys.stderr.write("from stderr\n")

    result = flow.run(executor=isolating(), echo_output=False)

    text = Path(result.tasks["talks"].log_path).read_text()
    for line in ("from print", "from logging", "from loguru", "from stderr"):
        assert line in text


def test_a_thousand_attempts_run_in_a_thousand_processes():
    # Standby processes are forked ahead of need: none may run a second attempt.
    flow = Flow("thousand", max_parallel=4)
    for index in range(1000):
        flow.task(name=f"t{index}")(os.getpid)

    result = flow.run()

    pids = [result.results[f"t{index}"] for index in range(1000)]
    assert len(set(pids)) == 1000
    assert os.getpid() not in pids


def test_a_run_works_when_its_descriptors_are_numbered_past_1024(tmp_path, monkeypatch):
    # A long-lived process (a test session, a notebook) may hold many files: select()
    # cannot wait on a descriptor past 1024, epoll and poll can.
    import resource

    from flowkit.executors import _forkserver

    wound_down = tmp_path / "wound_down"
    wind_down = _forkserver.ForkServer.wind_down

    def recorded(self, *args, **kwargs):  # in the fork server, at the run's end
        try:
            answer = wind_down(self, *args, **kwargs)
        except BaseException as error:
            wound_down.write_text(type(error).__name__)
            raise
        wound_down.write_text(str(answer))
        return answer

    monkeypatch.setattr(_forkserver.ForkServer, "wind_down", recorded)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        flow = Flow("many_files", max_parallel=2)
        for index in range(4):
            flow.task(name=f"t{index}")(os.getpid)

        result = flow.run()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    assert result.state is RunState.SUCCEEDED
    assert len({result.results[f"t{index}"] for index in range(4)}) == 4
    assert wound_down.read_text() in ("True", "False")  # its processes ended, not an error
