"""A recorded run of ``report_hostile`` for the report and ui tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from recorded import run_flow


@pytest.fixture
def hostile_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A finished run of ``report_hostile``: a retry, a condition, a child run, failures."""
    run_id = run_flow("report_hostile", "-p", f"marker={tmp_path / 'marker'}")
    capsys.readouterr()
    return run_id
