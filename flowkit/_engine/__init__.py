"""The engine: runs and repairs flows, and provides child runs to the tasks that start them.

``run_flow`` and ``repair_run`` are what ``Flow.run`` and ``Flow.repair`` call, the
one import of the engine from a layer below it (DESIGN.md §4). They load the
scheduler and the store when first called, so ``import flowkit`` does not pay
for them.
"""

from typing import Any

from flowkit._engine import child_runs as _child_runs  # noqa: F401 - provides ChildRuns

__all__ = ["repair_run", "run_flow"]


def run_flow(flow: Any, **options: Any) -> Any:
    """``_engine.run.run``: validate ``flow`` and run it to its end."""
    from flowkit._engine.run import run

    return run(flow, **options)


def repair_run(flow: Any, run_id: str, **options: Any) -> Any:
    """``_engine.repair.repair``: re-run what failed or never ran in ``run_id``."""
    from flowkit._engine.repair import repair

    return repair(flow, run_id, **options)
