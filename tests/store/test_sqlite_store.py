"""SqliteStore on disk: where it lives, WAL, the schema version, and every bad file in words."""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowkit._errors import StoreError
from flowkit._home import store_file
from flowkit._state import RunState, TaskState
from flowkit._store import RunRecord, SqliteStore, TaskRecord, open_store, schema
from flowkit._store.liveness import this_host


def a_run(run_id: str = "run-1", **changes: object) -> RunRecord:
    fields: dict[str, object] = {
        "run_id": run_id,
        "flow_name": "lakehouse",
        "started_at": 1000.0,
        "pid": os.getpid(),
        "hostname": this_host(),
    }
    fields.update(changes)
    return RunRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "flowkit.db"


def _filled(path: Path, runs: int = 1) -> bytes:
    """Make a store at ``path`` with ``runs`` runs; return the file's bytes once closed."""
    with SqliteStore(path) as store:
        for index in range(runs):
            store.create_run(a_run(f"run-{index}"), task_keys=["ingest", "clean"])
    return path.read_bytes()


# -- where it lives --------------------------------------------------------------------
def test_the_default_store_is_flowkithome_flowkit_db_in_a_private_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    assert store.path == home / "flowkit.db"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.close()
    monkeypatch.delenv("FLOWKIT_HOME")
    monkeypatch.chdir(home.parent)
    assert store_file() == home.parent / ".flowkit" / "flowkit.db"
    assert store_file("elsewhere") == home.parent / "elsewhere" / "flowkit.db"


def test_the_store_is_in_wal_mode_with_its_schema_version(db_path: Path) -> None:
    _filled(db_path)
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert raw.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    finally:
        raw.close()


def test_every_change_is_committed_as_it_happens(db_path: Path) -> None:
    writer = SqliteStore(db_path)
    reader = SqliteStore(db_path)
    writer.create_run(a_run(), task_keys=["ingest"])
    writer.record_task(TaskRecord(run_id="run-1", task_key="ingest", state="running", attempts=1))
    # Another connection sees it at once: nothing waits for a close or the end of the run.
    assert reader.get_tasks("run-1")["ingest"].state is TaskState.RUNNING
    writer.set_task_values("run-1", "ingest", {"rows": 1})
    assert reader.get_values("run-1") == {"ingest": {"rows": 1}}
    writer.close()
    reader.close()


def test_history_survives_reopening(db_path: Path) -> None:
    _filled(db_path, runs=3)
    with SqliteStore(db_path) as store:
        assert sorted(run.run_id for run in store.list_runs()) == ["run-0", "run-1", "run-2"]
        assert list(store.get_tasks("run-2")) == ["ingest", "clean"]


def test_a_missing_store_is_not_created_when_only_reading(db_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no run store at .*flowkit\.db.*FLOWKIT_HOME"):
        SqliteStore(db_path, create=False)
    assert not db_path.parent.exists()


def test_a_folder_where_the_file_should_be_says_so(db_path: Path) -> None:
    db_path.mkdir(parents=True)
    with pytest.raises(StoreError, match="is a folder, not a file"):
        SqliteStore(db_path)


# -- the schema version ----------------------------------------------------------------
def test_an_older_schema_is_refused_and_left_alone(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _filled(db_path)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    with pytest.raises(StoreError) as caught:
        SqliteStore(db_path)
    message = str(caught.value)
    assert str(db_path) in message
    assert f"schema version {schema.SCHEMA_VERSION - 1}, older than" in message
    assert "cannot upgrade it in place" in message
    assert db_path.read_bytes() == before


def test_an_unknown_schema_version_is_refused_and_left_alone(db_path: Path) -> None:
    _filled(db_path)
    raw = sqlite3.connect(db_path)
    raw.execute("PRAGMA user_version = 99")
    raw.commit()
    raw.close()
    before = db_path.read_bytes()
    with pytest.raises(
        StoreError,
        match=rf"schema version 99, which this flowkit \(schema {schema.SCHEMA_VERSION}\)",
    ):
        SqliteStore(db_path)
    assert db_path.read_bytes() == before


def test_another_applications_database_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path)
    raw.execute("CREATE TABLE customers (name TEXT)")
    raw.commit()
    raw.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match="a SQLite database, but not a flowkit run store"):
        SqliteStore(db_path)
    assert db_path.read_bytes() == before


# -- bad files -------------------------------------------------------------------------
def test_a_file_that_is_not_a_database_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    text = b"these are my notes, not a database\n" * 200
    db_path.write_bytes(text)
    with pytest.raises(StoreError) as caught:
        SqliteStore(db_path)
    message = str(caught.value)
    assert "is damaged or not a database" in message
    assert "move it aside" in message
    assert "Traceback" not in message
    assert db_path.read_bytes() == text
    assert sorted(path.name for path in db_path.parent.iterdir()) == ["flowkit.db"]


def test_a_corrupt_store_is_a_clear_error_and_left_alone(db_path: Path) -> None:
    _filled(db_path, runs=300)
    page_size = 4096
    damaged = bytearray(db_path.read_bytes())
    assert len(damaged) > 4 * page_size  # several pages: the header page stays intact
    damaged[page_size:] = b"\xa5" * (len(damaged) - page_size)
    db_path.write_bytes(bytes(damaged))
    with pytest.raises(StoreError, match=r"is damaged or not a database \(sqlite says"):
        SqliteStore(db_path).list_runs()
    assert db_path.read_bytes() == bytes(damaged)


def test_a_store_locked_too_long_is_a_clear_error_and_loses_nothing(db_path: Path) -> None:
    _filled(db_path)
    store = SqliteStore(db_path, busy_timeout=0.2)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as caught:
            store.create_run(a_run("late"))
        message = str(caught.value)
        assert "stayed locked by another process for more than 0.2s" in message
        assert "while recording run late" in message
        assert [run.run_id for run in store.list_runs()] == ["run-0"]  # readers go on
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.create_run(a_run("late"))  # once the lock is gone, the same write succeeds
    assert sorted(run.run_id for run in store.list_runs()) == ["late", "run-0"]
    store.close()


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder any user may enter, for tests that drop root's privileges."""
    folder = Path(tempfile.mkdtemp(prefix="flowkit-store-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def _as_unprivileged(action: Callable[[], None]) -> str:
    """Run ``action`` where permissions apply; return its StoreError message ('' if none).

    Root ignores a folder's mode, so as root the action runs in a forked child
    that has become ``nobody``.
    """

    def attempt() -> str:
        try:
            action()
        except StoreError as error:
            return str(error)
        return ""

    if os.geteuid() != 0:
        return attempt()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, pickle.dumps(attempt()))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        data = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed"
    return pickle.loads(data)


def test_a_read_onlyhome_folder_is_a_clear_error(shared_folder: Path) -> None:
    home = shared_folder / "home"
    home.mkdir(mode=0o555)
    home.chmod(0o555)
    message = _as_unprivileged(lambda: SqliteStore(home / "flowkit.db"))
    assert message.startswith(f"cannot write the run store {home / 'flowkit.db'}")
    assert "read-only" in message
    assert "FLOWKIT_HOME (or --home)" in message
    assert list(home.iterdir()) == []


def test_ahome_folder_that_cannot_be_created_is_a_clear_error(shared_folder: Path) -> None:
    parent = shared_folder / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    message = _as_unprivileged(lambda: SqliteStore(parent / "home" / "flowkit.db"))
    assert f"cannot create the run store folder {parent / 'home'}" in message
    assert "FLOWKIT_HOME (or --home)" in message


def test_a_store_in_a_folder_made_read_only_is_a_clear_error_and_left_alone(
    shared_folder: Path,
) -> None:
    path = shared_folder / "home" / "flowkit.db"
    before = _filled(path)
    path.chmod(0o644)
    path.parent.chmod(0o555)

    def write() -> None:
        store = SqliteStore(path)
        store.create_run(a_run("more"))

    message = _as_unprivileged(write)
    assert f"cannot write the run store {path}" in message
    assert "FLOWKIT_HOME (or --home)" in message
    assert path.read_bytes() == before


# -- threads and processes -------------------------------------------------------------
def test_threads_share_a_store_each_with_its_own_connection(db_path: Path) -> None:
    store = SqliteStore(db_path)
    store.create_run(a_run(), task_keys=[f"t{index}" for index in range(8)])
    errors: list[BaseException] = []

    def work(task_key: str) -> None:
        try:
            for attempt in range(1, 26):
                store.record_task(
                    TaskRecord(run_id="run-1", task_key=task_key, state="running", attempts=attempt)
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"t{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {task.attempts for task in store.get_tasks("run-1").values()} == {25}
    store.close()


def test_a_forked_child_opens_its_own_connection(db_path: Path) -> None:
    store = SqliteStore(db_path)
    store.create_run(a_run("parent"))
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            store.create_run(a_run("child"))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.update_run_state("parent", RunState.SUCCEEDED, ended_at=1001.0)
    assert {run.run_id: run.state for run in store.list_runs()} == {
        "parent": RunState.SUCCEEDED,
        "child": RunState.INTERRUPTED,  # recorded with the child's pid, now gone
    }
    store.close()


def test_the_flows_table_keeps_each_flows_latest_shape(db_path: Path) -> None:
    with SqliteStore(db_path) as store:
        operations = store.operations()
        assert operations.flow_shapes() == {}
        operations.note_flow({"flow": "served", "tasks": []})
        store.create_run(RunRecord(run_id="r1", flow_name="lakehouse", started_at=1.0))
        store.set_shape("r1", {"flow": "lakehouse", "tasks": [{"key": "a"}]})
        store.create_run(RunRecord(run_id="r2", flow_name="lakehouse", started_at=2.0))
        store.set_shape("r2", {"flow": "lakehouse", "tasks": [{"key": "a"}, {"key": "b"}]})
        shapes = operations.flow_shapes()
        assert sorted(shapes) == ["lakehouse", "served"]
        assert [task["key"] for task in shapes["lakehouse"][0]["tasks"]] == ["a", "b"]
        assert store.get_shape("r1") == {"flow": "lakehouse", "tasks": [{"key": "a"}]}
