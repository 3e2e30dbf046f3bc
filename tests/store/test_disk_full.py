"""A full disk: a task log that cannot be written, and a run store that cannot write.

The disk fills without root: the orchestrator's log writes raise ENOSPC
(monkeypatched), and SQLite's ``max_page_count`` makes the store's own file
full, which SQLite reports as it does a full disk ("database or disk is full").
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from flowkit._state import RunState, TaskState
from flowkit._store import SqliteStore, schema
from flowkit.cli import main
from flowkit.executors import _attempt_log
from flowkit.executors import _processes as procs

FLOW = """
from flowkit import Flow, task_values

flow = Flow("filling")


@flow.task
def chatty():
    print("kept line", flush=True)
    print("FULL from here", flush=True)
    print("never kept", flush=True)
    task_values.set("rows", 3)


@flow.task(depends_on=[chatty])
def quiet():
    print("quiet line", flush=True)
    task_values.set("big", "x" * 40_000)


@flow.task(depends_on=[quiet])
def last():
    task_values.set("done", True)
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> str:
    path = tmp_path / "filling_flow.py"
    path.write_text(FLOW)
    return str(path)


def the_run(home: Path):
    with SqliteStore(home / "flowkit.db", read_only=True) as store:
        (run,) = store.list_runs()
        return run, store.get_tasks(run.run_id), store.get_attempts(run.run_id)


def test_a_log_the_disk_has_no_room_for_stops_and_the_attempt_goes_on(
    flow_file: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_all = _attempt_log.write_all

    def full_disk(fd: int, data: bytes) -> None:
        head, full, _ = data.partition(b"FULL")
        write_all(fd, head)  # what fitted before the disk filled up
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_attempt_log, "write_all", full_disk)

    code = main(["run", flow_file, "--executor", "local"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.count("cannot be written (No space left on device)") == 1
    assert "task 'chatty', attempt 1: its log" in captured.err
    assert "never kept" in captured.out  # still shown live
    run, tasks, attempts = the_run(home)
    assert run.state is RunState.SUCCEEDED
    assert {task.state for task in tasks.values()} == {TaskState.SUCCEEDED}
    logs = {attempt.task_key: attempt.log_path for attempt in attempts}
    assert Path(logs["chatty"]).read_text() == "kept line\n"  # what was written is kept
    assert Path(logs["quiet"]).read_text() == "quiet line\n"  # the next attempt logs again


@pytest.fixture
def store_fills_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store connection may grow its file by two pages: SQLite's 'disk is full'."""
    prepare = schema.prepare

    def prepare_then_cap(connection: sqlite3.Connection, *args: object, **kwargs: object) -> None:
        prepare(connection, *args, **kwargs)  # type: ignore[arg-type]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    monkeypatch.setattr(schema, "prepare", prepare_then_cap)


@pytest.mark.usefixtures("store_fills_up")
def test_a_store_that_cannot_write_stops_the_run_clearly_and_leaves_it_interrupted(
    flow_file: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", flow_file, "--executor", "local"])

    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    (message,) = [line for line in err.splitlines() if line.startswith("flowkit: error:")]
    run, tasks, _ = the_run(home)
    assert f"run {run.run_id} of flow 'filling' stopped: its run store cannot record it" in message
    assert "database or disk is full" in message
    assert "Free some space there" in message
    assert f"`flowkit repair {run.run_id}`" in message
    # What was committed before stays; the run has an end, and is not running.
    assert run.state is RunState.INTERRUPTED
    assert run.ended_at is not None
    assert tasks["chatty"].state is TaskState.SUCCEEDED
    assert tasks["last"].state is TaskState.PENDING


@pytest.mark.usefixtures("store_fills_up")
def test_runs_reads_the_stopped_run_sensibly(
    flow_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", flow_file, "--executor", "local"]) == 1
    capsys.readouterr()
    assert main(["runs"]) == 0
    (row,) = capsys.readouterr().out.splitlines()[1:]
    assert row.split()[1:3] == ["filling", "interrupted"]


@pytest.mark.usefixtures("store_fills_up")
def test_a_run_the_store_has_no_room_to_record_does_not_start(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow_file = tmp_path / "big_params.py"
    flow_file.write_text(
        "from flowkit import Flow\n"
        "flow = Flow('roomless', params={'blob': 'x' * 60_000})\n"
        "@flow.task\n"
        "def never():\n"
        "    raise AssertionError('ran')\n"
    )
    before = set(procs.children(os.getpid()))  # the session's dask cluster, if started

    assert main(["run", str(flow_file), "--executor", "local"]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "of flow 'roomless' did not start: its run store cannot record it" in err
    assert "database or disk is full" in err
    with SqliteStore(home / "flowkit.db", read_only=True) as store:
        assert store.list_runs() == []
    assert set(procs.children(os.getpid())) - before == set()  # its fork server stopped too
