"""A history on a read-only mount reads as any other: the reading commands never write.

A read-only mount is simulated by taking the write bits off the home; as root,
which ignores them, the commands run without any capability (``setpriv``), so
the bits hold for them as for any user.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowkit._errors import StoreError
from flowkit._state import RunState
from flowkit._store import RunRecord, SqliteStore, open_store
from flowkit._store.liveness import this_host

FLOW = """
from flowkit import Flow, task_values

flow = Flow("readable")


@flow.task
def ingest():
    print("ingested 3 rows", flush=True)
    task_values.set("rows", 3)
"""


def raw_state(path: Path, run_id: str) -> str:
    with sqlite3.connect(path) as raw:
        return raw.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]


def test_a_store_opened_for_reading_refuses_every_write(tmp_path: Path) -> None:
    path = tmp_path / "flowkit.db"
    SqliteStore(path).close()
    with SqliteStore(path, read_only=True) as store:
        with pytest.raises(StoreError, match="open for reading only"):
            store.create_run(RunRecord(run_id="r1", flow_name="f"))
        with pytest.raises(StoreError, match="open for reading only"):
            store.set_result("r1", "t", b"x")
        assert store.list_runs() == []


def test_a_store_opened_for_reading_shows_a_dead_run_interrupted_without_marking_it(
    tmp_path: Path, dead_pid: int
) -> None:
    path = tmp_path / "flowkit.db"
    with SqliteStore(path) as store:
        store.create_run(
            RunRecord(run_id="dead0", flow_name="f", pid=dead_pid, hostname=this_host())
        )
    with SqliteStore(path, read_only=True) as store:
        assert store.get_run("dead0").state is RunState.INTERRUPTED  # type: ignore[union-attr]
        assert store.mark_interrupted_runs() == ["dead0"]
        assert raw_state(path, "dead0") == "running"  # nothing written
    with SqliteStore(path) as store:  # a store that writes settles it for good
        assert store.get_run("dead0").state is RunState.INTERRUPTED  # type: ignore[union-attr]
    assert raw_state(path, "dead0") == "interrupted"


def test_reading_a_missing_store_says_nothing_was_recorded(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nothing has been recorded there yet"):
        open_store(tmp_path / "none", create=False, read_only=True)
    assert not (tmp_path / "none").exists()


@pytest.fixture
def read_only_home(tmp_path: Path) -> Iterator[Path]:
    """A home with one recorded run, then made read-only."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("as root, a read-only home needs setpriv to drop the capabilities")
    top = tmp_path / "top"
    top.mkdir()
    home = top / "home"
    flow_file = top / "readable_flow.py"
    flow_file.write_text(FLOW)
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "flowkit", "run", str(flow_file), "--executor", "local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # A store closed cleanly has no -wal and -shm left: reading it needs a -shm file
    # that a read-only folder cannot hold.
    assert sorted(path.name for path in home.iterdir()) == ["flowkit.db", "logs"]
    for path in [top, *top.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~(stat.S_IWUSR | stat.S_IWGRP))
    try:
        yield home
    finally:
        for path in [top, *top.rglob("*")]:
            path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)


def flowkit_reading(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``flowkit ARGS``, bound by file modes (root's capabilities dropped, when root)."""
    bound = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"]
    flowkit = [sys.executable, "-m", "flowkit", "--home", str(home)]
    return subprocess.run(
        [*(bound if os.geteuid() == 0 else []), *flowkit, *args],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_reading_commands_read_a_read_only_home(read_only_home: Path) -> None:
    before = {path: path.read_bytes() for path in read_only_home.rglob("*") if path.is_file()}

    runs = flowkit_reading(read_only_home, "runs")
    assert runs.returncode == 0, runs.stderr
    row = runs.stdout.splitlines()[1].split()
    assert row[1:3] == ["readable", "succeeded"]
    show = flowkit_reading(read_only_home, "show", row[0])
    assert show.returncode == 0, show.stderr
    assert "rows" in show.stdout
    logs = flowkit_reading(read_only_home, "logs", row[0], "ingest")
    assert logs.returncode == 0, logs.stderr
    assert "ingested 3 rows" in logs.stdout

    for result in (runs, show, logs):
        assert "cannot write" not in result.stderr
    after = {path: path.read_bytes() for path in read_only_home.rglob("*") if path.is_file()}
    assert after == before
