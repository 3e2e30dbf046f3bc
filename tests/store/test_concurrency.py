"""Two runs at once on one store: neither corrupts nor blocks the other."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from flowkit._state import RunState, TaskState
from flowkit._store import SqliteStore

HERE = Path(__file__).parent
TASKS = 600  # long enough that the two runs overlap


def test_two_processes_record_runs_into_one_new_store_at_once(tmp_path: Path) -> None:
    db_path = tmp_path / "home" / "flowkit.db"
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "store_writer.py"),
                str(db_path),
                str(go),
                name,
                str(TASKS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    go.write_text("go")  # both start together, and race to create the store
    reports = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert "locked" not in err
        reports.append(json.loads(out))

    # They really ran at the same time.
    assert max(r["started"] for r in reports) < min(r["ended"] for r in reports)
    assert {r["state"] for r in reports} == {"succeeded"}

    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with SqliteStore(db_path) as store:
        runs = store.list_runs()
        assert sorted(run.flow_name for run in runs) == ["left", "right"]
        assert {run.state for run in runs} == {RunState.SUCCEEDED}
        for report in reports:
            tasks = store.get_tasks(report["run_id"])
            assert len(tasks) == TASKS
            assert {task.state for task in tasks.values()} == {TaskState.SUCCEEDED}
            values = store.get_values(report["run_id"])
            assert values == {f"t{index:03d}": {"index": index} for index in range(TASKS)}
            attempts = store.get_attempts(report["run_id"])
            assert [(a.attempt, a.state) for a in attempts] == [(1, TaskState.SUCCEEDED)] * TASKS
