"""Fixtures for store tests: each back end behind one ``store`` fixture, and a dead pid."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowkit._store import MemoryStore, RunStore, SqliteStore


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private FLOWKIT_HOME, so no test writes into the working directory."""
    home = tmp_path / "home"
    monkeypatch.setenv("FLOWKIT_HOME", str(home))
    return home


@pytest.fixture(params=["sqlite", "memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., RunStore]]:
    """Makes a store of each back end in turn: the conformance tests hold for each."""
    made: list[RunStore] = []

    def make(**options: Any) -> RunStore:
        if request.param == "sqlite":
            store: RunStore = SqliteStore(tmp_path / "store" / "flowkit.db", **options)
        else:
            store = MemoryStore(**options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., RunStore]) -> RunStore:
    """A store of each back end in turn, with default options."""
    return make_store()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
