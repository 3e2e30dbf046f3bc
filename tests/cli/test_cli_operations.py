"""schedule, pause and resume from the command line; runs and show list the trigger."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowkit._store import SqliteStore
from flowkit.cli import main

FLOWS = """
from flowkit import Cron, Flow, Periodic
nightly = Flow("nightly", schedule=Cron("30 2 * * *", timezone="America/New_York"))
nightly.shell("a", "true")
hourly = Flow("hourly", trigger=Periodic(hours=1))
hourly.shell("a", "true")
plain = Flow("plain")
plain.shell("a", "echo {{job.trigger.type}}")
"""


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    path = tmp_path / "flows.py"
    path.write_text(FLOWS)
    return path


def test_schedule_lists_scheduled_flows_with_their_next_fires(flows, capsys):
    assert main(["schedule", str(flows), "--next", "3"]) == 0
    out = capsys.readouterr().out
    assert "nightly  cron '30 2 * * *' (America/New_York)  active" in out
    assert out.count(":30:00-0") == 3  # three fires, as New York wall times
    assert "hourly  every 1h  active" in out
    assert "plain" not in out  # nothing fires it


def test_pause_and_resume_are_kept_in_the_home_and_shown(flows, capsys, flowkit_home):
    assert main(["pause", "nightly"]) == 0
    assert "paused nightly" in capsys.readouterr().out
    main(["schedule", str(flows)])
    assert "nightly  cron '30 2 * * *' (America/New_York)  paused" in capsys.readouterr().out
    assert main(["resume", "nightly"]) == 0
    main(["schedule", str(flows)])
    assert "(America/New_York)  active" in capsys.readouterr().out
    with SqliteStore(flowkit_home / "flowkit.db") as store:
        assert store.operations().paused_settings() == {"nightly": False}


def test_a_bad_flow_name_to_pause_is_a_usage_error(capsys):
    assert main(["pause", "no such flow"]) == 2
    assert "invalid" in capsys.readouterr().err


def test_schedule_reports_a_target_that_does_not_load(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    assert main(["schedule", str(broken)]) == 1
    captured = capsys.readouterr()
    assert "boom" in captured.err
    assert "no flow with a schedule or trigger" in captured.out


def test_runs_and_show_list_what_started_a_run(flows, capsys):
    target = f"{flows}:plain"
    assert main(["run", target, "--trigger", "backfill", "--trigger-time", "2026-11-01"]) == 0
    assert main(["run", target]) == 0
    capsys.readouterr()
    main(["runs"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["run", "flow", "state", "trigger"]
    assert [line.split()[3] for line in lines[1:]] == ["manual", "backfill"]
    run_id = lines[2].split()[0]
    main(["show", run_id])
    assert "trigger   backfill, scheduled 2026-11-01" in capsys.readouterr().out


def test_a_bad_trigger_time_is_a_usage_error(flows, capsys):
    assert main(["run", f"{flows}:plain", "--trigger-time", "soon"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
