"""StoreRecorder: real runs written into a store as they happen, and read back."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flowkit import ErrorInfo, FakeClock, Flow, RunListener, RunState, TaskState, task_values
from flowkit._errors import StoreError
from flowkit._store import MemoryStore, RunRecord, RunStore, StoreRecorder
from flowkit._store.liveness import this_host
from flowkit.executors._base import failed_outcome


def test_the_recorder_implements_every_run_listener_hook() -> None:
    hooks = {
        name: inspect.signature(member)
        for name, member in vars(RunListener).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }
    assert {"run_started", "task_changed", "task_output", "run_finished"} <= set(hooks)
    for name, signature in hooks.items():
        assert inspect.signature(getattr(StoreRecorder, name)) == signature, name


def test_the_recorder_asks_for_a_tick_every_heartbeat_interval() -> None:
    assert StoreRecorder(MemoryStore(), heartbeat_interval=7).tick_interval == 7
    assert StoreRecorder(MemoryStore(), heartbeat_interval=0).tick_interval is None


def _lakehouse(calls: dict[str, int]) -> Flow:
    flow = Flow("lakehouse", params={"date": "2026-11-23"})

    @flow.task
    def ingest() -> None:
        task_values.set("row_count", 14520)

    @flow.task(depends_on=[ingest], retries=1, retry_delay=30)
    def clean() -> None:
        calls["clean"] = calls.get("clean", 0) + 1
        if calls["clean"] == 1:
            raise RuntimeError("flaky source")
        task_values.set("kept", 14000)

    @flow.task(depends_on=[clean])
    def metrics() -> None:
        raise ValueError("bad metric")

    @flow.task(depends_on=[metrics])
    def report() -> None: ...

    @flow.task(depends_on=[metrics, report], run_if="at_least_one_failed")
    def alert() -> None: ...

    return flow


def test_an_inline_run_is_recorded_with_tasks_attempts_and_values(store: RunStore) -> None:
    clock = FakeClock()
    result = _lakehouse({}).run(
        params={"date": "2026-12-01"},
        executor="inline",
        clock=clock,
        listeners=[StoreRecorder(store)],
    )
    run = store.get_run(result.run_id)
    assert run is not None
    assert (run.flow_name, run.state) == ("lakehouse", RunState.SUCCEEDED_WITH_FAILURES)
    assert (run.started_at, run.ended_at) == (result.started_at, result.ended_at)
    assert (run.params, run.pid, run.repair_count) == ({"date": "2026-12-01"}, os.getpid(), 0)

    tasks = store.get_tasks(result.run_id)
    assert list(tasks) == list(result.tasks)
    for name, task in result.tasks.items():
        stored = tasks[name]
        assert (stored.state, stored.attempts) == (task.state, task.attempts), name
        assert (stored.started_at, stored.ended_at) == (task.started_at, task.ended_at), name
    assert tasks["metrics"].error is not None
    assert tasks["metrics"].error.summary == "ValueError: bad metric"
    assert tasks["clean"].error is None  # its last attempt succeeded
    assert tasks["report"].state is TaskState.UPSTREAM_FAILED

    assert store.get_values(result.run_id) == {
        "ingest": {"row_count": 14520},
        "clean": {"kept": 14000},
    }
    attempts = [(a.task_key, a.attempt, a.state) for a in store.get_attempts(result.run_id)]
    assert attempts == [
        ("ingest", 1, TaskState.SUCCEEDED),
        ("clean", 1, TaskState.FAILED),
        ("clean", 2, TaskState.SUCCEEDED),
        ("metrics", 1, TaskState.FAILED),
        ("alert", 1, TaskState.SUCCEEDED),
    ]
    first, second = store.get_attempts(result.run_id, "clean")
    assert first.error is not None
    assert first.error.summary == "RuntimeError: flaky source"
    assert "Traceback" in first.error.traceback
    assert second.error is None
    assert second.started_at - first.ended_at == pytest.approx(30)  # the retry delay
    assert {a.repair for a in store.get_attempts(result.run_id)} == {0}


def test_a_local_run_records_each_attempts_log_file(store: RunStore, tmp_path: Path) -> None:
    flow = Flow("noisy")
    marker = tmp_path / "attempted"

    @flow.task(retries=1)
    def talk() -> None:
        first = not marker.exists()
        marker.write_text("x")
        print(f"hello from attempt {1 if first else 2}")
        if first:
            raise RuntimeError("first attempt fails")

    result = flow.run(executor="local", listeners=[StoreRecorder(store)])
    assert result.state is RunState.SUCCEEDED
    attempts = store.get_attempts(result.run_id, "talk")
    assert [(a.attempt, a.state) for a in attempts] == [
        (1, TaskState.FAILED),
        (2, TaskState.SUCCEEDED),
    ]
    paths = [a.log_path for a in attempts]
    assert paths[0] != paths[1]
    for number, path in enumerate(paths, start=1):
        assert path is not None
        assert f"hello from attempt {number}" in Path(path).read_text()


class HangingExecutor:
    """Attempts that never end on their own: only the scheduler's timeout stops them."""

    name = "hanging"
    can_preempt = True
    runs_attempts_here = True
    capacity = None

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.killed: list[str] = []
        self._attempts: dict[str, int] = {}
        self._stopped: list[object] = []

    def start(self, plan: object, clock: object, **options: object) -> None:
        """Nothing to set up."""

    def submit(self, request: Any) -> None:
        """The attempt starts, and hangs."""
        self._attempts[request.task_key] = request.attempt

    def wait(self, timeout: float | None) -> list[object]:
        if self._stopped:  # a killed attempt is reported by the next wait
            stopped, self._stopped = self._stopped, []
            return stopped
        self.clock.advance(timeout or 0.0)  # as if it blocked that long
        return []

    def kill(self, task_key: str) -> bool:
        self.killed.append(task_key)
        error = ErrorInfo(type_name="Stopped", message="stopped")
        self._stopped.append(failed_outcome(task_key, self._attempts[task_key], error))
        return True

    def shutdown(self) -> None:
        """Nothing to tear down."""


def test_a_timed_out_attempt_is_recorded_timed_out(store: RunStore) -> None:
    flow = Flow("slow")

    @flow.task(timeout=60, retries=1, retry_on_timeout=True)
    def stuck() -> None: ...

    clock = FakeClock()
    executor = HangingExecutor(clock)
    result = flow.run(executor=executor, clock=clock, listeners=[StoreRecorder(store)])
    assert executor.killed == ["stuck", "stuck"]
    assert result.tasks["stuck"].state is TaskState.TIMED_OUT
    attempts = store.get_attempts(result.run_id, "stuck")
    assert [a.state for a in attempts] == [TaskState.TIMED_OUT, TaskState.TIMED_OUT]
    assert [a.ended_at - a.started_at for a in attempts] == [60, 60]  # type: ignore[operator]
    assert store.get_tasks(result.run_id)["stuck"].state is TaskState.TIMED_OUT


class CountingStore(MemoryStore):
    """A MemoryStore that counts heartbeats."""

    def __init__(self) -> None:
        super().__init__()
        self.heartbeats = 0

    def heartbeat(self, run_id: str, *, at: float | None = None) -> None:
        self.heartbeats += 1
        super().heartbeat(run_id, at=at)


def _three_tasks() -> Flow:
    flow = Flow("three")

    @flow.task
    def a() -> None: ...

    @flow.task(depends_on=[a])
    def b() -> None: ...

    @flow.task(depends_on=[b])
    def c() -> None: ...

    return flow


def test_heartbeats_are_written_at_most_every_interval() -> None:
    quiet = CountingStore()
    _three_tasks().run(executor="inline", listeners=[StoreRecorder(quiet, heartbeat_interval=3600)])
    assert quiet.heartbeats == 0  # the run's creation stamped one; none was due since
    eager = CountingStore()
    _three_tasks().run(executor="inline", listeners=[StoreRecorder(eager, heartbeat_interval=0)])
    assert eager.heartbeats == 9  # queued, running, succeeded for each of three tasks


def test_a_forced_heartbeat_is_written_at_once() -> None:
    store = CountingStore()

    class Beat(StoreRecorder):
        def task_changed(self, event) -> None:  # type: ignore[no-untyped-def]
            super().task_changed(event)
            self.heartbeat(event.run_id, force=True)

    _three_tasks().run(executor="inline", listeners=[Beat(store, heartbeat_interval=3600)])
    assert store.heartbeats == 9


def test_ticks_keep_the_heartbeat_going_while_every_task_is_quiet() -> None:
    store = CountingStore()
    flow = Flow("waits")

    @flow.task
    def quiet() -> None:
        time.sleep(0.6)  # no state change, no output: only ticks can beat

    recorder = StoreRecorder(store, heartbeat_interval=0.05)
    flow.run(executor="local", listeners=[recorder], store=False)

    beats_at_start_and_end = 2
    assert store.heartbeats >= beats_at_start_and_end + 3


def test_a_second_run_with_the_same_id_takes_the_run_over_as_a_repair(store: RunStore) -> None:
    first = Flow("growing")

    @first.task
    def a() -> None:
        raise RuntimeError("broken")

    result = first.run(executor="inline", listeners=[StoreRecorder(store)])
    assert store.get_run(result.run_id).state is RunState.FAILED  # type: ignore[union-attr]

    fixed = Flow("growing")

    @fixed.task(name="a")
    def a_fixed() -> None: ...

    @fixed.task(depends_on=["a"])
    def b() -> None: ...

    again = fixed.run(executor="inline", listeners=[StoreRecorder(store)], run_id=result.run_id)
    run = store.get_run(result.run_id)
    assert run is not None
    assert (run.state, run.repair_count) == (RunState.SUCCEEDED, 1)
    assert again.run_id == result.run_id
    tasks = store.get_tasks(result.run_id)
    assert {name: task.state for name, task in tasks.items()} == {
        "a": TaskState.SUCCEEDED,
        "b": TaskState.SUCCEEDED,
    }
    assert {a.repair for a in store.get_attempts(result.run_id, "b")} == {1}


def test_a_repair_pass_keeps_earlier_attempts_and_drops_values_it_reruns(
    store: RunStore,
) -> None:
    before = Flow("reruns")

    @before.task(name="t")
    def sets_values() -> None:
        task_values.set("pass", 0)

    first = before.run(executor="inline", listeners=[StoreRecorder(store)])
    assert store.get_values(first.run_id) == {"t": {"pass": 0}}

    after = Flow("reruns")

    @after.task(name="t")
    def breaks() -> None:
        raise RuntimeError("broken now")

    after.run(executor="inline", listeners=[StoreRecorder(store)], run_id=first.run_id)
    attempts = store.get_attempts(first.run_id, "t")
    assert [(a.repair, a.attempt, a.state) for a in attempts] == [
        (0, 1, TaskState.SUCCEEDED),
        (1, 1, TaskState.FAILED),
    ]
    assert store.get_values(first.run_id) == {}  # no value of a pass that failed survives
    assert store.get_run(first.run_id).state is RunState.FAILED  # type: ignore[union-attr]


def test_a_run_whose_orchestrator_is_alive_is_not_taken_over(store: RunStore) -> None:
    calls: list[str] = []
    flow = Flow("busy")

    @flow.task
    def a() -> None:
        calls.append("a")

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.create_run(
            RunRecord(
                run_id="taken",
                flow_name="busy",
                started_at=time.time(),
                pid=other.pid,
                hostname=this_host(),
            )
        )
        with pytest.raises(StoreError, match=f"still running.*pid {other.pid}"):
            flow.run(executor="inline", listeners=[StoreRecorder(store)], run_id="taken")
    finally:
        other.kill()
        other.wait()
    assert calls == []
