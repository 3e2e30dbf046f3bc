"""flowkit backfill: one run per slot, trigger backfill, the slot as {{job.trigger.time.*}}."""

from __future__ import annotations

import datetime
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest

from flowkit import Cron, DefinitionError
from flowkit._operations.backfill import parse_every, parse_moment, slots
from flowkit._store import SqliteStore

UTC = datetime.timezone.utc
AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")


def _day(day: int, hour: int = 0, zone=UTC) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, tzinfo=zone)


def test_slots_every_interval_include_both_ends():
    every = parse_every("1d")
    assert slots(None, _day(1), _day(3), every) == [_day(1), _day(2), _day(3)]
    assert slots(None, _day(1), _day(1, 18), parse_every("6h")) == [
        _day(1, 0),
        _day(1, 6),
        _day(1, 12),
        _day(1, 18),
    ]


def test_without_every_the_slots_are_the_schedules_fires_in_the_range():
    nightly = Cron("0 0 3 * * ?", timezone="Europe/Amsterdam")
    found = slots(nightly, _day(1, zone=AMSTERDAM), _day(3, 23, zone=AMSTERDAM), None)
    assert [slot.astimezone(AMSTERDAM).strftime("%d %H:%M") for slot in found] == [
        "01 03:00",
        "02 03:00",
        "03 03:00",
    ]
    # a fire exactly at the start is in the range
    at_start = slots(nightly, _day(2, 3, zone=AMSTERDAM), _day(2, 4, zone=AMSTERDAM), None)
    assert len(at_start) == 1


def test_without_every_or_schedule_a_slot_is_a_day():
    assert len(slots(None, _day(1), _day(7), None)) == 7


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1w", 604800)]
)
def test_every_reads_a_number_and_a_unit(text, seconds):
    assert parse_every(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0d", "1y", "d", "1.5"])
def test_a_bad_every_is_a_clear_error(text):
    with pytest.raises(DefinitionError, match="--every"):
        parse_every(text)


def test_dates_without_an_offset_are_wall_times_in_the_zone_and_the_range_must_go_forward():
    assert parse_moment("2026-11-01", AMSTERDAM, option="--start") == _day(1, zone=AMSTERDAM)
    with pytest.raises(DefinitionError, match="--start 'yesterday'"):
        parse_moment("yesterday", UTC, option="--start")
    with pytest.raises(DefinitionError, match="before --start"):
        slots(None, _day(3), _day(1), None)


FLOW = """
from flowkit import Flow
daily = Flow("daily_report")
daily.shell("report", "echo report for {{job.trigger.time.iso_date}} by {{job.trigger.type}}")
"""


def test_a_backfill_runs_each_slot_as_its_own_run_grouped_under_one_id(tmp_path: Path):
    flow_file = tmp_path / "daily.py"
    flow_file.write_text(FLOW)
    home = tmp_path / "home"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowkit",
            "--home",
            str(home),
            "backfill",
            str(flow_file),
            "--start",
            "2026-11-01",
            "--end",
            "2026-11-03",
            "--max-concurrent",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "3 slot(s)" in completed.stdout
    assert "3 of 3 succeeded" in completed.stdout

    with SqliteStore(home / "flowkit.db", read_only=True) as store:
        runs = store.list_runs()
        logs = {
            run.trigger.time: Path(store.get_attempts(run.run_id)[0].log_path).read_text()
            for run in runs
        }
    assert len(runs) == 3
    assert {run.trigger.type for run in runs} == {"backfill"}
    assert len({run.trigger.backfill_id for run in runs}) == 1
    expected = {
        _day(day).timestamp(): f"report for 2026-11-0{day} by backfill\n" for day in (1, 2, 3)
    }
    assert logs == expected
    listed = subprocess.run(
        [sys.executable, "-m", "flowkit", "--home", str(home), "runs"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.count(f"backfill {runs[0].trigger.backfill_id[:8]}") == 3
