"""Pools: ``Flow(pools={"warehouse": 2})`` caps how many of a pool's tasks run at once."""

from __future__ import annotations

import collections
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import PooledDag, pooled_dags

from flowkit import DefinitionError, FakeClock, Flow, RunState, TaskState
from flowkit._engine.scheduler import Scheduler
from flowkit.executors import AttemptOutcome


def _flow(case: PooledDag) -> Flow:
    flow = Flow("pooled", max_parallel=case.max_parallel, pools=case.pools)
    for name, upstream in case.upstream.items():

        def body() -> None:
            pass

        flow.task(name=name, depends_on=list(upstream), pool=case.pool_of.get(name))(body)
    return flow


@settings(max_examples=150, deadline=None)
@given(pooled_dags(), st.randoms())
def test_a_pool_never_has_more_tasks_in_flight_than_its_size(
    case: PooledDag, chooser: random.Random
) -> None:
    scheduler = Scheduler(_flow(case).plan(), FakeClock())
    scheduler.start()
    while not scheduler.finished:
        while scheduler.has_ready and len(scheduler.in_flight) < case.max_parallel:
            scheduler.take(timeout_enforced=False)
            using = collections.Counter(
                case.pool_of[name] for name in scheduler.in_flight if name in case.pool_of
            )
            for pool, count in using.items():
                assert count <= case.pools[pool], (pool, using)
        assert scheduler.in_flight, "ready tasks left waiting with nothing in flight"
        name = chooser.choice(sorted(scheduler.in_flight))
        attempt = scheduler.in_flight[name].attempt
        scheduler.complete(
            AttemptOutcome(
                task_key=name, attempt=attempt, state=TaskState.SUCCEEDED, started_at=0, ended_at=0
            )
        )
    assert all(task.state is TaskState.SUCCEEDED for task in scheduler.tasks.values())


def test_a_pool_of_two_runs_two_of_its_tasks_at_a_time_on_the_local_executor(
    tmp_path: Path,
) -> None:
    flow = Flow("warehouse_loads", max_parallel=4, pools={"warehouse": 2})
    for number in range(6):

        def load(number: int = number) -> None:
            started = time.time()
            time.sleep(0.3)
            (tmp_path / f"{number}.span").write_text(f"{started} {time.time()}")

        flow.task(name=f"load{number}", pool="warehouse")(load)
    result = flow.run(executor="local", store=False)
    assert result.state is RunState.SUCCEEDED
    spans = [tuple(map(float, p.read_text().split())) for p in tmp_path.glob("*.span")]
    moments = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running, most = 0, 0
    for _, change in moments:
        running += change
        most = max(most, running)
    assert most == 2  # the cap, and reached: the pool is used, not serialised


def test_an_undeclared_pool_is_named_with_the_fix() -> None:
    flow = Flow("pooled", pools={"warehouse": 2})

    @flow.task(pool="wearhouse")
    def load() -> None:
        pass

    expected = (
        r"task 'load': pool 'wearhouse' is not declared \(declared: warehouse\); "
        r"add it with Flow\('pooled', pools=\{'wearhouse': N\}\)"
    )
    with pytest.raises(DefinitionError, match=expected):
        flow.plan()


@pytest.mark.parametrize("pools", [{"warehouse": 0}, {"warehouse": "2"}, {"": 1}, ["warehouse"]])
def test_invalid_pools_are_refused(pools: object) -> None:
    with pytest.raises(DefinitionError, match=r"option pools=.* is invalid"):
        Flow("pooled", pools=pools)  # type: ignore[arg-type]


def test_a_step_asks_about_each_group_of_ready_tasks_not_each_task(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A pooled fan-out of 600 asks the gate a bounded number of times per task.

    Asking about every ready task at every step made a pooled fan-out quadratic
    (4,000 tasks in a pool took 1.7 ms a task against 0.2 without the pool).
    """
    from flowkit._engine.gate import Gate

    asked = collections.Counter()
    blocker = Gate.blocker

    def counted(self: Gate, name: str, *args: object, **kwargs: object) -> str | None:
        asked[name] += 1
        return blocker(self, name, *args, **kwargs)

    monkeypatch.setattr(Gate, "blocker", counted)
    flow = Flow("wide", max_parallel=2, pools={"warehouse": 1, "lake": 2})
    for index in range(600):
        flow.task(name=f"t{index}", pool="warehouse" if index % 3 else "lake")(lambda: None)
    result = flow.run(executor="inline", store=False)
    assert result.state is RunState.SUCCEEDED
    assert sum(asked.values()) < 20 * 600  # asking about every ready task: ~170,000
    assert all(task.waiting_for is None for task in result.tasks.values())
