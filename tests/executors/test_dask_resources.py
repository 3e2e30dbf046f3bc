"""Tasks' memory, cpus and pool on dask: worker resources, and the memory limit on the worker."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from daskcluster import DaskCluster
from memorylimits import assert_killed_for_memory

from flowkit import Flow, RunState, TaskState
from flowkit.executors import _machine as machine
from flowkit.executors.dask import DaskExecutor
from flowkit.executors.dask._cluster import machine_resources, task_resources
from flowkit.executors.dask._zygote import STANDBY_NAME


def _worker_pid() -> int:
    """From inside an attempt: the dask worker process that runs it (its zygote's parent)."""
    stat = Path(f"/proc/{os.getppid()}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _worker_pids(cluster: DaskCluster, index: int) -> set[int]:
    """The processes of the cluster's ``index``-th worker: its nanny and what is below."""
    from flowkit.executors import _processes as procs

    nanny = cluster.processes[1 + index].pid  # the scheduler is the first
    return {nanny, *procs.descendants(nanny)}


@pytest.fixture(scope="module")
def resourced_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A scheduler, one worker that declares pool-x and memory, and one that declares none."""
    cluster = DaskCluster(
        tmp_path_factory.mktemp("resourced"), workers=2, resources=["pool-x=1,memory=2e9"]
    )
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_a_task_with_resources_runs_only_on_a_worker_that_declares_them(resourced_cluster):
    flow = Flow("resourced", pools={"x": 2}, max_parallel=4, timeout=120)
    for index in range(4):
        flow.task(name=f"pooled{index}", pool="x")(_worker_pid)
        flow.task(name=f"sized{index}", memory="1GiB")(_worker_pid)
        flow.task(name=f"free{index}")(_slow_worker_pid)

    result = flow.run(executor=DaskExecutor(address=resourced_cluster.address))

    assert result.state is RunState.SUCCEEDED
    declaring = _worker_pids(resourced_cluster, 0)
    other = _worker_pids(resourced_cluster, 1)
    for index in range(4):
        assert result.results[f"pooled{index}"] in declaring
        assert result.results[f"sized{index}"] in declaring
    # Tasks that declare nothing go to either worker: the other one was there to take them.
    assert {result.results[f"free{index}"] for index in range(4)} & other


def _stamped(path: Path):
    def stamped() -> None:
        path.with_suffix(".start").write_text(str(time.time()))
        time.sleep(0.4)
        path.with_suffix(".end").write_text(str(time.time()))

    return stamped


def _slow_worker_pid() -> int:
    time.sleep(0.5)  # so that the free tasks spread over both workers
    return _worker_pid()


def test_a_pool_resource_runs_one_task_at_a_time_on_a_worker_that_declares_one(
    resourced_cluster, tmp_path
):
    flow = Flow("pooled", pools={"x": 3}, max_parallel=4, timeout=120)
    for index in range(3):
        flow.task(name=f"pooled{index}", pool="x")(_stamped(tmp_path / str(index)))

    result = flow.run(executor=DaskExecutor(address=resourced_cluster.address))

    assert result.state is RunState.SUCCEEDED
    spans = sorted(
        (float((tmp_path / f"{index}.start").read_text()),
         float((tmp_path / f"{index}.end").read_text()))
        for index in range(3)
    )  # fmt: skip
    # The run allows 3 at once; the only worker with pool-x=1 runs them one after another.
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_a_task_without_a_worker_to_run_it_waits_and_the_run_says_so(resourced_cluster):
    flow = Flow("unrunnable", timeout=3)

    @flow.task(cpus=64)
    def big():
        return "never"

    with pytest.warns(RuntimeWarning, match=r"task 'big'.*cpus=64.*no worker"):
        result = flow.run(executor=DaskExecutor(address=resourced_cluster.address))

    assert result.state is RunState.TIMED_OUT
    assert result.tasks["big"].state is not TaskState.SUCCEEDED


def test_a_flow_with_memory_cpus_and_a_pool_runs_unchanged_on_the_ephemeral_cluster():
    flow = Flow("sized", pools={"warehouse": 1}, timeout=120)

    @flow.task(memory="1GiB", cpus=1)
    def sized():
        return "ran"

    @flow.task(pool="warehouse", depends_on=[sized])
    def pooled(sized):
        return f"{sized} and pooled"

    result = flow.run(executor=DaskExecutor(workers=1))

    assert result.state is RunState.SUCCEEDED
    assert result.results["pooled"] == "ran and pooled"


def test_resources_are_sent_only_for_tasks_that_declare_them():
    flow = Flow("some", pools={"warehouse": 2})

    @flow.task(memory="2GiB", cpus=0.5, pool="warehouse")
    def declares():
        pass

    @flow.task
    def plain():
        pass

    assert task_resources(flow.plan()) == {
        "declares": {"memory": 2 * 1024**3, "cpus": 0.5, "pool-warehouse": 1}
    }
    each_worker = machine_resources({"warehouse": 2})
    memory = machine.memory()
    assert each_worker["cpus"] == machine.cpus()
    assert each_worker["pool-warehouse"] == 2
    assert memory is None or each_worker["memory"] == memory.total


# -- the memory limit, on the worker (one that declares memory: the task goes there) --------
def test_a_task_over_its_memory_on_dask_fails_memory_limit_exceeded_and_is_retried(
    resourced_cluster, tmp_path
):
    flow = Flow("hungry", max_parallel=2, timeout=120)
    started = tmp_path / "neighbour-started"

    @flow.task(memory="256MiB", retries=1)
    def hungry():
        while not started.exists():
            time.sleep(0.01)
        (tmp_path / f"hungry.{os.getpid()}").write_text(str(time.time()))
        data = b"x" * 600_000_000  # bytes of b"x" are written: every page is resident
        time.sleep(30)
        return len(data)

    @flow.task
    def neighbour():
        started.touch()
        time.sleep(1.5)
        return time.time()

    result = flow.run(executor=DaskExecutor(address=resourced_cluster.address))

    task = result.tasks["hungry"]
    assert_killed_for_memory(task, limit_mib=256, attempts=2)
    # Its neighbour, started beside it, ran to its end after the first attempt began.
    assert result.tasks["neighbour"].state is TaskState.SUCCEEDED
    first = min(float(path.read_text()) for path in tmp_path.glob("hungry.*"))
    assert result.results["neighbour"] > first
    assert len(list(tmp_path.glob("hungry.*"))) == 2
    assert result.state is RunState.FAILED


def test_a_task_within_its_memory_on_dask_succeeds(resourced_cluster):
    flow = Flow("modest", timeout=120)

    @flow.task(memory="1GiB")
    def modest():
        data = b"x" * 50_000_000
        time.sleep(0.3)  # sampled at least twice
        return len(data)

    result = flow.run(executor=DaskExecutor(address=resourced_cluster.address))

    assert result.tasks["modest"].state is TaskState.SUCCEEDED
    assert result.results["modest"] == 50_000_000


def test_standby_processes_wait_as_such_and_attempts_are_not_them(dask_cluster):
    flow = Flow("names")

    @flow.task
    def name():
        return Path("/proc/self/comm").read_text().strip()

    result = flow.run(executor=DaskExecutor(address=dask_cluster.address))

    assert result.results["name"] != STANDBY_NAME
