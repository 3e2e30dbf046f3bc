"""Kept tasks (the seam of repair runs) and listener ticks."""

from __future__ import annotations

import time

import attrs

from flowkit import FakeClock, Flow, RunListener, RunState, TaskRun, TaskState, task_values
from flowkit._state import KeptTask


def _lakehouse(calls: list[str], *, train_fails: bool) -> Flow:
    flow = Flow("kept")

    @flow.task
    def ingest():
        calls.append("ingest")
        task_values.set("rows", 7)
        return "ingested"

    @flow.task(depends_on=[ingest])
    def train():
        calls.append("train")
        if train_fails:
            raise RuntimeError("train broke")
        task_values.set("rows_seen", task_values.get(task_key="ingest", key="rows"))

    @flow.task(depends_on=[train])
    def publish():
        calls.append("publish")

    return flow


def test_kept_tasks_do_not_run_and_their_values_reach_the_tasks_that_do():
    first_calls: list[str] = []
    first = _lakehouse(first_calls, train_fails=True).run(executor="inline")
    assert first.state is RunState.FAILED
    assert first.tasks["publish"].state is TaskState.UPSTREAM_FAILED

    calls: list[str] = []
    kept = {"ingest": KeptTask(task=first.tasks["ingest"], values=first.values["ingest"])}
    repaired = _lakehouse(calls, train_fails=False).run(
        executor="inline", kept=kept, run_id=first.run_id
    )

    assert calls == ["train", "publish"]
    assert repaired.run_id == first.run_id
    assert repaired.state is RunState.SUCCEEDED
    assert repaired.tasks["ingest"].attempts == 1
    assert repaired.values["train"] == {"rows_seen": 7}
    assert repaired.values["ingest"] == {"rows": 7}


def test_a_kept_failure_is_judged_by_run_if_downstream():
    calls: list[str] = []
    failed = TaskRun(name="train", state=TaskState.FAILED, attempts=1)
    succeeded = TaskRun(name="ingest", state=TaskState.SUCCEEDED, attempts=1)

    result = _lakehouse(calls, train_fails=False).run(
        executor="inline", kept={"ingest": KeptTask(succeeded), "train": KeptTask(failed)}
    )

    assert calls == []
    assert result.tasks["publish"].state is TaskState.UPSTREAM_FAILED
    assert result.state is RunState.FAILED


class Ticks(RunListener):
    tick_interval = 0.05

    def __init__(self) -> None:
        self.ticks = 0

    def tick(self, event):
        self.ticks += 1


def test_listeners_tick_in_real_time_while_a_task_runs():
    flow = Flow("ticking")

    @flow.task
    def slow():
        time.sleep(0.5)

    ticks = Ticks()
    result = flow.run(executor="local", listeners=[ticks], store=False)

    assert result.tasks["slow"].state is TaskState.SUCCEEDED
    assert ticks.ticks >= 3  # about ten; a loaded machine may give fewer


def test_a_fake_clock_sleep_is_not_cut_short_by_ticks():
    flow = Flow("ticking-fake")
    attempts: list[int] = []

    @flow.task(retries=1, retry_delay=25)
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    clock = FakeClock()
    result = flow.run(executor="inline", clock=clock, listeners=[Ticks()])

    assert result.tasks["flaky"].state is TaskState.SUCCEEDED
    assert clock.sleeps == [25.0]


def test_a_task_run_copy_has_every_field_and_is_its_own() -> None:
    from flowkit._state import ErrorInfo

    values = {
        "name": "t",
        "state": TaskState.FAILED,
        "attempts": 3,
        "error": ErrorInfo(type_name="ValueError", message="no"),
        "started_at": 1.0,
        "ended_at": 2.0,
        "log_path": "/x.log",
        "exit_code": 1,
        "signal": 9,
        "compute_seconds": 0.5,
        "waiting_for": "pool 'p' is full (1 of 1 running)",
    }
    assert set(values) == {field.name for field in attrs.fields(TaskRun)}  # a new field: add it
    task = TaskRun(**values)
    copied = task.copy()
    assert copied is not task
    assert attrs.asdict(copied, recurse=False) == values
    copied.state = TaskState.SUCCEEDED
    assert task.state is TaskState.FAILED
