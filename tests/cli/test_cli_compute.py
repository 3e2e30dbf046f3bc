"""Compute seconds and the cluster on screen: the summary of run and repair, and `flowkit show`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from strategies import ClusterExecutor, metered_flow

from flowkit import FakeClock
from flowkit._state import ClusterReport, RunState
from flowkit._store import AttemptRecord, RunRecord, SqliteStore, TaskRecord, open_store
from flowkit._store.liveness import this_host
from flowkit.cli import main
from flowkit.cli._render.history import format_cluster, format_compute
from flowkit.cli._render.summary import format_summary

EPHEMERAL = ClusterReport(
    address="ephemeral", ephemeral=True, workers=2, startup_seconds=1.25, lifetime_seconds=8.5
)
EXTERNAL = ClusterReport(
    address="tcp://10.0.0.5:8786",
    ephemeral=False,
    workers=1,
    startup_seconds=0.2,
    lifetime_seconds=125.0,
)
FLOWS = Path(__file__).parents[1] / "flows"


@pytest.fixture
def store(flowkit_home: Path) -> Iterator[SqliteStore]:
    """The default store of the test's FLOWKIT_HOME, which `flowkit show` reads."""
    opened = open_store()
    yield opened
    opened.close()


# -- the closing lines -------------------------------------------------------------------
def test_format_compute_counts_attempts() -> None:
    assert format_compute(11.0, 4) == "compute: 11.0s in 4 attempts"
    assert format_compute(0.5, 1) == "compute: 0.50s in 1 attempt"
    assert format_compute(125, 0) == "compute: 2m05s in 0 attempts"


def test_format_cluster_ephemeral_and_external() -> None:
    assert format_cluster(EPHEMERAL) == "cluster: ephemeral, 2 workers, up 8.50s (start-up 1.25s)"
    # An external cluster outlives the run: how long the run held it, not its uptime.
    assert format_cluster(EXTERNAL) == (
        "cluster: tcp://10.0.0.5:8786, 1 worker, used 2m05s (connecting 0.20s)"
    )


# -- the summary of `flowkit run` ----------------------------------------------------------
def test_the_summary_shows_each_tasks_compute_and_the_runs(clock: FakeClock) -> None:
    flow = metered_flow(clock)
    result = flow.run(executor="inline", clock=clock, store=False)

    assert format_summary(result, flow.plan()) == "\n".join(
        [
            "task    state      attempts  duration  compute  error",
            "flaky   succeeded         3     29.0s    9.00s",
            "steady  succeeded         1     2.00s    2.00s",
            "",
            "compute: 11.0s in 4 attempts",
            f"run {result.run_id} succeeded in 31.0s",
        ]
    )


@pytest.mark.parametrize(
    ("report", "line"),
    [
        (EPHEMERAL, "cluster: ephemeral, 2 workers, up 8.50s (start-up 1.25s)"),
        (EXTERNAL, "cluster: tcp://10.0.0.5:8786, 1 worker, used 2m05s (connecting 0.20s)"),
    ],
)
def test_the_summary_shows_the_cluster(clock: FakeClock, report: ClusterReport, line: str) -> None:
    flow = metered_flow(clock)
    result = flow.run(executor=ClusterExecutor(report), clock=clock, store=False)

    lines = format_summary(result, flow.plan()).splitlines()
    assert lines[-3:] == ["compute: 11.0s in 4 attempts", line, lines[-1]]
    assert lines[-1].startswith(f"run {result.run_id} succeeded in ")


def test_a_summary_without_a_cluster_has_no_cluster_line(clock: FakeClock) -> None:
    flow = metered_flow(clock)
    result = flow.run(executor="inline", clock=clock, store=False)
    assert "cluster" not in format_summary(result, flow.plan())


def test_flowkit_run_prints_the_compute_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(FLOWS / "cli_simple.py"), "--executor", "inline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"compute: \d+\.\d\ds in 2 attempts", lines[-2]), lines[-2]


def test_flowkit_repair_prints_the_compute_of_kept_and_rerun_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOWKIT_TEST_DIR", str(tmp_path))
    (tmp_path / "broken").touch()
    target = str(FLOWS / "history_repairable.py")
    assert main(["run", target, "--executor", "inline"]) == 1
    with open_store(create=False) as history:
        (run,) = history.list_runs()
    (tmp_path / "broken").unlink()
    capsys.readouterr()

    assert main(["repair", run.run_id, target, "--executor", "inline"]) == 0

    lines = capsys.readouterr().out.splitlines()
    start = max(index for index, line in enumerate(lines) if line.startswith("task "))
    rows = {row.split()[0]: row.split()[1:] for row in lines[start + 1 : lines.index("", start)]}
    # ingest and alert are kept with their first attempts; transform and report ran now.
    assert {name: row[:2] for name, row in rows.items()} == {
        "ingest": ["succeeded", "1"],
        "transform": ["succeeded", "1"],
        "report": ["succeeded", "1"],
        "alert": ["succeeded", "1"],
    }
    assert all(re.fullmatch(r"\d+\.\d\ds", row[3]) for row in rows.values()), rows
    assert re.fullmatch(r"compute: \d+\.\d\ds in 4 attempts", lines[-2]), lines[-2]


# -- flowkit show ------------------------------------------------------------------------
def show(run_id: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["show", run_id]) == 0
    return capsys.readouterr().out


def test_show_prints_each_tasks_compute_and_the_runs(
    clock: FakeClock, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    result = metered_flow(clock).run(executor="inline", clock=clock, store=store)

    out = show(result.run_id, capsys)

    assert "executor  inline" in out
    table, footer = out.split("\n\n")[1:3]
    assert table.splitlines() == [
        "task    state      attempts  duration  compute  error  values",
        "flaky   succeeded         3     29.0s    9.00s",
        "steady  succeeded         1     2.00s    2.00s",
    ]
    assert footer.splitlines() == ["compute: 11.0s in 4 attempts"]


def test_show_prints_the_cluster_a_run_held(
    clock: FakeClock, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = metered_flow(clock)
    result = flow.run(executor=ClusterExecutor(EPHEMERAL), clock=clock, store=store)

    out = show(result.run_id, capsys)

    assert "executor  clustered" in out
    assert out.rstrip("\n").splitlines()[-2:] == [
        "compute: 11.0s in 4 attempts",
        "cluster: ephemeral, 2 workers, up 8.50s (start-up 1.25s)",
    ]


def test_show_counts_every_attempt_of_every_pass(
    clock: FakeClock, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = {"steady": True}
    flow = metered_flow(clock, broken)
    first = flow.run(executor="inline", clock=clock, store=store)
    assert first.state is RunState.FAILED
    broken["steady"] = False
    repaired = flow.repair(first.run_id, executor="inline", clock=clock, store=store)
    assert repaired.compute_seconds == 11.0  # flaky kept with its 9s, steady's 2s now

    out = show(first.run_id, capsys)

    rows = {line.split()[0]: line.split() for line in out.split("\n\n")[1].splitlines()[1:]}
    assert rows["flaky"][1:5] == ["succeeded", "3", "29.0s", "9.00s"]
    assert rows["steady"][4] == "4.00s"  # its failed attempt of the first pass counts too
    assert out.split("\n\n")[2].splitlines() == [
        "compute: 13.0s in 5 attempts",
        "attempts by pass: run: 4, repair 1: 1",
    ]


def test_show_leaves_out_an_attempt_that_never_ended(
    store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.create_run(
        RunRecord(
            run_id="cut0ff",
            flow_name="killed",
            started_at=1000.0,
            pid=os.getpid(),
            hostname=this_host(),
        ),
        task_keys=["done", "cut"],
    )
    store.record_task(TaskRecord(run_id="cut0ff", task_key="done", state="succeeded", attempts=1))
    store.record_task(TaskRecord(run_id="cut0ff", task_key="cut", state="running", attempts=1))
    store.record_attempt(
        AttemptRecord(
            run_id="cut0ff",
            task_key="done",
            attempt=1,
            state="succeeded",
            started_at=1000.0,
            ended_at=1004.5,
        )
    )
    store.record_attempt(
        AttemptRecord(run_id="cut0ff", task_key="cut", attempt=1, started_at=1004.5)
    )
    store.update_run_state("cut0ff", RunState.INTERRUPTED, ended_at=1010.0)

    out = show("cut0ff", capsys)

    rows = {line.split()[0]: line.split() for line in out.split("\n\n")[1].splitlines()[1:]}
    assert rows["done"][4] == "4.50s"
    assert rows["cut"][4] == "-"
    assert "executor  -" in out  # recorded without one
    assert out.split("\n\n")[2].splitlines() == [
        "compute: 4.50s in 1 attempt (1 attempt without an end not counted)"
    ]
