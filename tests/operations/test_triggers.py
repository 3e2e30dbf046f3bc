"""Periodic and file-arrival triggers under serve's loop, on a fake clock and a real folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_serve_loop import FakeLauncher

from flowkit import FakeClock
from flowkit._operations.firing import FileArrivalFiring, scan
from flowkit._operations.serve import Server
from flowkit._operations.targets import Sources
from flowkit._store import SqliteStore

START = 1_800_000_000.0  # 2027-01-15


@pytest.fixture
def store(tmp_path: Path):
    with SqliteStore(tmp_path / "home" / "flowkit.db") as opened:
        yield opened


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    (folder / "present-at-first-serve.csv").write_text("old")
    return folder


def _flow_file(tmp_path: Path, trigger: str) -> str:
    path = tmp_path / "flows.py"
    path.write_text(
        "from flowkit import FileArrival, Flow, Periodic\n"
        f"flow = Flow('watched', trigger={trigger})\n"
        "flow.shell('a', 'true')\n"
    )
    return str(path)


class FileDropClock(FakeClock):
    """A fake clock that drops files into a folder at given (fake) times, as it passes them."""

    def __init__(self, folder: Path, drops: dict[float, list[str]]) -> None:
        super().__init__(start=START)
        self.folder = folder
        self.drops = dict(sorted(drops.items()))

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        for at in [at for at in self.drops if at <= self.time()]:
            for name in self.drops.pop(at):
                (self.folder / name).write_text(f"written at {at}")


def _serve(store, flows: str, clock: FakeClock, until: float) -> FakeLauncher:
    """Serve until ``until``; housekeeping hourly, so only fires and polls wake the loop."""
    launcher = FakeLauncher()
    server = Server(
        Sources([flows]), store.operations(), launcher, clock=clock, say=lambda _: None, tick=3600
    )
    server.serve(until=until)
    return launcher


def test_files_present_at_first_serve_never_fire(store, tmp_path, landing):
    flows = _flow_file(tmp_path, f"FileArrival({str(landing)!r}, wait_after_last_change=5)")
    launcher = _serve(store, flows, FakeClock(start=START), START + 120)
    assert launcher.launches == []


def test_a_batch_of_new_files_fires_once_after_the_folder_is_quiet(store, tmp_path, landing):
    flows = _flow_file(
        tmp_path,
        f"FileArrival({str(landing)!r}, wait_after_last_change=10, min_time_between_triggers=0)",
    )
    # three files over six seconds, a quiet spell, then one more file a minute later
    drops = {
        START + 5: ["a.csv"],
        START + 8: ["b.csv"],
        START + 11: ["c.csv"],
        START + 80: ["d.csv"],
    }
    clock = FileDropClock(landing, drops)
    launcher = _serve(store, flows, clock, START + 200)

    times = [launch.trigger.time - START for launch in launcher.launches]
    assert len(times) == 2  # one fire per batch
    assert 21 <= times[0] <= 27  # c.csv seen by +16 at the latest, then ten quiet seconds
    assert 90 <= times[1] <= 96
    assert {launch.trigger.type for launch in launcher.launches} == {"file_arrival"}
    assert {launch.trigger.file_arrival_location for launch in launcher.launches} == {
        os.path.abspath(landing)
    }


def test_min_time_between_triggers_spaces_the_fires(store, tmp_path, landing):
    flows = _flow_file(
        tmp_path,
        f"FileArrival({str(landing)!r}, wait_after_last_change=1, min_time_between_triggers=60)",
    )
    drops = {START + 5: ["a.csv"], START + 20: ["b.csv"], START + 30: ["c.csv"]}
    launcher = _serve(store, flows, FileDropClock(landing, drops), START + 200)

    times = [launch.trigger.time - START for launch in launcher.launches]
    assert len(times) == 2
    assert times[1] - times[0] >= 60  # b and c waited for the spacing, and fired together


def test_a_restart_neither_refires_nor_misses(store, tmp_path, landing):
    flows = _flow_file(
        tmp_path,
        f"FileArrival({str(landing)!r}, wait_after_last_change=2, min_time_between_triggers=0)",
    )
    first = _serve(store, flows, FileDropClock(landing, {START + 5: ["a.csv"]}), START + 60)
    assert len(first.launches) == 1
    # nothing serves while b.csv lands; a.csv is old news
    (landing / "b.csv").write_text("arrived while nothing served")
    second = _serve(store, flows, FakeClock(start=START + 1000), START + 1060)
    assert len(second.launches) == 1
    third = _serve(store, flows, FakeClock(start=START + 2000), START + 2060)
    assert third.launches == []  # nothing new: no fire


def test_a_changed_file_fires_and_a_deleted_one_does_not(store, tmp_path, landing):
    flows = _flow_file(
        tmp_path,
        f"FileArrival({str(landing)!r}, wait_after_last_change=1, min_time_between_triggers=0)",
    )
    _serve(store, flows, FakeClock(start=START), START + 5)
    os.utime(landing / "present-at-first-serve.csv", (START + 50, START + 50))
    changed = _serve(store, flows, FakeClock(start=START + 100), START + 130)
    assert len(changed.launches) == 1
    (landing / "present-at-first-serve.csv").unlink()
    deleted = _serve(store, flows, FakeClock(start=START + 200), START + 230)
    assert deleted.launches == []


def test_scan_reads_files_only_and_a_missing_folder_as_empty(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "file.txt").write_text("12345")
    assert list(scan(str(tmp_path))) == ["file.txt"]
    assert scan(str(tmp_path))["file.txt"][1] == 5
    assert scan(str(tmp_path / "missing")) == {}
    assert FileArrivalFiring.__doc__  # the rules are written down where they are kept


def test_a_periodic_trigger_fires_every_interval_from_when_it_was_first_served(store, tmp_path):
    flows = _flow_file(tmp_path, "Periodic(minutes=10)")
    launcher = _serve(store, flows, FakeClock(start=START), START + 3600)

    times = [launch.trigger.time - START for launch in launcher.launches]
    assert times == [600, 1200, 1800, 2400, 3000, 3600][: len(times)]
    assert len(times) in (5, 6)  # the sixth is due at the very end
    assert {launch.trigger.type for launch in launcher.launches} == {"periodic"}
    # a restart keeps the grid: the next fire is on it, not ten minutes after the restart
    again = _serve(store, flows, FakeClock(start=START + 3900), START + 4500)
    assert [launch.trigger.time - START for launch in again.launches] == [4200]
