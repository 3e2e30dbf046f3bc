"""max_concurrent_runs: a run takes a slot of its flow in the store, queues, or is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowkit import FakeClock, Flow, RunState
from flowkit._engine.admission import QUEUE_POLL_INTERVAL, resource_of
from flowkit._errors import RunInterrupted
from flowkit._store import MemoryStore, SqliteStore, open_store
from flowkit._store.base import Admission
from flowkit._store.liveness import this_host


def _flow(name: str = "limited", **options) -> tuple[Flow, list[str]]:
    ran: list[str] = []
    flow = Flow(name, **options)

    @flow.task
    def work():
        ran.append("work")

    return flow, ran


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path: Path):
    if request.param == "memory":
        return MemoryStore()
    return SqliteStore(tmp_path / "home" / "flowkit.db")


# -- the store's slots ------------------------------------------------------------------------


def test_slots_are_held_up_to_the_limit_then_queued_first_come_first_served(store):
    flow = resource_of("f")
    pid = os.getpid()
    assert store.acquire_slot(flow, "a", limit=2, queue=True, pid=pid) is Admission.HELD
    assert store.acquire_slot(flow, "b", limit=2, queue=True, pid=pid) is Admission.HELD
    assert store.acquire_slot(flow, "c", limit=2, queue=True, pid=pid) is Admission.WAITING
    assert store.acquire_slot(flow, "d", limit=2, queue=True, pid=pid) is Admission.WAITING
    assert store.acquire_slot(flow, "e", limit=2, queue=False, pid=pid) is Admission.REFUSED

    store.release_slot(flow, "a")
    # d asks first, but c has waited longer: c goes, d waits on
    assert store.acquire_slot(flow, "d", limit=2, queue=True, pid=pid) is Admission.WAITING
    assert store.acquire_slot(flow, "c", limit=2, queue=True, pid=pid) is Admission.HELD
    store.release_slot(flow, "b")
    assert store.acquire_slot(flow, "d", limit=2, queue=True, pid=pid) is Admission.HELD
    # another flow's slots are its own
    assert (
        store.acquire_slot(resource_of("g"), "x", limit=1, queue=False, pid=pid) is Admission.HELD
    )


def test_the_slot_of_a_process_that_is_gone_is_free_again(store):
    flow = resource_of("f")
    assert store.acquire_slot(flow, "dead", limit=1, queue=True, pid=_dead_pid()) is Admission.HELD
    # the holder's process is gone (a killed orchestrator): its slot is free
    assert store.acquire_slot(flow, "next", limit=1, queue=False, pid=os.getpid()) is Admission.HELD


# -- runs -------------------------------------------------------------------------------------


def test_a_run_at_the_limit_that_does_not_queue_is_skipped_and_starts_nothing(store):
    flow, ran = _flow(queue=False)
    store.acquire_slot(resource_of("limited"), "other", limit=1, queue=True, pid=os.getpid())

    result = flow.run(executor="inline", store=store)

    assert result.state is RunState.SKIPPED
    assert ran == []
    assert "max_concurrent_runs" in result.cancel_reason
    record = store.get_run(result.run_id)
    assert record.state is RunState.SKIPPED
    assert record.ended_at is not None
    assert {task.state.value for task in store.get_tasks(result.run_id).values()} == {"pending"}


def test_a_run_at_the_limit_waits_queued_and_starts_when_the_slot_is_freed(store):
    flow, ran = _flow(max_concurrent_runs=1)
    resource = resource_of("limited")
    store.acquire_slot(resource, "other", limit=1, queue=True, pid=os.getpid())
    seen: list[str] = []

    class ReleasingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            queued = [run for run in store.list_runs() if run.state is RunState.QUEUED]
            seen.append(queued[0].state.value if queued else "none")
            if len(self.sleeps) == 3:  # the other run ends after three polls
                store.release_slot(resource, "other")

    clock = ReleasingClock()
    result = flow.run(executor="inline", store=store, clock=clock)

    assert result.state is RunState.SUCCEEDED
    assert ran == ["work"]
    assert seen == ["queued", "queued", "queued"]
    assert clock.sleeps == [QUEUE_POLL_INTERVAL] * 3
    record = store.get_run(result.run_id)
    # recorded queued while it waited, then started: its start is when it got the slot
    assert record.state is RunState.SUCCEEDED
    assert record.started_at == pytest.approx(clock.time(), abs=1.0)
    # and its slot was given back
    assert store.acquire_slot(resource, "after", limit=1, queue=False, pid=1) is Admission.HELD


def test_ctrl_c_while_queued_cancels_the_run_and_leaves_the_queue(store):
    flow, ran = _flow()
    resource = resource_of("limited")
    store.acquire_slot(resource, "other", limit=1, queue=True, pid=os.getpid())

    class InterruptingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as raised:
        flow.run(executor="inline", store=store, clock=InterruptingClock())

    run_id = raised.value.result.run_id
    assert raised.value.result.state is RunState.CANCELLED
    assert store.get_run(run_id).state is RunState.CANCELLED
    assert ran == []
    store.release_slot(resource, "other")  # the cancelled run waits no more: next goes
    assert store.acquire_slot(resource, "next", limit=1, queue=False, pid=1) is Admission.HELD


def test_runs_recorded_nowhere_are_not_limited():
    flow, ran = _flow(queue=False)
    for _ in range(3):
        assert flow.run(executor="inline", store=False).state is RunState.SUCCEEDED
    assert ran == ["work"] * 3


def test_max_concurrent_runs_allows_that_many_at_once(store):
    flow, _ = _flow(max_concurrent_runs=2, queue=False)
    store.acquire_slot(resource_of("limited"), "other", limit=2, queue=True, pid=os.getpid())

    assert flow.run(executor="inline", store=store).state is RunState.SUCCEEDED
    store.acquire_slot(resource_of("limited"), "third", limit=2, queue=True, pid=os.getpid())
    assert flow.run(executor="inline", store=store).state is RunState.SKIPPED


def test_a_child_run_runs_inside_its_parents_slot():
    child, ran = _flow("child", queue=False)
    parent = Flow("parent", queue=False)
    parent.run_flow("call", child, executor="inline")
    with open_store() as home:  # the default store, where child runs are recorded
        # the child's own slot is taken: a child run still goes, inside its parent's
        home.acquire_slot(resource_of("child"), "other", limit=1, queue=True, pid=os.getpid())

        result = parent.run(executor="inline")

        assert result.state is RunState.SUCCEEDED
        assert ran == ["work"]
        assert child.run(executor="inline").state is RunState.SKIPPED  # a top-level run is not


def test_a_queued_run_whose_process_died_is_recorded_interrupted(store):
    from flowkit._store import RunRecord

    dead = _dead_pid()
    store.create_run(
        RunRecord(
            run_id="waited",
            flow_name="limited",
            state=RunState.QUEUED,
            pid=dead,
            hostname=this_host(),
            started_at=1.0,
        )
    )
    assert store.get_run("waited").state is RunState.INTERRUPTED
    assert store.mark_interrupted_runs() == []  # it was stored so: nothing left to settle
