"""Runs of the flows in ``tests/flows``, recorded in the test's home through the command line."""

from __future__ import annotations

from pathlib import Path

from flowkit.cli import main

FLOWS = Path(__file__).parent / "flows"


def run_flow(name: str, *arguments: str) -> str:
    """Run ``tests/flows/NAME.py`` with ``flowkit run``; the new run's id (not a child's)."""
    from flowkit._store import open_store

    main(["run", str(FLOWS / f"{name}.py"), *arguments])
    with open_store() as store:
        return next(run.run_id for run in store.list_runs() if run.parent_run_id is None)
