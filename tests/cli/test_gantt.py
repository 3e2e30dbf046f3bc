"""``flowkit show RUN_ID --gantt``: bars where attempts ran, waits before retries, widths kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowkit._state import TaskState
from flowkit._store import open_store
from flowkit._store.base import AttemptRecord, RunRecord
from flowkit.cli import main
from flowkit.cli._render.gantt import FAILED, MIN_CHART, MIN_WIDTH, RAN, WAIT, gantt

FLOWS = Path(__file__).parents[1] / "flows"
START = 1_000.0


def run_of(seconds: float | None, state: str = "succeeded") -> RunRecord:
    """A run that started at START and ended ``seconds`` later (None: still running)."""
    ended = None if seconds is None else START + seconds
    return RunRecord(run_id="r1", flow_name="f", state=state, started_at=START, ended_at=ended)


def attempt(
    key: str,
    number: int,
    begin: float,
    end: float | None,
    state: TaskState = TaskState.SUCCEEDED,
    repair: int = 0,
) -> AttemptRecord:
    """An attempt that ran from ``begin`` to ``end`` seconds after START."""
    return AttemptRecord(
        run_id="r1",
        task_key=key,
        attempt=number,
        state=state,
        started_at=START + begin,
        ended_at=None if end is None else START + end,
        repair=repair,
    )


def chart(text: str) -> tuple[list[str], int]:
    """The chart part of every attempt's line, and the chart's width (from the axis line)."""
    lines = text.splitlines()
    axis = lines[-2]
    left, right = axis.index("├"), axis.index("┤")
    return [line[left : right + 1] for line in lines[:-2]], right + 1 - left


def span(cells: str, glyph: str) -> tuple[int, int]:
    """The first column of ``glyph`` and the column after its last, asserting they are one run."""
    found = [match.span() for match in re.finditer(f"{re.escape(glyph)}+", cells)]
    assert len(found) == 1, f"{glyph!r} drawn as {len(found)} runs in {cells!r}"
    return found[0]


# -- positions -------------------------------------------------------------------------
def test_bars_start_and_end_in_proportion_to_the_times() -> None:
    attempts = [
        attempt("a", 1, 0.0, 2.0),
        attempt("b", 1, 2.0, 6.0),
        attempt("c", 1, 6.0, 10.0),
        attempt("d", 1, 3.0, 4.6),
    ]

    rows, columns = chart(gantt(run_of(10.0), attempts, width=64, now=0.0))

    assert columns == 50  # 64 - "a  #1  " - "  10.0s": five columns a second
    assert [span(row, RAN) for row in rows] == [(0, 10), (10, 30), (30, 50), (15, 23)]


def test_every_line_reads_key_attempt_bar_duration() -> None:
    text = gantt(run_of(10.0), [attempt("load", 1, 2.0, 6.0)], width=60, now=0.0)

    line, axis, legend = text.splitlines()

    assert re.fullmatch(r"load  #1  ( +)(█+)( +)  4\.00s", line)
    assert axis.endswith("┤  10.0s")
    assert axis.lstrip().startswith("0s ├─")
    assert legend == f"{RAN} ran"


def test_a_short_attempt_still_takes_a_column() -> None:
    attempts = [attempt("slow", 1, 0.0, 10.0), attempt("blink", 1, 5.0, 5.001)]

    rows, columns = chart(gantt(run_of(10.0), attempts, width=80, now=0.0))

    start, end = span(rows[1], RAN)
    assert end - start == 1
    assert start == round(columns / 2)


def test_an_attempt_at_the_very_end_is_drawn_in_the_last_column() -> None:
    attempts = [attempt("a", 1, 0.0, 10.0), attempt("late", 1, 10.0, 10.0)]

    rows, columns = chart(gantt(run_of(10.0), attempts, width=80, now=0.0))

    assert span(rows[1], RAN) == (columns - 1, columns)


# -- retries, repairs, running ---------------------------------------------------------
def test_a_retry_is_drawn_after_its_wait() -> None:
    attempts = [
        attempt("flaky", 1, 0.0, 2.0, TaskState.FAILED),
        attempt("flaky", 2, 5.0, 10.0),
    ]

    text = gantt(run_of(10.0), attempts, width=64, now=0.0)
    rows, columns = chart(text)
    first, second = text.splitlines()[:2]

    assert columns == 64 - len("flaky  #1  ") - len("  10.0s  failed")
    scale = columns / 10
    assert span(rows[0], FAILED) == (0, round(2 * scale))
    assert span(rows[1], WAIT) == (round(2 * scale), round(5 * scale))
    assert span(rows[1], RAN) == (round(5 * scale), columns)
    assert RAN not in rows[0]
    assert FAILED not in rows[1]
    assert re.fullmatch(r"flaky  #1  .*  2\.00s  failed", first)
    assert re.fullmatch(r"flaky  #2  .*  5\.00s", second)
    assert text.splitlines()[-1] == f"{RAN} ran  {FAILED} failed/timed out  {WAIT} retry wait"


def test_a_timed_out_attempt_is_drawn_as_failed_and_says_so() -> None:
    attempts = [attempt("slow", 1, 0.0, 4.0, TaskState.TIMED_OUT), attempt("slow", 2, 4.0, 8.0)]

    text = gantt(run_of(8.0), attempts, width=80, now=0.0)

    assert FAILED in text.splitlines()[0]
    assert text.splitlines()[0].endswith("4.00s  timed_out")
    assert WAIT not in text  # the retry started as the attempt ended


def test_a_repair_pass_is_labelled_and_waits_for_nothing() -> None:
    attempts = [
        attempt("load", 1, 0.0, 1.0, TaskState.FAILED),
        attempt("load", 1, 6.0, 8.0, repair=1),
        attempt("load", 2, 9.0, 10.0, repair=1),
    ]

    text = gantt(run_of(10.0), attempts, width=80, now=0.0)
    rows, columns = chart(text)
    lines = text.splitlines()

    assert lines[1].startswith("load  #1 repair 1  ")
    assert lines[2].startswith("load  #2 repair 1  ")
    assert WAIT not in rows[1]  # the repair is a new pass, not a retry
    assert span(rows[2], WAIT) == (round(8 / 10 * columns), round(9 / 10 * columns))


def test_a_running_attempt_is_drawn_to_now() -> None:
    attempts = [attempt("done", 1, 0.0, 3.0), attempt("busy", 1, 3.0, None, TaskState.RUNNING)]

    text = gantt(run_of(None, "running"), attempts, width=70, now=START + 6.0)
    rows, columns = chart(text)

    assert span(rows[0], RAN) == (0, columns // 2)
    assert span(rows[1], RAN) == (columns // 2, columns)
    assert text.splitlines()[1].endswith("3.00s  running")
    assert text.splitlines()[-2].endswith("6.00s")


def test_an_attempt_without_an_end_in_an_ended_run_stops_at_the_run_end() -> None:
    attempts = [attempt("cut", 1, 2.0, None, TaskState.RUNNING)]

    text = gantt(run_of(4.0, "interrupted"), attempts, width=60, now=START + 1_000)
    rows, columns = chart(text)

    assert span(rows[0], RAN) == (round(2 / 4 * columns), columns)
    assert "2.00s" in text.splitlines()[0]


def test_tasks_keep_their_order_and_attempts_their_pass_and_number() -> None:
    attempts = [
        attempt("b", 2, 3.0, 4.0),
        attempt("a", 1, 0.0, 1.0),
        attempt("b", 1, 1.0, 2.0, TaskState.FAILED),
    ]

    lines = gantt(run_of(4.0), attempts, width=60, now=0.0).splitlines()

    assert [line[:5] for line in lines[:3]] == ["b  #1", "b  #2", "a  #1"]


def test_no_attempt_started() -> None:
    text = gantt(run_of(0.0, "skipped"), [], width=60, now=0.0)

    assert text == "no attempt of this run has started"


def test_a_run_of_no_length_is_drawn() -> None:
    rows, columns = chart(gantt(run_of(0.0), [attempt("a", 1, 0.0, 0.0)], width=60, now=0.0))

    assert span(rows[0], RAN) == (0, 1)
    assert columns >= MIN_CHART


# -- widths and escaping -----------------------------------------------------------------
MANY = [
    attempt("extract_the_whole_warehouse_nightly", 1, 0.0, 30.0),
    attempt("transform", 1, 30.0, 31.0, TaskState.FAILED),
    attempt("transform", 2, 40.0, 70.0, TaskState.TIMED_OUT),
    attempt("transform", 3, 80.0, 90.0),
    attempt("load", 1, 90.0, 4_000.0, TaskState.CANCELLED),
    attempt("load", 10, 4_100.0, 4_200.0, repair=12),
    attempt("alert", 1, 4_200.0, None, TaskState.RUNNING),
]


@pytest.mark.parametrize("width", [MIN_WIDTH, 41, 47, 55, 60, 72, 80, 99, 120, 200])
def test_no_line_is_longer_than_the_width(width: int) -> None:
    text = gantt(run_of(None, "running"), MANY, width=width, now=START + 4_300.0)
    rows, columns = chart(text)

    assert max(len(line) for line in text.splitlines()) <= width
    assert len(text.splitlines()) == len(MANY) + 2
    assert columns >= MIN_CHART
    assert all(len(row) == columns for row in rows)


def test_a_wide_terminal_shows_whole_keys_and_states_a_narrow_one_cuts_them() -> None:
    wide = gantt(run_of(None, "running"), MANY, width=200, now=START + 4_300.0)
    narrow = gantt(run_of(None, "running"), MANY, width=MIN_WIDTH, now=START + 4_300.0)

    assert wide.startswith("extract_the_whole_warehouse_nightly  #1 ")
    assert wide.splitlines()[2].endswith("30.0s  timed_out")
    assert narrow.startswith("extra… ")
    assert "timed_out" not in narrow  # no room: the glyph alone says it did not succeed
    assert FAILED in narrow.splitlines()[2]


def test_task_keys_are_escaped() -> None:
    attempts = [attempt("evil\x1b]0;owned\x07\u202e", 1, 0.0, 1.0)]

    text = gantt(run_of(1.0), attempts, width=120, now=0.0)

    assert text.startswith("evil\\x1b]0;owned\\x07\\u202e  #1  ")
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)


# -- the command line ------------------------------------------------------------------
def test_show_gantt_of_a_run_with_a_retry(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(FLOWS / "gantt_retried.py")]) == 0
    with open_store(flowkit_home, create=False) as store:
        (run,) = store.list_runs()
        attempts = store.get_attempts(run.run_id)
    capsys.readouterr()

    assert main(["show", run.run_id[:8], "--gantt", "--width", "72"]) == 0

    out = capsys.readouterr().out
    assert out == gantt(run, attempts, width=72, now=0.0) + "\n"
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [
        ["first", "#1"],
        ["flaky", "#1"],
        ["flaky", "#2"],
        ["last", "#1"],
    ]
    assert max(len(line) for line in lines) <= 72
    rows, columns = chart(out)
    failed_end = span(rows[1], FAILED)[1]
    wait_start, wait_end = span(rows[2], WAIT)
    ran_start = span(rows[2], RAN)[0]
    assert failed_end <= wait_start + 1  # the wait begins where the failed attempt ended
    assert wait_end == ran_start
    # the retry waited 0.3 s: at least that share of the chart's columns, less rounding
    begin = min(run.started_at, *(a.started_at for a in attempts if a.started_at is not None))
    end = max(run.ended_at or 0.0, *(a.ended_at for a in attempts if a.ended_at is not None))
    assert (wait_end - wait_start) >= 0.3 / (end - begin) * columns - 1
    assert span(rows[3], RAN)[0] >= ran_start
    assert lines[1].endswith("failed")


def test_show_gantt_width_is_checked(flowkit_home: Path, capsys) -> None:
    assert main(["show", "anything", "--gantt", "--width", str(MIN_WIDTH - 1)]) == 2

    err = capsys.readouterr().err

    assert f"is not a width to draw a chart in; give a whole number >= {MIN_WIDTH}" in err


def test_show_gantt_takes_the_terminal_width(
    test_dir: Path, flowkit_home: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["run", str(FLOWS / "gantt_retried.py")]) == 0
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "50")

    assert main(["show", only_run_id(flowkit_home), "--gantt"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 50
    assert max(len(line) for line in lines[:-1]) >= 45  # the chart takes what there is


def only_run_id(home: Path) -> str:
    with open_store(home, create=False) as store:
        (run,) = store.list_runs()
    return run.run_id
