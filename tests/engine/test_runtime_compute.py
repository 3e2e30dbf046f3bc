"""Compute seconds: each attempt measured on the run's clock, summed per task and per run.

Tasks move a ``FakeClock`` themselves (the inline executor runs them in this
process), so every figure is exact: an attempt's seconds are the clock's moves
between its start and its end, never a wait between retries.
"""

from __future__ import annotations

from typing import Any

import pytest
from strategies import ClusterExecutor, EventRecorder, HangingExecutor, metered_flow

from flowkit import FakeClock, Flow, RunState, TaskState
from flowkit._state import ClusterReport
from flowkit._store import MemoryStore
from flowkit._store.base import compute_by_task

REPORT = ClusterReport(
    address="ephemeral", ephemeral=True, workers=2, startup_seconds=1.25, lifetime_seconds=8.5
)


class SlowToKillExecutor(HangingExecutor):
    """A hanging executor whose kill takes ``grace`` seconds, as SIGTERM then SIGKILL does."""

    def __init__(self, clock: FakeClock, hang: set[str], grace: float) -> None:
        super().__init__(clock, hang)
        self.grace = grace

    def kill(self, task_key: str) -> bool:
        stopping = super().kill(task_key)
        self._clock.advance(self.grace)
        return stopping


def test_compute_sums_the_attempts_and_not_the_waits_between_retries(clock: FakeClock) -> None:
    result = metered_flow(clock).run(executor="inline", clock=clock, store=False)

    flaky = result.tasks["flaky"]
    assert flaky.attempts == 3
    assert flaky.compute_seconds == 9.0
    assert flaky.duration == 29.0  # the two 10s waits are in its duration, not its compute
    assert result.tasks["steady"].compute_seconds == 2.0
    assert result.compute_seconds == 11.0


def test_a_task_that_never_ran_has_no_compute(clock: FakeClock) -> None:
    flow = Flow("skipped")

    @flow.task
    def fails() -> None:
        clock.advance(4)
        raise RuntimeError("bad")

    @flow.task(depends_on=[fails])
    def after() -> None: ...

    result = flow.run(executor="inline", clock=clock, store=False)
    assert result.tasks["after"].state is TaskState.UPSTREAM_FAILED
    assert result.tasks["after"].compute_seconds == 0.0
    assert result.compute_seconds == 4.0


def test_a_timed_out_attempt_counts_until_it_is_killed(clock: FakeClock) -> None:
    flow = Flow("timeouts")

    @flow.task(timeout=30, retries=1, retry_delay=5, retry_on_timeout=True)
    def hangs() -> None: ...

    executor = SlowToKillExecutor(clock, hang={"hangs"}, grace=2)
    result = flow.run(executor=executor, clock=clock, store=False)

    task = result.tasks["hangs"]
    assert task.state is TaskState.TIMED_OUT
    assert task.attempts == 2
    # Each attempt: 30s to its deadline, then 2s until the kill had stopped it.
    assert task.compute_seconds == 64.0
    assert result.compute_seconds == 64.0


def test_an_attempt_cancelled_by_ctrl_c_counts_until_it_stopped(clock: FakeClock) -> None:
    flow = Flow("interrupted")

    @flow.task
    def interrupted() -> None:
        clock.advance(4)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as raised:
        flow.run(executor="inline", clock=clock, store=False)
    result = raised.value.result
    assert result.state is RunState.CANCELLED
    assert result.tasks["interrupted"].compute_seconds == 4.0


def test_the_store_records_each_attempt_as_long_as_the_scheduler_measured_it(
    clock: FakeClock,
) -> None:
    store = MemoryStore()
    flow = metered_flow(clock)
    recorder = EventRecorder()

    result = flow.run(executor="inline", clock=clock, store=store, listeners=[recorder])

    attempts = store.get_attempts(result.run_id)
    assert [(a.task_key, a.attempt, a.duration) for a in attempts] == [
        ("flaky", 1, 3.0),
        ("flaky", 2, 3.0),
        ("flaky", 3, 3.0),
        ("steady", 1, 2.0),
    ]
    measured = {name: task.compute_seconds for name, task in result.tasks.items()}
    assert compute_by_task(attempts) == measured


class TickingClock(FakeClock):
    """Moves at every reading, a little more each time, as a real clock does between readings."""

    def __init__(self) -> None:
        super().__init__()
        self.readings = 0

    def time(self) -> float:
        self.readings += 1
        self.advance(0.001 * self.readings)
        return super().time()


def test_the_store_agrees_when_every_reading_of_the_clock_differs() -> None:
    clock = TickingClock()
    flow = metered_flow(clock)
    store = MemoryStore()

    result = flow.run(executor="inline", clock=clock, store=store)

    attempts = store.get_attempts(result.run_id)
    # The recorder read the clock at other moments than the scheduler did ...
    assert all(attempt.duration != 3.0 for attempt in attempts if attempt.task_key == "flaky")
    # ... yet stores each attempt as long as the scheduler measured it.
    stored = compute_by_task(attempts)
    for name, task in result.tasks.items():
        assert stored[name] == pytest.approx(task.compute_seconds, abs=1e-6)
    assert result.tasks["flaky"].compute_seconds > 9.0


def test_kept_tasks_of_a_repair_keep_the_compute_of_their_attempts(clock: FakeClock) -> None:
    store = MemoryStore()
    broken = {"transform": True}
    flow = Flow("repairable")

    @flow.task
    def ingest() -> None:
        clock.advance(5)

    @flow.task(depends_on=[ingest])
    def transform() -> None:
        clock.advance(1.5)
        if broken["transform"]:
            raise RuntimeError("source is broken")

    first = flow.run(executor="inline", clock=clock, store=store)
    assert first.state is RunState.FAILED
    assert first.compute_seconds == 6.5

    broken["transform"] = False
    repaired = flow.repair(first.run_id, executor="inline", clock=clock, store=store)

    assert repaired.state is RunState.SUCCEEDED
    assert repaired.tasks["ingest"].attempts == 1
    assert repaired.tasks["ingest"].compute_seconds == 5.0  # kept: its stored attempt
    assert repaired.tasks["transform"].compute_seconds == 1.5  # this pass's attempt
    assert repaired.compute_seconds == 6.5
    # The store has every attempt of every pass: the earlier failed one too.
    assert compute_by_task(store.get_attempts(first.run_id)) == {
        "ingest": 5.0,
        "transform": 3.0,
    }


def test_the_executors_cluster_reaches_the_result_the_listeners_and_the_store(
    clock: FakeClock,
) -> None:
    flow = Flow("clustered")

    @flow.task
    def only() -> None:
        clock.advance(1)

    store = MemoryStore()
    recorder = EventRecorder()
    result = flow.run(
        executor=ClusterExecutor(REPORT), clock=clock, store=store, listeners=[recorder]
    )

    assert result.cluster == REPORT
    assert [finished.cluster for finished in recorder.finished] == [REPORT]
    record = store.get_run(result.run_id)
    assert record is not None
    assert record.cluster == REPORT
    assert record.executor == "clustered"


def test_a_run_without_a_cluster_reports_none(clock: FakeClock) -> None:
    flow = Flow("plain")

    @flow.task
    def only() -> None: ...

    store = MemoryStore()
    result = flow.run(executor="inline", clock=clock, store=store)
    assert result.cluster is None
    record = store.get_run(result.run_id)
    assert record is not None
    assert (record.executor, record.cluster) == ("inline", None)


def test_a_repair_records_its_own_executor_and_cluster(clock: FakeClock) -> None:
    store = MemoryStore()
    broken = {"on": True}
    flow = Flow("repairable")

    @flow.task
    def only() -> Any:
        if broken["on"]:
            raise RuntimeError("broken")

    first = flow.run(executor=ClusterExecutor(REPORT), clock=clock, store=store)
    stored = store.get_run(first.run_id)
    assert stored is not None
    assert stored.cluster == REPORT

    broken["on"] = False
    flow.repair(first.run_id, executor="inline", clock=clock, store=store)
    repaired = store.get_run(first.run_id)
    assert repaired is not None
    # The run's executor and cluster are its latest pass's: this one held no cluster.
    assert (repaired.executor, repaired.cluster) == ("inline", None)
