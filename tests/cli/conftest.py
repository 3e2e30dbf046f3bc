"""Fixtures of the command line's tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def test_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the fixture flows count their runs and look for flag files."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.setenv("FLOWKIT_TEST_DIR", str(folder))
    return folder
