"""Runs of real flows, recorded in the test's home, for the report and ui tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowkit.cli import main

FLOWS = Path(__file__).parents[1] / "flows"


def run_flow(name: str, *arguments: str) -> str:
    """Run ``tests/flows/NAME.py`` through the command line; the new run's id (not a child's)."""
    from flowkit._store import open_store

    main(["run", str(FLOWS / f"{name}.py"), *arguments])
    with open_store() as store:
        return next(run.run_id for run in store.list_runs() if run.parent_run_id is None)


@pytest.fixture
def hostile_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A finished run of ``report_hostile``: a retry, a condition, a child run, failures."""
    run_id = run_flow("report_hostile", "-p", f"marker={tmp_path / 'marker'}")
    capsys.readouterr()
    return run_id
