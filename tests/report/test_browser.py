"""The report and the ui in a real browser: headless Chromium (Debian's) driven by Playwright.

Playwright is given the system's binary (``executable_path``): nothing is
downloaded. Screenshots are kept in ``$FLOWKIT_TEST_ARTIFACTS`` (default
``test-artifacts/`` at the repository's root).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recorded import FLOWS, run_flow

from flowkit._state import RunState
from flowkit._store import open_store
from flowkit.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(
    os.environ.get("FLOWKIT_TEST_ARTIFACTS") or Path(__file__).parents[2] / "test-artifacts"
)
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[test]' installs it")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH: `apt-get install chromium` (as .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    try:
        yield opened
    finally:
        context.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def write_report(run_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    target = tmp_path / "report.html"
    assert main(["report", run_id, "-o", str(target)]) == 0
    capsys.readouterr()
    return target


def test_hostile_output_runs_nothing(
    page: Any, hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = write_report(hostile_run, tmp_path, capsys)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    for details in page.query_selector_all("details.task"):
        details.evaluate("element => { element.open = true; }")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 1  # flowkit's own, nothing injected
    assert page.query_selector_all("img") == []
    assert page.query_selector_all('a[href^="javascript:"]') == []
    assert "<script>window.__pwned=1</script>" in page.text_content("#task-ingest pre.log")
    assert page.dialogs == []
    assert errors == []
    screenshot(page, "report-hostile")


def test_fifty_tasks_fit_the_viewport_without_overlap(
    page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = run_flow("report_fifty", "--executor", "inline")
    report = write_report(run_id, tmp_path, capsys)
    page.goto(report.as_uri())
    page.eval_on_selector("#dag", "element => element.scrollIntoView()")
    boxes = [
        node.query_selector("rect").bounding_box() for node in page.query_selector_all("g.node")
    ]
    assert len(boxes) == 50
    for box in boxes:
        assert box["x"] >= 0
        assert box["y"] >= 0
        assert box["x"] + box["width"] <= VIEWPORT["width"]
        assert box["y"] + box["height"] <= VIEWPORT["height"]
        assert box["width"] > 20  # scaled, still a box one can click
    for a, b in itertools.combinations(boxes, 2):
        apart = (
            a["x"] + a["width"] <= b["x"]
            or b["x"] + b["width"] <= a["x"]
            or a["y"] + a["height"] <= b["y"]
            or b["y"] + b["height"] <= a["y"]
        )
        assert apart, (a, b)
    screenshot(page, "report-fifty-tasks", full_page=False)


def test_clicking_a_task_opens_its_log(
    page: Any, hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = write_report(hostile_run, tmp_path, capsys)
    page.goto(report.as_uri())
    details = page.locator("details#task-load")
    assert details.evaluate("element => element.open") is False
    page.click('g.node[data-task="load"] a')
    page.wait_for_function("document.getElementById('task-load').open")
    assert page.locator("details#task-load pre.log").is_visible()
    assert "loaded" in page.inner_text("details#task-load pre.log")
    assert "ValueError" in page.inner_text("details#task-load")  # its failed first attempt
    # The table sorts by duration, longest first, on a click.
    page.click("table.tasks th:has-text('duration')")
    durations = page.eval_on_selector_all(
        "table.tasks tbody tr td:nth-child(6)", "cells => cells.map(c => +c.dataset.value)"
    )
    assert durations == sorted(durations, reverse=True)
    screenshot(page, "report")


def test_the_ui_run_page_follows_a_live_run(
    page: Any, ui: str, tmp_path: Path, flowkit_home: Path
) -> None:
    gate = tmp_path / "gate"
    environment = {**os.environ, "REPORT_GATE": str(gate), "FLOWKIT_HOME": str(flowkit_home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit", "run", str(FLOWS / "report_gated.py")],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_id = _running_run(flowkit_home)
        page.goto(f"{ui}/runs/{run_id}")
        page.wait_for_selector('g.node[data-task="gated"][data-state="running"]', timeout=10_000)
        assert page.get_attribute("#run-state", "data-state") == "running"
        screenshot(page, "ui-live-running", full_page=False)
        gate.write_text("open")
        page.wait_for_selector('#run-state[data-state="succeeded"]', timeout=15_000)
        assert page.get_attribute('g.node[data-task="gated"]', "data-state") == "succeeded"
        assert page.evaluate("document.body.dataset.live") == "0"  # it stops asking
        screenshot(page, "ui-live-succeeded", full_page=False)
        assert process.wait(timeout=20) == 0
    finally:
        gate.write_text("open")
        if process.poll() is None:
            process.kill()
            process.wait()


def _running_run(home: Path) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (home / "flowkit.db").exists():
            with open_store(home) as store:
                runs = store.list_runs(state=RunState.RUNNING)
                if runs and store.get_tasks(runs[0].run_id)["first"].state.value == "succeeded":
                    return runs[0].run_id
        time.sleep(0.05)
    msg = "the gated run did not start within 20 s"
    raise AssertionError(msg)
