"""``flowkit ui``: its routes and JSON API over the store, 404s, traversal, binding, shutdown."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from flowkit._report.server import is_loopback
from flowkit._state import RunState
from flowkit._store import AttemptRecord, RunRecord, open_store
from flowkit._store.liveness import this_host


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


def test_the_api_lists_runs_and_answers_one_from_the_store(ui: str, hostile_run: str) -> None:
    status, body, headers = get(f"{ui}/api/runs")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    listed = json.loads(body)
    assert hostile_run in [run["run_id"] for run in listed["runs"]]
    assert listed["next_offset"] is None
    status, body, _ = get(f"{ui}/api/runs/{hostile_run}")
    assert status == 200
    run = json.loads(body)
    with open_store() as store:
        stored = store.get_tasks(hostile_run)
    assert run["state"] == "failed"
    assert {task["task_key"]: task["state"] for task in run["tasks"]} == {
        key: task.state.value for key, task in stored.items()
    }
    load = next(task for task in run["tasks"] if task["task_key"] == "load")
    assert [attempt["state"] for attempt in load["attempts"]] == ["failed", "succeeded"]
    assert load["depends_on"] == [{"task": "check", "outcome": True}]


def test_runs_page_and_api_page_through_the_history(ui: str, flowkit_home: Path) -> None:
    with open_store() as store, store.batch():
        for number in range(120):
            store.create_run(
                RunRecord(
                    run_id=f"run-{number:03d}",
                    flow_name="even" if number % 2 == 0 else "odd",
                    started_at=1000.0 + number,
                    ended_at=1001.0 + number,
                    state=RunState.SUCCEEDED if number % 3 else RunState.FAILED,
                    pid=os.getpid(),
                    hostname=this_host(),
                )
            )
    first = json.loads(get(f"{ui}/api/runs?limit=50")[1])
    assert [run["run_id"] for run in first["runs"]][:2] == ["run-119", "run-118"]
    assert first["next_offset"] == 50
    last = json.loads(get(f"{ui}/api/runs?limit=50&offset=100")[1])
    assert len(last["runs"]) == 20
    assert last["next_offset"] is None
    failed_odd = json.loads(get(f"{ui}/api/runs?flow=odd&state=failed")[1])["runs"]
    expected = [f"run-{n:03d}" for n in range(119, -1, -1) if n % 2 and not n % 3]
    assert [run["run_id"] for run in failed_odd] == expected
    status, page, _ = get(f"{ui}/?flow=even&page=2")
    assert status == 200
    shown = re.findall(r'data-run="([^"]+)"', page)
    assert shown == [f"run-{n:03d}" for n in range(118, -1, -2)][50:60]
    assert 'rel="prev" href="/?flow=even&amp;page=1"' in page
    assert 'rel="next"' not in page


def test_a_run_page_is_its_report_with_links_to_whole_logs(ui: str, hostile_run: str) -> None:
    status, page, headers = get(f"{ui}/runs/{hostile_run}")
    assert status == 200
    assert 'data-live="0"' in page
    assert "connect-src &#39;self&#39;" in page  # its own address, to follow a live run
    assert headers["X-Content-Type-Options"] == "nosniff"
    log_link = f"/runs/{hostile_run}/tasks/ingest/logs"
    assert f'href="{log_link}"' in page
    status, log, headers = get(f"{ui}{log_link}")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "<script>window.__pwned=1</script>" in log  # text/plain: shown, never run
    assert "\x1b" not in log
    assert "\\x1b[31mred" in log


@pytest.mark.parametrize(
    "path",
    [
        "/runs/nosuchrun",
        "/api/runs/nosuchrun",
        "/nothing/here",
        "/runs/RUN/tasks/nosuchtask/logs",
        "/runs/RUN/tasks/..%2f..%2f..%2fetc%2fpasswd/logs",
        "/runs/..%2f..%2fflowkit.db",
        "/runs/RUN/tasks/ingest/logs/../../../../flowkit.db",
        "/static/../../etc/passwd",
    ],
)
def test_unknown_ids_and_traversal_are_a_404_page(ui: str, hostile_run: str, path: str) -> None:
    status, page, headers = get(ui + path.replace("RUN", hostile_run))
    assert status == 404
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "root:" not in page
    assert "SQLite format" not in page
    assert "<h1>Not found</h1>" in page


def test_a_log_outside_the_home_is_never_served(ui: str, hostile_run: str, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    with open_store() as store:
        store.record_attempt(
            AttemptRecord(run_id=hostile_run, task_key="after", attempt=9, log_path=str(outside))
        )
    status, page, _ = get(f"{ui}/runs/{hostile_run}/tasks/after/logs")
    assert status == 404
    assert "top secret" not in page
    assert "top secret" not in get(f"{ui}/runs/{hostile_run}")[1]


def test_a_request_for_another_host_is_refused(ui: str, hostile_run: str) -> None:
    status, _, _ = get(f"{ui}/api/runs", headers={"Host": "attacker.example:8787"})
    assert status == 421
    assert get(f"{ui}/api/runs", headers={"Host": "localhost"})[0] == 200


@pytest.mark.parametrize("query", ["page=abc", "state=exploded", "limit=-1", "offset=x"])
def test_a_bad_query_is_a_400_page_that_says_why(ui: str, query: str) -> None:
    path = "/api/runs" if query.startswith(("limit", "offset")) else "/"
    status, page, _ = get(f"{ui}{path}?{query}")
    assert status == 400
    assert "<h1>Bad request</h1>" in page
    assert "Traceback" not in page


def test_only_reading_methods_are_answered(ui: str) -> None:
    host, port = ui.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("POST", "/api/runs", body=b"{}")
    assert connection.getresponse().status == 501
    connection.close()


def test_the_flows_page_shows_schedules_paused_state_and_next_fire(
    ui: str, flowkit_home: Path
) -> None:
    with open_store() as store:
        operations = store.operations()
        operations.note_flow(
            {
                "flow": "nightly",
                "tasks": [{"key": "a"}],
                "schedule": {
                    "type": "cron",
                    "describe": "cron '0 3 * * *' (UTC)",
                    "paused": False,
                    "expression": "0 3 * * *",
                    "timezone": "UTC",
                },
            }
        )
        operations.note_flow({"flow": "adhoc", "tasks": [], "schedule": None, "trigger": None})
        operations.note_flow(
            {
                "flow": "held",
                "tasks": [],
                "trigger": {"type": "periodic", "describe": "every 1h", "paused": False},
            }
        )
        operations.set_paused("held", paused=True)
    status, page, _ = get(f"{ui}/flows")
    assert status == 200
    rows = dict(re.findall(r'<tr data-flow="([^"]+)">(.*?)</tr>', page))
    assert sorted(rows) == ["adhoc", "held", "nightly"]
    assert "cron &#39;0 3 * * *&#39; (UTC)" in rows["nightly"]
    assert re.search(r"\d{4}-\d\d-\d\d 03:00:00 UTC", rows["nightly"])
    assert "<td>paused</td>" in rows["held"]


def test_loopback_names() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.10")


def _start_ui(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowkit", "ui", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_stops_the_ui_cleanly(flowkit_home: Path) -> None:
    process = _start_ui()
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
        assert url, line
        assert get(url[1])[0] == 200  # no runs yet: an empty list, not an error
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "stopped" in out
    assert "Traceback" not in err
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url[1], timeout=2)


def test_binding_beyond_loopback_warns_that_there_is_no_authentication(
    flowkit_home: Path,
) -> None:
    process = _start_ui("--host", "0.0.0.0")
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert "serving http://0.0.0.0:" in line
        time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "not loopback, with no authentication" in err
