"""Shared pools: ``Pool(N, shared=True)`` caps a pool's tasks across every run of the home."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowkit import DefinitionError, Flow, Pool
from flowkit._engine.admission import TaskSlots
from flowkit._engine.gate import Gate
from flowkit._store.memory import MemoryStore

FLOW = Path(__file__).parents[1] / "flows" / "pools_shared.py"


def _flow(name: str) -> Flow:
    flow = Flow(name, pools={"warehouse": Pool(1, shared=True)})
    flow.task(name="load", pool="warehouse")(lambda: None)
    return flow


def test_a_shared_pool_s_slot_is_taken_by_one_run_s_task_at_a_time() -> None:
    store = MemoryStore()
    first = Gate(_flow("sales").plan(), claims=TaskSlots(store, "run-1"))
    second = Gate(_flow("stock").plan(), claims=TaskSlots(store, "run-2"))

    assert first.blocker("load", [], claim=True) is None
    assert (
        second.blocker("load", [], claim=True)
        == "pool 'warehouse' is full (shared by the home's runs)"
    )
    # Turned away a moment ago: it waits without asking the store again.
    assert second.blocker("load", []) is not None
    first.release("load")
    assert second.blocker("load", [], claim=True) is None
    second.release_all()
    assert first.blocker("load", [], claim=True) is None


def test_without_a_store_a_shared_pool_caps_the_run_alone() -> None:
    gate = Gate(_flow("alone").plan())

    assert gate.blocker("load", [], claim=True) is None
    assert gate.blocker("load", ["load"]) == "pool 'warehouse' is full (1 of 1 running)"


@pytest.mark.parametrize("pool", [Pool(1, shared=True), 2])
def test_pools_take_sizes_or_pool_objects(pool: object) -> None:
    flow = Flow("either", pools={"warehouse": pool})
    flow.task(name="load", pool="warehouse")(lambda: None)

    plan = flow.plan()

    assert plan.flow.pools == {"warehouse": 1 if isinstance(pool, Pool) else 2}
    assert plan.flow.shared_pools == (
        frozenset({"warehouse"}) if isinstance(pool, Pool) else frozenset()
    )


def test_an_invalid_pool_size_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"Pool\(size=0\) is invalid"):
        Pool(0, shared=True)


def test_two_runs_of_the_home_never_run_two_tasks_of_a_shared_pool_of_one(tmp_path: Path) -> None:
    spans = tmp_path / "spans"
    spans.mkdir()
    env = {**os.environ, "FLOWKIT_HOME": str(tmp_path / "home"), "FLOWKIT_TEST_SPANS": str(spans)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "flowkit", "run", f"{FLOW}:{name}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("sales", "stock")
    ]
    for run in runs:
        out, _ = run.communicate(timeout=60)
        assert run.returncode == 0, out

    intervals = sorted(tuple(map(float, path.read_text().split())) for path in spans.glob("*.span"))
    assert len(intervals) == 6
    for (_, ended), (started, _) in itertools.pairwise(intervals):
        assert started >= ended - 0.01, intervals  # one at a time, across both runs


def test_a_task_turned_away_by_a_shared_pool_is_asked_again_when_an_earlier_one_queues() -> None:
    """Each task of a shared pool holds its own place in the home's queue: a task that joined
    the queue must be asked again even when a task earlier in plan order became ready since
    (asking only the first of them left the first one's place blocking every run)."""
    from flowkit._clock import FakeClock
    from flowkit._engine.scheduler import Scheduler
    from flowkit._state import TaskState
    from flowkit.executors import AttemptOutcome

    store = MemoryStore()
    holder = Gate(_flow("other").plan(), claims=TaskSlots(store, "run-2"))
    assert holder.blocker("load", [], claim=True) is None  # another run holds the only slot

    flow = Flow("mine", pools={"warehouse": Pool(1, shared=True)})
    flow.task(name="x")(lambda: 1)
    flow.task(name="y")(lambda: 1)
    flow.task(name="p1", pool="warehouse", depends_on=["x"])(lambda: None)
    flow.task(name="p2", pool="warehouse", depends_on=["y"])(lambda: None)
    plan = flow.plan()
    clock = FakeClock()
    gate = Gate(plan, claims=TaskSlots(store, "run-1"), clock=clock, machine_resources=False)
    scheduler = Scheduler(plan, clock, gate=gate)
    scheduler.start()
    assert [scheduler.take(False)[0], scheduler.take(False)[0]] == ["x", "y"]

    def done(name: str) -> AttemptOutcome:
        return AttemptOutcome(
            task_key=name, attempt=1, state=TaskState.SUCCEEDED, started_at=0, ended_at=0
        )

    scheduler.complete(done("y"))
    assert scheduler.take(False) is None  # p2 queues in the home's pool behind run-2
    scheduler.complete(done("x"))  # p1, earlier in plan order, is ready now
    holder.release("load")
    clock.advance(1.0)
    taken = scheduler.take(False)
    assert taken is not None
    assert taken[0] == "p2"  # first in the home's queue
