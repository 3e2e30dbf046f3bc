"""What one scheduler step writes: each row once, a success with its values, nothing idle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flowkit import Flow, task_values
from flowkit._errors import StoreError
from flowkit._events import RunStarted, StepEnded, TaskChanged
from flowkit._state import RunState, TaskRun, TaskState
from flowkit._store import MemoryStore, RunRecord, RunStore, SqliteStore, StoreRecorder, TaskRecord
from flowkit._store.liveness import this_host


class SpyStore(MemoryStore):
    """A MemoryStore that notes every write, and which batch (scheduler step) made it."""

    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.writes: list[tuple[int, str, str, Any]] = []

    def batch(self) -> Any:
        self.step += 1
        return super().batch()

    def record_task(self, task: TaskRecord, *, values: Any = None) -> None:
        self.writes.append((self.step, "task", task.task_key, values))
        super().record_task(task, values=values)

    def set_task_values(self, run_id: str, task_key: str, values: Any) -> None:
        self.writes.append((self.step, "values", task_key, values))
        super().set_task_values(run_id, task_key, values)


def _chain(name: str, length: int, *, with_values: bool) -> Flow:
    flow = Flow(name)
    previous = None
    for index in range(length):

        def body(index: int = index) -> None:
            if with_values:
                task_values.set("index", index)

        previous = flow.task(name=f"t{index}", depends_on=[previous] if previous else [])(body)
    return flow


def test_record_task_writes_the_values_given_with_it_and_keeps_them_otherwise(
    store: RunStore,
) -> None:
    store.create_run(
        RunRecord(run_id="run-1", flow_name="f", pid=os.getpid(), hostname=this_host()),
        task_keys=["a"],
    )
    done = TaskRecord(run_id="run-1", task_key="a", state=TaskState.SUCCEEDED, attempts=1)
    store.record_task(done, values={"rows": 3, "tables": ("x", "y")})
    assert store.get_values("run-1") == {"a": {"rows": 3, "tables": ["x", "y"]}}
    store.record_task(done)  # no values given: the stored ones stay
    assert store.get_values("run-1") == {"a": {"rows": 3, "tables": ["x", "y"]}}
    with pytest.raises(StoreError, match="task values of 'a' in run run-1"):
        store.record_task(done, values={"when": {1, 2}})
    assert store.get_values("run-1") == {"a": {"rows": 3, "tables": ["x", "y"]}}
    store.record_task(done, values={})
    assert store.get_values("run-1") == {}
    assert store.get_tasks("run-1")["a"].state is TaskState.SUCCEEDED


def test_a_success_and_its_values_are_one_write_and_no_step_writes_a_row_twice() -> None:
    store = SpyStore()
    result = _chain("valued", 4, with_values=True).run(
        executor="inline", listeners=[StoreRecorder(store)]
    )
    assert result.state is RunState.SUCCEEDED
    assert not [write for write in store.writes if write[1] == "values"]
    successes = {key: values for _, kind, key, values in store.writes if values is not None}
    assert successes == {f"t{index}": {"index": index} for index in range(4)}
    assert store.get_values(result.run_id) == successes
    per_step = [(step, key) for step, kind, key, _ in store.writes if kind == "task"]
    assert len(per_step) == len(set(per_step))  # queued then running in one step: one write


def test_a_task_that_sets_no_values_writes_none_in_a_new_run() -> None:
    store = SpyStore()
    result = _chain("plain", 3, with_values=False).run(
        executor="inline", listeners=[StoreRecorder(store)]
    )
    assert result.state is RunState.SUCCEEDED
    assert [write for write in store.writes if write[3] is not None or write[1] == "values"] == []
    assert store.get_values(result.run_id) == {}


def _changed(state: TaskState, *, values: dict[str, Any] | None = None) -> TaskChanged:
    """Task ``a`` of run ``run-1`` moved to ``state`` in its first attempt of this pass."""
    attempts = 0 if state is TaskState.QUEUED else 1
    task = TaskRun(
        name="a", state=state, attempts=attempts, started_at=1000.0 if attempts else None
    )
    return TaskChanged(run_id="run-1", task=task, at=1000.0, values=values)


@pytest.mark.parametrize("new_values", [{"pass": 1}, {}])
def test_a_repair_that_reruns_a_task_in_one_step_keeps_only_the_new_values(
    store: RunStore, dead_pid: int, new_values: dict[str, Any]
) -> None:
    store.create_run(
        RunRecord(
            run_id="run-1", flow_name="f", state=RunState.FAILED, pid=dead_pid, hostname=this_host()
        ),
        task_keys=["a"],
    )
    store.set_task_values("run-1", "a", {"pass": 0})
    recorder = StoreRecorder(store)
    recorder.run_started(
        RunStarted(
            run_id="run-1",
            flow_name="f",
            params={},
            started_at=1000.0,
            tasks={"a": TaskRun(name="a")},
            executor_name="test",
            max_parallel=1,
            repair_count=1,
        )
    )
    # Queued, started (which drops the earlier pass's values) and done: one step.
    recorder.task_changed(_changed(TaskState.QUEUED))
    recorder.task_changed(_changed(TaskState.RUNNING))
    recorder.task_changed(_changed(TaskState.SUCCEEDED, values=new_values))
    recorder.flush(StepEnded(run_id="run-1"))
    assert store.get_values("run-1") == ({"a": new_values} if new_values else {})
    assert store.get_tasks("run-1")["a"].state is TaskState.SUCCEEDED
    assert store.get_run("run-1").repair_count == 1  # type: ignore[union-attr]


def test_a_run_whose_creation_was_rolled_back_is_not_taken_as_recorded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "flowkit.db")
    record = RunRecord(run_id="gone", flow_name="f", pid=os.getpid(), hostname=this_host())

    def step_that_fails() -> None:
        with store.batch():
            store.create_run(record, task_keys=["a"])
            store.record_task(TaskRecord(run_id="gone", task_key="a", state=TaskState.QUEUED))
            raise RuntimeError("the step fails before it commits")

    with pytest.raises(RuntimeError, match="before it commits"):
        step_that_fails()
    assert store.get_run("gone") is None
    with pytest.raises(StoreError, match="no run 'gone'"):
        store.record_task(TaskRecord(run_id="gone", task_key="a", state=TaskState.QUEUED))
    store.create_run(record, task_keys=["a"])  # and it can be recorded after all
    store.record_task(TaskRecord(run_id="gone", task_key="a", state=TaskState.QUEUED))
    assert store.get_tasks("gone")["a"].state is TaskState.QUEUED
    store.close()
