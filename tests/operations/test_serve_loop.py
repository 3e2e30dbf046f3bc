"""serve's loop on a fake clock and a fake launcher: schedules over days take no time."""

from __future__ import annotations

import datetime
import os
import zoneinfo
from pathlib import Path

import pytest

from flowkit import FakeClock
from flowkit._errors import DefinitionError, ServeRefused
from flowkit._operations.launcher import Ended, Launch
from flowkit._operations.serve import Server
from flowkit._operations.targets import Sources
from flowkit._store import SqliteStore

FLOWS = Path(__file__).parent.parent / "flows"
AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
UTC = datetime.timezone.utc


class FakeLauncher:
    """Records what serve starts; every run ends at once, with exit code 0."""

    def __init__(self) -> None:
        self.launches: list[Launch] = []
        self._ended: list[Ended] = []
        self.withdrawn: list[str] = []
        self.stopped = False

    def start(self, launch: Launch) -> None:
        self.launches.append(launch)
        self._ended.append(Ended(launch=launch, exit_code=0, output=None))

    def ended(self) -> list[Ended]:
        ended, self._ended = self._ended, []
        return ended

    def running(self) -> int:
        return 0

    def withdraw(self, flow_name: str) -> int:
        self.withdrawn.append(flow_name)
        return 0

    def stop_all(self) -> None:
        self.stopped = True

    def fires(self, flow_name: str) -> list[datetime.datetime]:
        return [
            datetime.datetime.fromtimestamp(launch.trigger.time, tz=UTC)
            for launch in self.launches
            if launch.flow_name == flow_name
        ]


def _at(year, month, day, hour=0, minute=0, zone=AMSTERDAM) -> float:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=zone).timestamp()


@pytest.fixture
def store(tmp_path: Path):
    with SqliteStore(tmp_path / "home" / "flowkit.db") as opened:
        yield opened


def _server(store, clock, launcher, targets=None, lines=None, tick=3600.0) -> Server:
    """A serve whose housekeeping ticks hourly: days of fires take a few hundred wakes."""
    sources = Sources(targets or [str(FLOWS / "serve_dst.py")])
    say = lines.append if lines is not None else (lambda line: None)
    return Server(sources, store.operations(), launcher, clock=clock, say=say, tick=tick)


@pytest.mark.parametrize(
    ("start", "change_day", "offsets"),
    [
        # spring forward: 02:30 does not exist on the 29th, and fires at 03:00 CEST
        ((2026, 3, 25), 29, ("+01:00",) * 3 + ("+02:00",) * 4),
        # fall back: 02:30 occurs twice on the 25th, and fires once, at the first
        ((2026, 10, 21), 25, ("+02:00",) * 4 + ("+01:00",) * 3),
    ],
)
def test_a_week_across_a_dst_change_fires_a_daily_job_once_every_local_day(
    store, start, change_day, offsets
):
    clock = FakeClock(start=_at(*start, 12))
    launcher = FakeLauncher()
    _server(store, clock, launcher).serve(until=clock.time() + 7 * 86400)

    fires = [fire.astimezone(AMSTERDAM) for fire in launcher.fires("daily_0230")]
    days = [fire.date() for fire in fires]
    assert len(fires) == 7  # none missed, none doubled
    first_day = datetime.date(*start) + datetime.timedelta(days=1)
    assert days == [first_day + datetime.timedelta(days=n) for n in range(7)]
    for fire, offset in zip(fires, offsets, strict=True):
        assert fire.isoformat()[-6:] == offset
        expected_time = "03:00" if fire.day == change_day and start[1] == 3 else "02:30"
        assert fire.strftime("%H:%M") == expected_time
    assert all(launch.trigger.type == "cron" for launch in launcher.launches)
    # each run was started ahead of its time, to wait for it
    assert all(launch.not_before == launch.trigger.time for launch in launcher.launches)


def test_an_hourly_job_fires_once_per_hour_also_in_the_repeated_hour(store):
    clock = FakeClock(start=_at(2026, 10, 24, 23))
    launcher = FakeLauncher()
    _server(store, clock, launcher).serve(until=_at(2026, 10, 25, 6, 30))

    fires = launcher.fires("hourly_ams")
    # 00:00 .. 06:00 local: seven wall hours, 02:00 once (CEST), none of it twice
    assert [fire.astimezone(AMSTERDAM).strftime("%H:%M%z") for fire in fires] == [
        "00:00+0200",
        "01:00+0200",
        "02:00+0200",
        "03:00+0100",
        "04:00+0100",
        "05:00+0100",
        "06:00+0100",
    ]
    assert len(set(fires)) == len(fires)


def test_the_loop_sleeps_until_the_next_fire_or_tick_never_shorter(store):
    clock = FakeClock(start=_at(2026, 6, 1, 12, 30))
    launcher = FakeLauncher()
    _server(store, clock, launcher, tick=1.0).serve(until=clock.time() + 3600)

    # over an hour: one wake per second at most (the housekeeping tick), never a spin
    assert len(clock.sleeps) <= 3600 + 2
    assert min(clock.sleeps) > 0
    assert len(launcher.fires("hourly_ams")) == 1


def test_a_restarted_serve_skips_fires_it_missed_and_says_so(store):
    launcher = FakeLauncher()
    clock = FakeClock(start=_at(2026, 6, 1, 12))
    _server(store, clock, launcher).serve(until=_at(2026, 6, 2, 12))
    assert len(launcher.fires("daily_0230")) == 1
    # nothing serves for three days; then serve starts again
    lines: list[str] = []
    later = FakeClock(start=_at(2026, 6, 5, 12))
    again = FakeLauncher()
    _server(store, later, again, lines=lines).serve(until=_at(2026, 6, 6, 12))

    assert [fire.astimezone(AMSTERDAM).day for fire in again.fires("daily_0230")] == [6]
    assert any("skipped 3 fire(s) missed" in line and "daily_0230" in line for line in lines)


def test_catchup_latest_runs_the_latest_missed_fire_once(store, tmp_path):
    flow_file = tmp_path / "catchup.py"
    flow_file.write_text(
        "from flowkit import Cron, Flow\n"
        "flow = Flow('catching', schedule=Cron('0 6 * * *', catchup='latest'))\n"
        "flow.shell('a', 'true')\n"
    )
    launcher = FakeLauncher()
    _server(
        store, FakeClock(start=_at(2026, 6, 1, 12, zone=UTC)), launcher, [str(flow_file)]
    ).serve(until=_at(2026, 6, 2, 12, zone=UTC))
    again = FakeLauncher()
    _server(store, FakeClock(start=_at(2026, 6, 5, 12, zone=UTC)), again, [str(flow_file)]).serve(
        until=_at(2026, 6, 5, 13, zone=UTC)
    )

    fires = again.fires("catching")
    assert fires == [datetime.datetime(2026, 6, 5, 6, tzinfo=UTC)]  # the latest missed, once
    assert again.launches[0].not_before is None  # late already: it starts at once


def test_a_paused_flow_does_not_fire_and_resumed_fires_again(store):
    clock = FakeClock(start=_at(2026, 6, 1, 12))
    launcher = FakeLauncher()
    server = _server(store, clock, launcher)
    store.operations().set_paused("daily_0230", paused=True)
    server.serve(until=_at(2026, 6, 3, 12))
    assert launcher.fires("daily_0230") == []
    assert len(launcher.fires("hourly_ams")) == 48  # the other flow went on

    store.operations().set_paused("daily_0230", paused=False)
    _server(store, clock, launcher).serve(until=_at(2026, 6, 4, 12))
    # resumed: the next fire runs; the two fires passed while paused do not
    assert [fire.astimezone(AMSTERDAM).day for fire in launcher.fires("daily_0230")] == [4]


def test_a_second_serve_of_one_home_is_refused_naming_the_first(store):
    store.operations().take_lease("serve")  # this process serves
    other_clock = FakeClock(start=_at(2026, 6, 1, 12))
    with SqliteStore(store.path) as second_store:
        server = _server(second_store, other_clock, FakeLauncher())
        # a lease is per process: this process holds it, so pretend to be another one
        second_store.operations().release_lease("serve")
        second_store.operations().take_lease("serve", pid=1)
        with pytest.raises(ServeRefused, match="pid 1 "):
            server.serve(until=other_clock.time() + 10)


def test_a_changed_flow_file_is_loaded_again_and_its_new_schedule_followed(store, tmp_path):
    flow_file = tmp_path / "changing.py"
    flow_file.write_text(
        "from flowkit import Cron, Flow\n"
        "flow = Flow('changing', schedule=Cron('0 6 * * *'))\n"
        "flow.shell('a', 'true')\n"
    )
    lines: list[str] = []
    launcher = FakeLauncher()

    class EditingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if self.time() >= _at(2026, 6, 2, 12, zone=UTC) and "18 *" not in flow_file.read_text():
                flow_file.write_text(flow_file.read_text().replace("0 6 * * *", "0 18 * * *"))
                os.utime(flow_file, (self.time(), self.time()))

    clock = EditingClock(start=_at(2026, 6, 1, 12, zone=UTC))
    _server(store, clock, launcher, [str(flow_file)], lines).serve(
        until=_at(2026, 6, 4, 0, zone=UTC)
    )

    hours = [(fire.day, fire.hour) for fire in launcher.fires("changing")]
    assert hours == [(2, 6), (2, 18), (3, 18)]
    assert "reloaded changing" in lines


def test_a_flow_file_that_breaks_is_reported_and_the_others_still_fire(store, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written file')\n")
    lines: list[str] = []
    launcher = FakeLauncher()
    targets = [str(broken), str(FLOWS / "serve_dst.py")]
    clock = FakeClock(start=_at(2026, 6, 1, 12))
    _server(store, clock, launcher, targets, lines).serve(until=_at(2026, 6, 2, 12))

    assert any("cannot serve" in line and "half-written file" in line for line in lines)
    assert len(launcher.fires("daily_0230")) == 1


def test_serving_targets_that_all_fail_to_load_is_an_error_not_an_idle_serve(store, tmp_path):
    server = _server(store, FakeClock(), FakeLauncher(), [str(tmp_path / "missing.py")])
    with pytest.raises(DefinitionError, match="does not exist"):
        server.serve(until=FakeClock().time() + 10)
    # the home is free again for the next serve
    assert store.operations().take_lease("serve", pid=1) is None


def test_served_flows_are_remembered_for_the_ui_before_they_ever_run(store):
    clock = FakeClock(start=_at(2026, 3, 25, 12))
    _server(store, clock, FakeLauncher()).serve(until=clock.time() + 1)
    shapes = store.operations().flow_shapes()
    assert {"daily_0230", "hourly_ams"} <= set(shapes)
    schedule = shapes["daily_0230"][0]["schedule"]
    assert (schedule["type"], schedule["timezone"]) == ("cron", "Europe/Amsterdam")
