"""SIGKILL of the orchestrator at any moment: the store stays readable, consistent, and honest."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowkit._state import RunState, TaskState
from flowkit._store import SqliteStore

HERE = Path(__file__).parent


def test_a_killed_orchestrator_leaves_a_consistent_interrupted_run(tmp_path: Path) -> None:
    db_path = tmp_path / "flowkit.db"
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "store_orchestrator.py"), str(db_path), str(ready)]
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert process.poll() is None, "the orchestrator ended early"
            assert time.monotonic() < deadline, "the orchestrator never reached its task"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()

    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with SqliteStore(db_path) as store:
        (run,) = store.list_runs()
        assert (run.flow_name, run.state, run.pid) == ("doomed", RunState.INTERRUPTED, process.pid)
        assert run.params == {"day": "2026-11-23"}
        tasks = store.get_tasks(run.run_id)
        assert {name: task.state for name, task in tasks.items()} == {
            "first": TaskState.SUCCEEDED,
            "second": TaskState.RUNNING,
            "third": TaskState.PENDING,
        }
        assert store.get_values(run.run_id) == {
            "first": {"row_count": 14520, "tables": ["orders", "customers"]}
        }
        (attempt,) = store.get_attempts(run.run_id, "second")
        assert (attempt.attempt, attempt.state, attempt.ended_at) == (1, TaskState.RUNNING, None)
        repaired = store.increment_repair_count(run.run_id, pid=os.getpid(), hostname="here")
        assert (repaired.state, repaired.repair_count) == (RunState.RUNNING, 1)


@pytest.mark.parametrize("succeeded_before_kill", [1, 40, 150])
def test_a_writer_killed_mid_stream_leaves_no_succeeded_task_without_values(
    tmp_path: Path, succeeded_before_kill: int
) -> None:
    db_path = tmp_path / "flowkit.db"
    go = tmp_path / "go"
    go.write_text("go")
    writer = subprocess.Popen(
        [sys.executable, str(HERE / "store_writer.py"), str(db_path), str(go), "busy", "5000"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _succeeded(db_path) < succeeded_before_kill:
            assert writer.poll() is None, "the writer ended before it could be killed"
            assert time.monotonic() < deadline, "the writer made no progress"
            time.sleep(0.002)
        writer.send_signal(signal.SIGKILL)  # somewhere in the middle of a stream of commits
    finally:
        writer.kill()
        writer.wait()

    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with SqliteStore(db_path) as store:
        (run,) = store.list_runs()
        assert run.state is RunState.INTERRUPTED
        tasks = store.get_tasks(run.run_id)
        values = store.get_values(run.run_id)
        succeeded = [name for name, task in tasks.items() if task.state is TaskState.SUCCEEDED]
        assert len(succeeded) >= succeeded_before_kill
        assert len(succeeded) < 5000
        for name in succeeded:  # values are written before the state that needs them
            assert values[name] == {"index": int(name[1:])}


def _succeeded(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    raw = sqlite3.connect(db_path, timeout=10)
    try:
        return raw.execute("SELECT count(*) FROM tasks WHERE state = 'succeeded'").fetchone()[0]
    except sqlite3.Error:  # the writer is still creating the schema
        return 0
    finally:
        raw.close()
