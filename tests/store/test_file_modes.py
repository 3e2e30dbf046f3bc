"""Everything flowkit writes under its home is private: files 0600, the folders it makes 0700."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowkit import Flow
from flowkit._home import make_private_folder, write_private_file
from flowkit._store import SqliteStore
from flowkit.cli import main

FLOW = """
from flowkit import Flow, task_values

flow = Flow("private")


@flow.task
def produce():
    print("a line for the log", flush=True)
    task_values.set("rows", 3)
    return {"rows": [1, 2, 3]}


@flow.task(depends_on=[produce])
def consume(produce):
    print("consumed", produce, flush=True)
"""


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most users have: without flowkit's care, files 0644 and folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(home: Path) -> dict[str, int]:
    return {
        str(path.relative_to(home)): stat.S_IMODE(path.stat().st_mode)
        for path in sorted(home.rglob("*"))
    }


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_run_and_its_repair_leave_only_private_files_in_an_open_home(
    tmp_path: Path, executor: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if executor == "dask":  # the session's cluster, as the other dask tests use
        monkeypatch.setenv("FLOWKIT_DASK_ADDRESS", request.getfixturevalue("dask_cluster").address)
    home = tmp_path / "home"
    home.mkdir(mode=0o755)  # an existing home anyone may read: --home ~/work
    flow_file = tmp_path / "private_flow.py"
    flow_file.write_text(FLOW)
    assert main(["--home", str(home), "run", str(flow_file), "--executor", executor]) == 0
    (run_id,) = [path.name for path in (home / "results").iterdir()]
    assert main(["--home", str(home), "repair", run_id, "--task", "produce"]) == 0

    found = modes(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o755  # the user's folder, left as it was
    kinds = {
        "store": "flowkit.db",
        "log": f"logs/{run_id}/produce.1.log",
        "repair log": f"logs/{run_id}/repair-1/produce.1.log",
        "result": f"results/{run_id}/produce.pkl",
    }
    for kind, name in kinds.items():
        assert name in found, f"no {kind} at {name}: {sorted(found)}"
    loose = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (home / name).is_dir() else 0o600)
    }
    assert loose == {}


def test_a_new_store_and_its_folders_are_private_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "made" / "by" / "flowkit" / "flowkit.db"
    with SqliteStore(path) as store:
        store.list_runs()
        found = {name: oct(mode) for name, mode in modes(tmp_path).items()}
    assert found["made"] == found["made/by"] == found["made/by/flowkit"] == oct(0o700)
    files = {name: mode for name, mode in found.items() if name.startswith("made/by/flowkit/")}
    assert set(files) >= {"made/by/flowkit/flowkit.db", "made/by/flowkit/flowkit.db-wal"}
    assert set(files.values()) == {oct(0o600)}  # the database, its -wal and -shm


def test_private_folders_and_files_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0o000)
    folder = make_private_folder(tmp_path / "a" / "b")
    write_private_file(folder / "value.pkl", b"data")
    write_private_file(folder / "value.pkl", b"again")  # replaced whole, still private
    assert modes(tmp_path) == {"a": 0o700, "a/b": 0o700, "a/b/value.pkl": 0o600}
    assert (folder / "value.pkl").read_bytes() == b"again"


def test_a_return_value_kept_by_the_library_is_private(tmp_path: Path) -> None:
    flow = Flow("returns")

    @flow.task
    def produce():
        return 42

    store = SqliteStore(tmp_path / "home" / "flowkit.db")
    result = flow.run(executor="inline", store=store, echo_output=False)
    kept = tmp_path / "home" / "results" / result.run_id / "produce.pkl"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(kept.parent.parent.stat().st_mode) == 0o700


def test_a_home_flowkit_creates_is_private_too(tmp_path: Path) -> None:
    flow_file = tmp_path / "private_flow.py"
    flow_file.write_text(FLOW)
    home = tmp_path / "new" / "home"
    assert main(["--home", str(home), "run", str(flow_file), "--executor", "local"]) == 0
    found = modes(tmp_path)
    folders = {name: mode for name, mode in found.items() if (tmp_path / name).is_dir()}
    assert {"new", "new/home", "new/home/logs", "new/home/results"} <= set(folders)
    assert set(folders.values()) == {0o700}
    files = {name: mode for name, mode in found.items() if name.startswith("new/")}
    assert {mode for name, mode in files.items() if name not in folders} == {0o600}
