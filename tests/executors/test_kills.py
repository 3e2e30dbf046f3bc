"""Stopping attempts: timeouts and cancels of realistic tasks (printed, wrote, started a child)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from proctools import processes_with, wait_until_gone

from flowkit import Flow, RunState, TaskState, task_values


def _sleeper(marker: str, seconds: int = 300) -> str:
    return f"{sys.executable} -c 'import time; time.sleep({seconds})' {marker}"


def test_a_timed_out_task_that_printed_and_started_a_child_is_timed_out_and_retried(
    marker, isolating, tmp_path
):
    flow = Flow("printed_then_hung")

    @flow.task(timeout=1, retries=1, retry_on_timeout=True)
    def chatty():
        print("starting", flush=True)
        (tmp_path / f"wrote.{os.getpid()}").write_text("x")
        subprocess.Popen(_sleeper(marker), shell=True)
        time.sleep(30)

    @flow.task(depends_on=[chatty], run_if="all_done")
    def report():
        return "ran"

    result = flow.run(executor=isolating(grace_period=0.5))

    assert result.tasks["chatty"].state is TaskState.TIMED_OUT
    assert result.tasks["chatty"].attempts == 2
    assert result.tasks["report"].state is TaskState.SUCCEEDED
    assert result.state is RunState.SUCCEEDED_WITH_FAILURES  # the all_done leaf succeeded
    assert len(list(tmp_path.glob("wrote.*"))) == 2
    assert wait_until_gone(marker) == []


def test_a_shell_step_that_printed_is_timed_out(marker, isolating):
    flow = Flow("shell_printed_then_hung")
    flow.shell("hangs", f"echo starting; {_sleeper(marker)}", timeout=1)

    result = flow.run(executor=isolating(grace_period=0.5))

    assert result.tasks["hangs"].state is TaskState.TIMED_OUT
    assert result.state is RunState.FAILED
    assert processes_with(marker) == []


def test_many_printing_timeouts_close_only_their_own_log_files(marker, isolating):
    # A descriptor closed twice may close one another attempt opened meanwhile: every
    # attempt's log must still hold all of its own output.
    flow = Flow("many_printed", max_parallel=4)
    for index in range(6):

        @flow.task(name=f"t{index}", timeout=0.5 + 0.1 * index)
        def hangs():
            print("line before the hang", flush=True)
            time.sleep(30)

        @flow.task(name=f"quick{index}")
        def prints():
            for number in range(200):
                print(f"quick line {number}", flush=True)

    result = flow.run(executor=isolating(grace_period=0.2))

    for index in range(6):
        assert result.tasks[f"t{index}"].state is TaskState.TIMED_OUT
        quick = result.tasks[f"quick{index}"]
        assert quick.state is TaskState.SUCCEEDED
        assert Path(quick.log_path).read_text().count("quick line") == 200


def _ignore_sigterm_and_start_a_child(marker: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    subprocess.Popen(["sh", "-c", f"trap '' TERM; {_sleeper(marker)}"])


def test_stopping_many_attempts_takes_one_grace_period_not_one_each(marker, isolating):
    # Three attempts that ignore SIGTERM time out together: one after the other they
    # would take 3 x 2 s of grace; signalled at once, 2 s in all.
    flow = Flow("stubborn_three", max_parallel=3)
    for index in range(3):

        @flow.task(name=f"stubborn{index}", timeout=0.5)
        def stubborn():
            _ignore_sigterm_and_start_a_child(marker)
            while True:
                time.sleep(0.05)

    started = time.monotonic()
    result = flow.run(executor=isolating(grace_period=2.0))
    elapsed = time.monotonic() - started

    assert all(task.state is TaskState.TIMED_OUT for task in result.tasks.values())
    assert elapsed < 0.5 + 2 * 2.0  # sequential kills need at least 0.5 + 3 x 2.0
    assert wait_until_gone(marker) == []


def test_the_scheduler_goes_on_while_a_stopped_attempt_uses_its_grace_period(marker, isolating):
    flow = Flow("busy_neighbour", max_parallel=2)

    @flow.task(timeout=0.5)
    def stubborn():
        _ignore_sigterm_and_start_a_child(marker)
        while True:
            time.sleep(0.05)

    @flow.task
    def neighbour():
        time.sleep(1.0)  # ends during stubborn's grace period

    result = flow.run(executor=isolating(grace_period=4.0))

    assert result.tasks["stubborn"].state is TaskState.TIMED_OUT
    neighbour_task = result.tasks["neighbour"]
    assert neighbour_task.state is TaskState.SUCCEEDED
    # Recorded when it ended, not when the grace period of its neighbour ran out.
    assert neighbour_task.ended_at - neighbour_task.started_at < 3.0
    assert wait_until_gone(marker) == []


def test_a_retry_starts_only_once_the_timed_out_attempt_is_gone(marker, isolating, tmp_path):
    flow = Flow("retry_after_stop")

    @flow.task(timeout=0.5, retries=1, retry_on_timeout=True)
    def stubborn():
        earlier = list(tmp_path.glob("pid.*"))
        if earlier:  # the second attempt: the first one's process must be gone
            pid = int(earlier[0].name.split(".")[1])
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            task_values.set("first_alive", alive)
            return
        (tmp_path / f"pid.{os.getpid()}").write_text("")
        _ignore_sigterm_and_start_a_child(marker)
        while True:
            time.sleep(0.05)

    result = flow.run(executor=isolating(grace_period=1.0))

    assert result.tasks["stubborn"].state is TaskState.SUCCEEDED
    assert result.tasks["stubborn"].attempts == 2
    assert result.values["stubborn"] == {"first_alive": False}
    assert wait_until_gone(marker) == []


def test_off_linux_the_first_run_says_which_guarantees_it_cannot_give(monkeypatch):
    from flowkit.executors import _processes as procs

    monkeypatch.setattr(procs, "_said_off_linux", False)
    with pytest.warns(RuntimeWarning, match="darwin: a grandchild that starts its own session"):
        procs.warn_off_linux("darwin")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        procs.warn_off_linux("darwin")  # once per process
        procs.warn_off_linux("linux")  # and never on Linux


def _returns_within(seconds: float, action) -> list[object]:
    """Run ``action`` in a thread; what it returned or raised, or [] if it still runs."""
    import threading

    ended: list[object] = []

    def run() -> None:
        try:
            ended.append(action())
        except BaseException as error:  # what it raised is the answer
            ended.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return ended


def test_a_run_that_fails_while_a_task_runs_stops_it_at_once(marker):
    """The fork server kills what is left when the run stops with attempts running."""
    from flowkit import RunListener

    flow = Flow("listener_fails", max_parallel=2)

    @flow.task(name="forever")
    def forever() -> None:
        subprocess.run(_sleeper(marker, 3600), shell=True, check=False)

    flow.task(name="quick")(lambda: None)

    class Fails(RunListener):
        def task_changed(self, event) -> None:
            if event.task.name == "quick" and event.task.state is TaskState.SUCCEEDED:
                raise RuntimeError("the listener failed")

    ended = _returns_within(60, lambda: flow.run(listeners=[Fails()], store=False))
    assert ended, "the run did not end while its task ran"
    assert isinstance(ended[0], RuntimeError)
    assert wait_until_gone(marker) == []


def test_ctrl_c_while_waiting_for_a_standby_process_leaves_no_attempt_behind(monkeypatch):
    """Ctrl-C lands while submit waits for the fork server: the run ends at once, cancelled."""
    from flowkit._engine import loop
    from flowkit._errors import RunInterrupted
    from flowkit.executors import _local

    monkeypatch.setattr(loop, "_STOP_PATIENCE", 120.0)
    read_control = _local.LocalExecutor._read_control
    calls = []

    def interrupted(self) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        read_control(self)

    monkeypatch.setattr(_local.LocalExecutor, "_read_control", interrupted)
    flow = Flow("interrupted_at_submit")
    flow.task(name="t")(lambda: 1)
    ended = _returns_within(60, lambda: flow.run(store=False))
    assert ended, "the cancel waited for an attempt that never started"
    assert isinstance(ended[0], RunInterrupted)
    assert ended[0].result.tasks["t"].state is TaskState.CANCELLED
