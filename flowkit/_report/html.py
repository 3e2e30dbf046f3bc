"""HTML pages of runs: one escaping point (Jinja2's autoescape) and a strict CSP.

Every page is one self-contained file: its styles and script are inlined, and
its Content-Security-Policy forbids loading anything from anywhere (no
``src``, ``href`` or CSS ``url()`` leaves the page) and lets only flowkit's own
script run, named by its SHA-256: were markup ever to slip through, an
injected ``<script>`` or ``onerror=`` still would not run. What a task supplies
(keys, output, errors, values, params) reaches a template as data, escaped by
Jinja2, and passes ``_text.escape`` first, so no raw control character lands
on a page either. Jinja2 is imported when a page is drawn, not with flowkit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from flowkit._clock import format_duration, format_moment
from flowkit._report.dag import compact, layout
from flowkit._report.gantt import clock_time, timeline
from flowkit._report.model import RunView, TaskView
from flowkit._state import TaskState
from flowkit._text import escape, escape_lines

TEMPLATES = Path(__file__).parent / "templates"
#: The legend's states: TaskState's own order, the order a run goes through them.
LEGEND = tuple(state.value for state in TaskState)


@attrs.frozen
class Links:
    """Where a page links a run and a task's whole log; None: nowhere (a report file)."""

    run_pattern: str | None = None  # "{run_id}.html", "/runs/{run_id}"
    log_pattern: str | None = None  # "/runs/{run_id}/tasks/{task}/logs"
    run_id: str = ""
    #: Only these runs have a page to link to (a report file's written children); None: all.
    linked: frozenset[str] | None = None

    def run(self, run_id: str | None) -> str | None:
        if run_id is None or self.run_pattern is None:
            return None
        if self.linked is not None and run_id not in self.linked:
            return None
        return self.run_pattern.format(run_id=urllib.parse.quote(run_id, safe=""))

    def log(self, task: TaskView) -> str | None:
        if self.log_pattern is None or task.log_path is None:
            return None
        return self.log_pattern.format(
            run_id=urllib.parse.quote(self.run_id, safe=""),
            task=urllib.parse.quote(task.key, safe=""),
        )


def render_run(view: RunView, *, links: Links | None = None, ui: bool = False) -> str:
    """The run's page: header, graph, timeline, task table and each task's details."""
    links = links or Links()
    run = view.run
    dag = layout(
        [task.key for task in view.tasks], {task.key: task.depends_on for task in view.tasks}
    )
    counts = Counter(task.state.value for task in view.tasks)
    attempt_count = sum(len(task.attempts) for task in view.tasks)
    trigger = run.trigger.type
    if run.trigger.time is not None:
        trigger += f" for {format_moment(run.trigger.time)}"
    if run.trigger.file_arrival_location:
        trigger += f" in {run.trigger.file_arrival_location}"
    if run.trigger.backfill_id:
        trigger += f" (backfill {run.trigger.backfill_id})"
    return _page(
        "report.html.j2",
        ui=ui,
        live=view.live,
        view=view,
        run=run,
        parent=run.parent_run_id,
        links=attrs.evolve(links, run_id=run.run_id),
        tasks={task.key: task for task in view.tasks},
        dag=dag,
        timeline=timeline(view),
        counts=sorted(counts.items(), key=lambda item: LEGEND.index(item[0])),
        legend=LEGEND,
        trigger=trigger,
        started=format_moment(run.started_at),
        duration=format_duration(view.end - run.started_at),
        compute=format_duration(sum(task.compute for task in view.tasks)),
        attempt_count=attempt_count,
        params=sorted((str(name), _value(value)) for name, value in run.params.items()),
    )


def render_page(template: str, **context: Any) -> str:
    """Another page of the ui (runs, flows, a log, not found) with the report's look."""
    return _page(template, ui=True, live=False, **context)


def _page(template: str, *, ui: bool, live: bool, **context: Any) -> str:
    environment, css, script, policy = _environment(ui)
    return environment.get_template(template).render(
        css=css, script=script, csp=policy, ui=ui, live=live, **context
    )


@functools.cache
def _environment(ui: bool) -> tuple[Any, Any, Any, str]:
    """Jinja2's environment (autoescape on), the inlined styles and script, and the CSP."""
    import jinja2
    import markupsafe

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["line"] = escape
    environment.filters["lines"] = escape_lines
    environment.filters["n"] = compact
    environment.globals.update(seconds=_seconds, clock=_clock)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    # The ui's pages fetch their own address again while a run is live; a file fetches nothing.
    connect = "'self'" if ui else "'none'"
    form = "'self'" if ui else "'none'"
    policy = (
        f"default-src 'none'; img-src data:; style-src '{_digest(css)}'; "
        f"script-src '{_digest(script)}'; connect-src {connect}; form-action {form}; "
        "base-uri 'none'"
    )
    return environment, markupsafe.Markup(css), markupsafe.Markup(script), policy


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _seconds(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def _clock(at: float | None) -> str:
    return "-" if at is None else clock_time(at)


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else f"{text[:199]}…"
