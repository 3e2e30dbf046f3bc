"""The live display: its pure rendering, redrawing in place on a fake terminal, the fallback."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from flowkit import Flow
from flowkit._events import RunStarted, StepEnded, TaskChanged, Tick
from flowkit._state import TaskRun, TaskState
from flowkit.cli import main
from flowkit.cli._render.progress import (
    LiveDisplay,
    ProgressPrinter,
    progress_listener,
    render_display,
    wants_live_display,
)

FLOWS = Path(__file__).parents[1] / "flows"


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def tasks(**states: TaskState) -> dict[str, TaskRun]:
    return {name: TaskRun(name=name, state=state, attempts=1) for name, state in states.items()}


def test_render_counts_tasks_by_kind_and_lists_running_ones() -> None:
    current = tasks(
        extract=TaskState.SUCCEEDED,
        clean=TaskState.RUNNING,
        train=TaskState.RUNNING,
        metrics=TaskState.FAILED,
        join=TaskState.UPSTREAM_FAILED,
        alert=TaskState.PENDING,
        publish=TaskState.QUEUED,
    )
    current["train"].attempts = 2

    lines = render_display(
        current,
        attempt_started={"clean": 100.0, "train": 58.0},
        now=112.5,
        max_attempts={"clean": 1, "train": 3},
    )

    assert lines == [
        "1 succeeded  2 failed  2 running  2 pending  (7 tasks)",
        "  clean    12.5s  attempt 1 of 1",
        "  train    54.5s  attempt 2 of 3",
    ]


def test_render_shows_excluded_and_waiting_for_retry_and_cuts_to_width() -> None:
    current = tasks(a=TaskState.EXCLUDED, b=TaskState.WAITING_FOR_RETRY, c=TaskState.SUCCEEDED)

    lines = render_display(current, attempt_started={}, now=0.0, width=30)

    assert lines[0] == "1 succeeded  0 failed  0 runni"
    assert lines[1] == "  waiting to retry: b"


def test_render_without_a_limit_on_attempts_says_no_of() -> None:
    current = tasks(forever=TaskState.RUNNING)
    current["forever"].attempts = 7

    lines = render_display(
        current, attempt_started={"forever": 0.0}, now=125.0, max_attempts={"forever": 0}
    )

    assert lines[1] == "  forever    2m05s  attempt 7"


def test_render_lists_at_most_eight_running_tasks() -> None:
    current = {
        f"t{index}": TaskRun(name=f"t{index}", state=TaskState.RUNNING) for index in range(11)
    }

    lines = render_display(current, attempt_started={}, now=0.0)

    assert len(lines) == 1 + 8 + 1
    assert lines[-1] == "  ... and 3 more running"


@pytest.mark.parametrize(
    ("tty", "environ", "live"),
    [(True, {}, True), (True, {"CI": "true"}, False), (False, {}, False), (True, {"CI": ""}, True)],
)
def test_live_only_on_a_terminal_without_ci(tty: bool, environ: dict, live: bool) -> None:
    stream = FakeTerminal() if tty else io.StringIO()
    assert wants_live_display(stream, environ) is live


def test_progress_listener_picks_the_display(monkeypatch: pytest.MonkeyPatch) -> None:
    flow = Flow("one")

    @flow.task
    def only() -> None:
        pass

    monkeypatch.delenv("CI", raising=False)
    assert type(progress_listener(flow.plan(), FakeTerminal())) is LiveDisplay
    assert type(progress_listener(flow.plan(), io.StringIO())) is ProgressPrinter
    monkeypatch.setenv("CI", "1")
    assert type(progress_listener(flow.plan(), FakeTerminal())) is ProgressPrinter


def test_the_live_display_redraws_in_place_on_a_terminal() -> None:
    flow = Flow("live")

    @flow.task
    def first() -> None:
        print("hello from first")

    @flow.task(depends_on=[first])
    def second() -> None:
        pass

    screen = FakeTerminal()
    result = flow.run(executor="local", listeners=[LiveDisplay(flow.plan(), screen)], store=False)

    text = screen.getvalue()
    assert result.succeeded
    assert "A\r\x1b[J" in text  # cursor up, column 0, clear to the end of the screen
    assert "[first] hello from first" in text
    assert re.search(r"\d\d:\d\d:\d\d  first\s+succeeded", text)
    assert "0 succeeded  0 failed  1 running  1 pending  (2 tasks)" in text
    assert re.search(r"  first\s+\d+\.\d\ds  attempt 1 of 1", text)
    # the display is cleared when the run ends: nothing of it is drawn after the last clear
    after_last_clear = text.rpartition("\x1b[J")[2]
    assert "(2 tasks)" not in after_last_clear
    assert after_last_clear.endswith("\n") or not after_last_clear


def test_run_on_a_terminal_shows_the_live_display_and_the_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CI", raising=False)
    screen = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", screen)

    code = main(["run", str(FLOWS / "cli_simple.py")])

    text = screen.getvalue()
    assert code == 0
    assert "\x1b[J" in text
    assert "succeeded in" in text.rsplit("\x1b[J", 1)[1]  # the summary comes after the display


def test_run_with_ci_set_prints_plain_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CI", "1")
    monkeypatch.setattr(sys, "stdout", FakeTerminal())

    assert main(["run", str(FLOWS / "cli_simple.py")]) == 0

    assert "\x1b[" not in sys.stdout.getvalue()


def _lines_run_per_task(task_count: int) -> float:
    """Lines of Python the live display runs per task it follows, in a run of ``task_count``."""
    flow = Flow("wide")
    for index in range(task_count):
        flow.task(name=f"t{index}")(lambda: None)
    plan = flow.plan()
    display = LiveDisplay(plan, FakeTerminal())
    started = RunStarted(
        run_id="r1",
        flow_name="wide",
        params={},
        started_at=0.0,
        tasks={name: TaskRun(name=name) for name in plan.order},
        executor_name="inline",
        max_parallel=4,
        repair_count=0,
    )
    display.run_started(started)
    followed = plan.order[:50]
    lines = 0

    def count(frame: object, event: str, arg: object) -> object:
        nonlocal lines
        lines += event == "line"
        return count

    sys.settrace(count)
    try:
        for name in followed:
            for state in (TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED):
                task = TaskRun(name=name, state=state, attempts=1)
                display.task_changed(TaskChanged(run_id="r1", task=task, at=0.0))
                display.flush(StepEnded(run_id="r1"))
            display.tick(Tick(run_id="r1"))
    finally:
        sys.settrace(None)
    return lines / len(followed)


def test_the_live_display_does_the_same_work_per_task_at_any_size_of_run() -> None:
    # Walking every task at every redraw made a 10,000-task run quadratic.
    small, large = _lines_run_per_task(100), _lines_run_per_task(5000)
    assert large <= small * 1.1


def test_the_live_display_escapes_what_tasks_write() -> None:
    flow = Flow("hostile")

    @flow.task
    def noisy() -> None:
        print("\x1b]0;owned\x07 title")
        raise RuntimeError("\x1b]2;again\x07 failed")

    screen = FakeTerminal()
    flow.run(executor="local", listeners=[LiveDisplay(flow.plan(), screen)], store=False)

    text = screen.getvalue()
    assert "\x1b]" not in text
    assert "\x07" not in text
    assert "[noisy] \\x1b]0;owned\\x07 title" in text
    assert "RuntimeError: \\x1b]2;again\\x07 failed" in text


def test_a_queued_task_that_waits_for_resources_shows_why() -> None:
    current = tasks(load=TaskState.RUNNING, load2=TaskState.QUEUED, other=TaskState.QUEUED)
    current["load2"].waiting_for = "pool 'warehouse' is full (1 of 1 running)"

    lines = render_display(current, attempt_started={"load": 10.0}, now=11.0)

    assert lines[-1] == "  queued load2: pool 'warehouse' is full (1 of 1 running)"
    assert not any("other" in line for line in lines)  # queued for nothing but its turn


def test_the_plain_line_of_a_waiting_task_says_why() -> None:
    flow = Flow("waits")
    flow.task(name="big", memory="20GiB")(lambda: None)
    printer = ProgressPrinter(flow.plan(), io.StringIO())
    task = TaskRun(name="big", state=TaskState.QUEUED)
    task.waiting_for = "waiting for 20 GiB of memory to be free"

    assert printer.state_line(task).split()[2:] == [
        "queued",
        "(waiting",
        "for",
        "20",
        "GiB",
        "of",
        "memory",
        "to",
        "be",
        "free)",
    ]
