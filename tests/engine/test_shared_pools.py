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
