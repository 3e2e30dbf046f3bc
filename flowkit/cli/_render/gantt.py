"""A run's attempts as text bars on one time axis: ``flowkit show RUN_ID --gantt``.

One line per attempt, grouped by task (in the order the store recorded them)
and, within a task, by repair pass and number::

    ingest  #1  ████████                           0.80s
    wobbly  #1          ▒▒▒▒                       0.41s  failed
    wobbly  #2              ···██████████          0.90s
    quiet   #1                           ████████  0.80s
             0s ├───────────────────────────────┤  3.21s
    █ ran  ▒ failed/timed out  · retry wait

The chart spans the run, from its start (or its first attempt's, if earlier)
to its end; a run still going ends at ``now``, and so does an attempt without
an end. Column ``c`` of ``C`` stands for the moment ``start + c / C * span``:
a bar covers the columns from its start's to its end's, at least one. The wait
before a retry (from the previous attempt's end, same task and pass) is drawn
with ``·`` on the retry's line. Task keys are escaped (``flowkit._text``).

Task keys take at most a quarter of ``width`` (``SHORT_KEY`` characters when
that is more); a longer key is cut, ending in ``…``. When the chart would still
be narrower than ``MIN_CHART`` columns, the state column goes, then keys are cut
down to ``MIN_KEY`` characters; the chart never gets fewer than ``MIN_CHART``
columns, however wide that makes a line. ``MIN_WIDTH``, which the command line
asks for, leaves room for every realistic line (``#10 repair 12``, ``100h00m``).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from flowkit._clock import format_duration
from flowkit._state import TaskState
from flowkit._store.base import AttemptRecord, RunRecord
from flowkit._text import escape

RAN = "█"
FAILED = "▒"
WAIT = "·"
#: Attempts that ended without success, drawn with ``FAILED`` (the state column says which).
_FAILED_STATES = frozenset({TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED})
_LEGEND = {RAN: "ran", FAILED: "failed/timed out", WAIT: "retry wait"}
GAP = "  "
#: The fewest columns a chart gets, whatever the width.
MIN_CHART = 10
#: Task keys take at most a quarter of the width, or ``SHORT_KEY`` if more: the chart comes first.
SHORT_KEY = 8
KEY_SHARE = 4
#: How short a key may be cut when the width leaves no more: three characters and ``…``.
MIN_KEY = 4
#: The narrowest ``--width`` the command line takes.
MIN_WIDTH = 40
#: The shortest span a chart stands for: a run of no length still has a scale.
_MIN_SPAN = 1e-3


@attrs.frozen
class _Row:
    """One attempt's line: where it ran on the run's clock and what came before it."""

    key: str
    which: str
    start: float
    end: float
    failed: bool
    note: str
    #: When the wait before this attempt began: the end of the attempt it retries.
    waited_from: float | None


def gantt(run: RunRecord, attempts: Sequence[AttemptRecord], width: int, now: float) -> str:
    """Every attempt of ``run`` as a bar, scaled to ``width`` columns.

    Args:
        run: the run, for its start and its end (``now`` while it has none).
        attempts: its attempts, as ``RunStore.get_attempts`` returns them.
        width: the columns the lines may take.
        now: the time to draw a running attempt (or run) to.

    Returns:
        The lines, joined by newlines, with no trailing newline.
    """
    run_end = run.ended_at if run.ended_at is not None else now
    rows = _rows(attempts, run_end)
    if not rows:
        return "no attempt of this run has started"
    start = min(run.started_at, *(row.start for row in rows))
    end = max(run_end, *(row.end for row in rows))
    span = max(end - start, _MIN_SPAN)
    total = format_duration(end - start)

    durations = [format_duration(row.end - row.start) for row in rows]
    duration_width = max(len(text) for text in [*durations, total])
    which_width = max(len(row.which) for row in rows)
    key_width = max(len(row.key) for row in rows)
    note_width = max(len(row.note) for row in rows)

    def chart_width(keys: int, notes: int) -> int:
        prefix = keys + len(GAP) + which_width + len(GAP)
        suffix = len(GAP) + duration_width + (len(GAP) + notes if notes else 0)
        return width - prefix - suffix

    key_width = min(key_width, max(SHORT_KEY, width // KEY_SHARE))
    if chart_width(key_width, note_width) < MIN_CHART:
        note_width = 0  # the glyph still tells a failed attempt from one that ran
    if chart_width(key_width, note_width) < MIN_CHART:
        key_width = max(min(key_width, MIN_KEY), chart_width(0, note_width) - MIN_CHART)
    columns = max(MIN_CHART, chart_width(key_width, note_width))

    def column(at: float) -> int:
        return min(columns, max(0, round((at - start) * columns / span)))

    lines = []
    glyphs = set()
    for row, duration in zip(rows, durations, strict=True):
        cells = [" "] * columns
        if row.waited_from is not None:
            for cell in range(column(row.waited_from), column(row.start)):
                cells[cell] = WAIT
                glyphs.add(WAIT)
        first = min(column(row.start), columns - 1)
        last = max(column(row.end), first + 1)
        glyph = FAILED if row.failed else RAN
        glyphs.add(glyph)
        for cell in range(first, last):
            cells[cell] = glyph
        key = _cut(row.key, key_width)
        note = f"{GAP}{row.note}" if note_width and row.note else ""
        line = f"{key:<{key_width}}{GAP}{row.which:<{which_width}}{GAP}{''.join(cells)}"
        lines.append(f"{line}{GAP}{duration:>{duration_width}}{note}".rstrip())
    prefix = key_width + len(GAP) + which_width + len(GAP)
    axis = "├" + "─" * (columns - 2) + "┤"
    lines.append(f"{'0s':>{prefix - 1}} {axis}{GAP}{total:>{duration_width}}")
    lines.append(_legend([glyph for glyph in _LEGEND if glyph in glyphs], width))
    return "\n".join(lines)


def _rows(attempts: Sequence[AttemptRecord], run_end: float) -> list[_Row]:
    """The attempts that started, by task (first seen first), then pass, then number."""
    by_task: dict[str, list[AttemptRecord]] = {}
    for attempt in attempts:
        if attempt.started_at is not None:
            by_task.setdefault(attempt.task_key, []).append(attempt)
    rows = []
    for key, made in by_task.items():
        previous: AttemptRecord | None = None
        for attempt in sorted(made, key=lambda attempt: (attempt.repair, attempt.attempt)):
            assert attempt.started_at is not None  # kept above
            waited_from = None
            if previous is not None and previous.repair == attempt.repair:
                waited_from = previous.ended_at  # a retry: it waited since then
            ended = run_end if attempt.ended_at is None else attempt.ended_at  # still running
            which = f"#{attempt.attempt}"
            if attempt.repair:
                which += f" repair {attempt.repair}"
            rows.append(
                _Row(
                    key=escape(key),
                    which=which,
                    start=attempt.started_at,
                    end=max(attempt.started_at, ended),
                    failed=attempt.state in _FAILED_STATES,
                    note="" if attempt.state is TaskState.SUCCEEDED else attempt.state.value,
                    waited_from=waited_from,
                )
            )
            previous = attempt
    return rows


def _legend(glyphs: list[str], width: int) -> str:
    """What the drawn glyphs mean, as many as fit in ``width``."""
    legend = ""
    for glyph in glyphs:
        item = f"{GAP if legend else ''}{glyph} {_LEGEND[glyph]}"
        if len(legend) + len(item) > width:
            break
        legend += item
    return legend


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, ending in ``…`` when it was cut."""
    return text if len(text) <= width else f"{text[: width - 1]}…"
