"""max_concurrent_runs across processes: two real `flowkit run`s of one flow in one home."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowkit import RunState
from flowkit._store import SqliteStore

FLOWS = Path(__file__).parent.parent / "flows" / "limits_gated.py"


def _start(target: str, name: str, gate: Path, home: Path) -> subprocess.Popen[str]:
    environment = {**os.environ, "GATE_DIR": str(gate), "FLOWKIT_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "flowkit", "run", f"{FLOWS}:{target}", "-p", f"name={name}"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs_table(home: Path) -> str:
    """What `flowkit runs` prints for ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "flowkit", "runs"],
        env={**os.environ, "FLOWKIT_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _wait_for(condition, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    folder = tmp_path / "gate"
    folder.mkdir()
    return folder


def test_a_second_run_that_does_not_queue_is_skipped_and_exits_1(gate, flowkit_home):
    first = _start("skipping", "first", gate, flowkit_home)
    try:
        _wait_for((gate / "started-first").exists, "the first run's task")
        second = subprocess.run(
            [sys.executable, "-m", "flowkit", "run", f"{FLOWS}:skipping", "-p", "name=second"],
            env={**os.environ, "GATE_DIR": str(gate), "FLOWKIT_HOME": str(flowkit_home)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert "skipped" in second.stderr
        assert "max_concurrent_runs" in second.stderr
        assert not (gate / "started-second").exists()
    finally:
        (gate / "open").write_text("")
        assert first.wait(timeout=60) == 0

    with SqliteStore(flowkit_home / "flowkit.db", read_only=True) as store:
        states = sorted(run.state.value for run in store.list_runs())
    assert states == ["skipped", "succeeded"]
    runs = _runs_table(flowkit_home)
    assert "skipped" in runs


def test_a_second_run_queues_shows_queued_and_starts_when_the_first_ends(gate, flowkit_home):
    first = _start("queueing", "first", gate, flowkit_home)
    second = None
    try:
        _wait_for((gate / "started-first").exists, "the first run's task")
        second = _start("queueing", "second", gate, flowkit_home)
        store = SqliteStore(flowkit_home / "flowkit.db", read_only=True)

        def second_queued() -> bool:
            return any(run.state is RunState.QUEUED for run in store.list_runs())

        _wait_for(second_queued, "the second run to be recorded queued")
        runs = _runs_table(flowkit_home)
        assert "queued" in runs
        time.sleep(0.5)  # queued it stays: the first still holds the slot
        assert not (gate / "started-second").exists()
    finally:
        (gate / "open").write_text("")
        assert first.wait(timeout=60) == 0
        if second is not None:
            assert second.wait(timeout=60) == 0

    by_name = {run.params["name"]: run for run in store.list_runs()}
    assert by_name["first"].state is RunState.SUCCEEDED
    assert by_name["second"].state is RunState.SUCCEEDED
    # one at a time: the second started once the first had ended
    assert by_name["second"].started_at >= by_name["first"].ended_at
    store.close()
