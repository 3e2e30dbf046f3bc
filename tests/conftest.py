"""Shared fixtures: a fake clock, a recording listener, and a clean task_values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daskcluster import DaskCluster
from strategies import EventRecorder

from flowkit import FakeClock, task_values


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the scheduler sleeps on it."""
    return FakeClock()


@pytest.fixture
def recorder() -> EventRecorder:
    """A RunListener that keeps every state change."""
    return EventRecorder()


@pytest.fixture(autouse=True)
def _clean_set_outside_run() -> Iterator[None]:
    """``task_values.set`` outside a run keeps values module-wide: start and end empty."""
    task_values.set_outside_run.clear()
    yield
    task_values.set_outside_run.clear()


@pytest.fixture(autouse=True)
def flowkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private FLOWKIT_HOME per test: runs are recorded and logged there, not in the repo."""
    home = tmp_path / "flowkit-home"
    monkeypatch.setenv("FLOWKIT_HOME", str(home))
    return home


#: Every executor flowkit has: the conformance suites run on each.
EXECUTORS = ("inline", "local", "dask")


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A real dask scheduler and two workers on 127.0.0.1, for the whole test session."""
    cluster = DaskCluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each executor's name in turn; "dask" runs on the session's cluster."""
    if request.param == "dask":
        cluster = request.getfixturevalue("dask_cluster")
        monkeypatch.setenv("FLOWKIT_DASK_ADDRESS", cluster.address)
    return request.param
