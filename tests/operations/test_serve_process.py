"""flowkit serve as a real process: fires, one serve per home, pause, signals, kill -9."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proctools import processes_with, wait_until_gone

from flowkit import RunState
from flowkit._store import SqliteStore

FLOWS = """
import time
from pathlib import Path
from flowkit import Cron, FileArrival, Flow

ticker = Flow("ticker", schedule=Cron("*/2 * * * * ?"), max_concurrent_runs=5)
ticker.shell("say", "echo tick {{job.trigger.type}} {{job.trigger.time.iso_datetime}}")

slow = Flow("slow", schedule=Cron("*/3 * * * * ?", paused=True))

@slow.task
def nap():
    print("napping", flush=True)
    time.sleep(float(Path(__file__).with_name("nap").read_text()))

landing = Flow(
    "landing",
    trigger=FileArrival(str(Path(__file__).with_name("landing")), wait_after_last_change=1,
                        min_time_between_triggers=0),
)
landing.shell("count", "ls {{job.trigger.file_arrival.location}} | wc -l")
"""


@pytest.fixture
def served(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "landing").mkdir()
    (folder / "landing" / "old.csv").write_text("present before serve")
    (folder / "nap").write_text("3")
    path = folder / "served_flows.py"
    path.write_text(FLOWS)
    return path


def _flowkit(home: Path, *arguments: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowkit", "--home", str(home), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **options,
    )


class Serve:
    def __init__(self, home: Path, target: Path, log: Path) -> None:
        self.log = log
        self.sink = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flowkit", "--home", str(home), "serve", str(target)],
            stdout=self.sink,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, seconds: float = 20.0, count: int = 1) -> None:
        deadline = time.monotonic() + seconds
        while self.output.count(text) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"serve did not print {text!r} {count}x; it printed:\n{self.output}")
            time.sleep(0.05)

    def stop(self, number: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(number)
        code = self.process.wait(timeout=60)
        self.sink.close()
        return code


def _runs(home: Path, flow: str | None = None):
    with SqliteStore(home / "flowkit.db", read_only=True) as store:
        return store.list_runs(flow=flow)


def _running(home: Path, flow: str):
    """Wait until a run of ``flow`` is recorded running; that run."""
    deadline = time.monotonic() + 20
    while not (running := [run for run in _runs(home, flow) if run.state is RunState.RUNNING]):
        assert time.monotonic() < deadline, f"no run of {flow} started"
        time.sleep(0.05)
    return running[0]


def test_serve_fires_a_two_second_quartz_schedule_and_stops_cleanly(tmp_path, served):
    home = tmp_path / "home"
    serve = Serve(home, served, tmp_path / "serve.log")
    try:
        serve.wait_for("serving 3 flow(s)")
        assert "ticker  cron '*/2 * * * * ?' (UTC)  next " in serve.output
        assert "slow  cron '*/3 * * * * ?' (UTC)  paused" in serve.output
        serve.wait_for(") succeeded", count=3)
    finally:
        code = serve.stop(signal.SIGINT)
    assert code == 130
    runs = _runs(home, "ticker")
    assert len(runs) >= 3
    assert {run.trigger.type for run in runs} == {"cron"}
    finished = [run for run in runs if run.state is RunState.SUCCEEDED]
    # fired on the schedule: every scheduled time an even second, two seconds apart
    times = sorted(run.trigger.time for run in finished)
    assert all(moment % 2 == 0 for moment in times)
    assert all(later - earlier == 2 for earlier, later in itertools.pairwise(times))
    # started at (not long after) its time: the run process was ready ahead of it
    assert all(0 <= run.started_at - run.trigger.time < 2 for run in finished)
    assert _runs(home, "slow") == []  # declared paused
    assert wait_until_gone(str(served)) == []


def test_a_second_serve_of_the_home_exits_2_naming_the_first(tmp_path, served):
    home = tmp_path / "home"
    serve = Serve(home, served, tmp_path / "serve.log")
    try:
        serve.wait_for("serving 3 flow(s)")
        second = _flowkit(home, "serve", str(served))
        assert second.returncode == 2
        assert f"pid {serve.process.pid} " in second.stderr
        assert "one serve per home" in second.stderr
    finally:
        assert serve.stop(signal.SIGTERM) == 130
    assert wait_until_gone(str(served)) == []


def test_pause_and_resume_are_followed_by_a_running_serve(tmp_path, served):
    home = tmp_path / "home"
    serve = Serve(home, served, tmp_path / "serve.log")
    try:
        serve.wait_for(") succeeded")
        paused = _flowkit(home, "pause", "ticker")
        assert paused.returncode == 0
        serve.wait_for("paused ticker", seconds=5)
        time.sleep(0.5)  # a run started just before the pause may still be recorded
        count = len(_runs(home, "ticker"))
        time.sleep(4.5)  # two fire times pass
        assert len(_runs(home, "ticker")) == count
        assert _flowkit(home, "resume", "ticker").returncode == 0
        serve.wait_for("resumed ticker", seconds=5)
        serve.wait_for(
            "started a run of ticker", count=serve.output.count("started a run of ticker") + 1
        )
    finally:
        assert serve.stop() == 130
    listed = _flowkit(home, "schedule", str(served), "--next", "2")
    assert listed.returncode == 0
    assert "ticker  cron '*/2 * * * * ?' (UTC)  active" in listed.stdout


def test_file_arrival_under_serve_fires_once_per_batch_and_not_again_after_a_restart(
    tmp_path, served
):
    home = tmp_path / "home"
    landing = served.parent / "landing"
    _flowkit(home, "pause", "ticker")
    serve = Serve(home, served, tmp_path / "serve.log")
    try:
        serve.wait_for("serving 3 flow(s)")
        time.sleep(1.5)
        assert _runs(home, "landing") == []  # old.csv was there first
        for name in ("a.csv", "b.csv"):
            (landing / name).write_text("new")
        serve.wait_for("started a run of landing (file_arrival")
        serve.wait_for(") succeeded")
    finally:
        assert serve.stop() == 130
    runs = _runs(home, "landing")
    assert len(runs) == 1
    assert runs[0].trigger.file_arrival_location == str(landing)
    assert runs[0].state is RunState.SUCCEEDED

    again = Serve(home, served, tmp_path / "again.log")
    try:
        again.wait_for("serving 3 flow(s)")
        time.sleep(2.5)
    finally:
        assert again.stop() == 130
    assert len(_runs(home, "landing")) == 1  # nothing new arrived: no fire


def test_kill_9_of_serve_leaves_its_run_to_finish_and_frees_the_home(tmp_path, served):
    home = tmp_path / "home"
    _flowkit(home, "pause", "ticker")
    _flowkit(home, "resume", "slow")
    serve = Serve(home, served, tmp_path / "serve.log")
    try:
        serve.wait_for("started a run of slow")
        _running(home, "slow")
    finally:
        serve.stop(signal.SIGKILL)
    # the run goes on without serve, and finishes
    deadline = time.monotonic() + 30
    while any(run.state.is_live for run in _runs(home, "slow")):
        assert time.monotonic() < deadline, _runs(home, "slow")
        time.sleep(0.1)
    assert _runs(home, "slow")[-1].state is RunState.SUCCEEDED
    assert wait_until_gone(str(served), seconds=10) == []
    # the lease of the killed serve is free: a new serve starts
    _flowkit(home, "pause", "slow")
    again = Serve(home, served, tmp_path / "again.log")
    try:
        again.wait_for("serving 3 flow(s)")
    finally:
        assert again.stop() == 130


def test_kill_9_of_a_served_run_marks_it_interrupted_and_serve_goes_on(tmp_path, served):
    home = tmp_path / "home"
    (served.parent / "nap").write_text("30")
    _flowkit(home, "pause", "ticker")
    _flowkit(home, "resume", "slow")
    serve = Serve(home, served, tmp_path / "serve.log")
    try:
        serve.wait_for("started a run of slow")
        running = _running(home, "slow")
        os.kill(running.pid, signal.SIGKILL)
        serve.wait_for("ended with exit code -9")
        assert serve.process.poll() is None  # serve goes on
        # the killed run's slot is free: the next fire starts (max_concurrent_runs=1)
        (served.parent / "nap").write_text("0")
        serve.wait_for(") succeeded")
    finally:
        assert serve.stop() == 130
    states = {run.run_id: run.state for run in _runs(home, "slow")}
    assert states[running.run_id] is RunState.INTERRUPTED
    assert wait_until_gone(str(served), seconds=10) == []
    assert processes_with(str(served)) == []


def test_sigterm_cancels_a_running_served_run_cleanly(tmp_path, served):
    home = tmp_path / "home"
    (served.parent / "nap").write_text("30")
    _flowkit(home, "pause", "ticker")
    _flowkit(home, "resume", "slow")
    serve = Serve(home, served, tmp_path / "serve.log")
    try:
        serve.wait_for("started a run of slow")
        _running(home, "slow")
        time.sleep(0.5)  # the task is napping
    finally:
        assert serve.stop(signal.SIGTERM) == 130
    assert "stopping: cancelling" in serve.output
    states = [run.state for run in _runs(home, "slow")]
    assert RunState.CANCELLED in states
    assert not any(state.is_live for state in states)
    assert wait_until_gone(str(served), seconds=10) == []
