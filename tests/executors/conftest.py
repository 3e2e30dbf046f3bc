"""Fixtures for executor tests: no test may leave a process behind."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from daskcluster import cluster_pids

from flowkit.executors import _processes as procs


@pytest.fixture
def marker() -> str:
    """A unique word to put in the command line of processes a test's tasks start."""
    return f"flowkit-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def no_leftover_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """After every executor test, no child process of this test process is alive.

    A test dask cluster's own processes stay (the attempts they ran must not).
    """
    monkeypatch.setenv("FLOWKIT_HOME", str(tmp_path / "home"))
    before = set(procs.descendants(os.getpid()))
    yield
    deadline = time.monotonic() + 5
    while True:
        left = set(procs.descendants(os.getpid())) - before - cluster_pids()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"processes left behind by the test: {sorted(left)}"


@pytest.fixture(params=["local", "dask"])
def isolating(request: pytest.FixtureRequest):
    """A factory of each executor that runs attempts in their own processes, in turn.

    "dask" runs on the session's real cluster: the same guarantees, on workers.
    """
    if request.param == "local":
        from flowkit.executors._local import LocalExecutor

        return LocalExecutor
    from flowkit.executors.dask import DaskExecutor

    address = request.getfixturevalue("dask_cluster").address
    return lambda **options: DaskExecutor(address=address, **options)
