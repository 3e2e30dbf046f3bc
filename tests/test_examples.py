"""The examples leave nothing behind them but the run history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_files_example_leaves_no_temporary_folder_behind(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowkit",
            "--home",
            str(tmp_path / "home"),
            "run",
            str(EXAMPLES / "files.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TMPDIR": str(temporary)},
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "9 lines in 3 files" in completed.stdout
    assert list(temporary.iterdir()) == []


def _flowkit(home: Path, *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flowkit", "--home", str(home), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_the_scheduled_example_lists_its_fires_and_runs_as_serve_would(tmp_path):
    example = str(EXAMPLES / "scheduled.py")
    listed = _flowkit(tmp_path / "home", "schedule", example, "--next", "2")
    assert listed.returncode == 0, listed.stderr
    assert "nightly  cron '0 0 3 * * ?' (Europe/Amsterdam)  active" in listed.stdout
    assert listed.stdout.count(" 03:00:00+01:00") == 2  # winter time in Amsterdam
    assert "landing  files arriving in landing  active" in listed.stdout

    nightly = _flowkit(
        tmp_path / "home",
        "run",
        f"{example}:nightly",
        "--trigger",
        "cron",
        "--trigger-time",
        "2026-11-27T03:00:00+01:00",
    )
    assert nightly.returncode == 0, nightly.stdout + nightly.stderr
    assert "report for 2026-11-27, trigger cron: 14520 rows" in nightly.stdout

    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "orders.csv").write_text((EXAMPLES / "data" / "orders.csv").read_text())
    landing = _flowkit(tmp_path / "home", "run", f"{example}:landing", cwd=tmp_path)
    assert landing.returncode == 0, landing.stdout + landing.stderr
    assert "rows per file in landing: {'orders.csv': 2}" in landing.stdout


def test_the_alerts_example_alerts_only_when_there_are_no_rows(tmp_path):
    example = str(EXAMPLES / "alerts.py")
    home = tmp_path / "home"
    quiet = _flowkit(home, "run", example)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "alert    excluded" in quiet.stdout

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T1"
        alarmed = _flowkit(home, "run", example, "-p", "rows=0", "-p", f"webhook={url}")
    finally:
        server.shutdown()
        server.server_close()
    assert alarmed.returncode == 1
    assert "ingest found no rows" in alarmed.stderr
    assert [(body["event"], body["state"]) for body in received] == [("on_failure", "failed")]
    assert received[0]["failed_tasks"][0]["task"] == "alert"


def test_the_seed_lakehouse_runs_its_four_kinds_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    completed = _flowkit(home, "run", str(EXAMPLES / "seed_lakehouse" / "flow.py"), cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "cleaning 14520 rows" in completed.stdout
    assert "WARNING" not in completed.stdout
    assert (tmp_path / "warehouse.duckdb").exists()  # the working directory's warehouse

    from flowkit._store import open_store

    with open_store(home) as store:
        (run,) = store.list_runs()
        values = store.get_values(run.run_id)
        states = {name: task.state.value for name, task in store.get_tasks(run.run_id).items()}
    assert states == {
        "ingest": "succeeded",
        "clean": "succeeded",
        "metrics": "succeeded",
        "train": "succeeded",
        "alert": "excluded",
    }
    assert values["ingest"] == {"row_count": 14520}
    assert values["clean"] == {"clean_rows": 14520 - 150}  # every 97th order has no amount
    assert values["metrics"]["rows"] == 30
    assert values["metrics"]["day"] == "2026-11-23"
    assert isinstance(values["train"]["slope"], float)
