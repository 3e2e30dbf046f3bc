"""A recorded run of ``report_hostile`` for the report and ui tests.

The flow runs once per module, into a home of its own; each test gets a copy
of that home as its own ``FLOWKIT_HOME`` (the attempts' log paths pointed at
the copy), so a test may write to it without touching another's.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from recorded import run_flow

from flowkit._report.server import UiServer


@pytest.fixture(scope="module")
def _hostile_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("hostile") / "home"
    marker = home.parent / "marker"
    before = os.environ.get("FLOWKIT_HOME")
    os.environ["FLOWKIT_HOME"] = str(home)
    try:
        run_id = run_flow("report_hostile", "-p", f"marker={marker}")
    finally:
        if before is None:
            os.environ.pop("FLOWKIT_HOME", None)
        else:
            os.environ["FLOWKIT_HOME"] = before
    return home, run_id


@pytest.fixture
def hostile_run(
    _hostile_home: tuple[Path, str], flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """A finished run of ``report_hostile``: a retry, a condition, a child run, failures."""
    home, run_id = _hostile_home
    shutil.copytree(home, flowkit_home, dirs_exist_ok=True)
    with sqlite3.connect(flowkit_home / "flowkit.db") as db:
        db.execute(
            "UPDATE attempts SET log_path = replace(log_path, ?, ?)", (str(home), str(flowkit_home))
        )
    capsys.readouterr()
    return run_id


@pytest.fixture
def ui(flowkit_home: Path) -> Iterator[str]:
    """The ui over the test's home on a free loopback port, in a thread; its base URL."""
    server = UiServer("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.url.rstrip("/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
