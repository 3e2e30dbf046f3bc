"""The HTML report and the local ui at scale: report time and size, the ui's first page.

    python benchmarks/report.py              # under a minute on 2 cores
    python benchmarks/report.py --profile    # and where the 10,000-task report's time and bytes go

Prints two tables, each figure beside a baseline measured in the same run:

- report: ``write_report`` (``read_run``, then ``render_run``, then the file
  written) of synthetic runs of 100, 1,000 and 10,000 tasks, median of a few
  rounds, with the two phases timed apart, the file's size, and the time per
  task against the same at 100 tasks. The runs are written straight into a
  SQLite store in a temporary ``FLOWKIT_HOME``: layers of 20 tasks, each task
  depending on 1 to 3 tasks of the layer before and one in 20 on a task 2 to 6
  layers back too; every task succeeds, one in ten after a failed first
  attempt (its error and traceback kept) and a retry wait; one in 200 keeps
  task values; the last layer has a few failed tasks; each attempt has a log
  of 20 lines under ``$FLOWKIT_HOME/logs/RUN_ID/``, whose tails the report
  reads. Then an ordinary run: ``python -m flowkit run examples/branching.py``,
  its report written in this process and by ``python -m flowkit report`` (a
  fresh process, as a user runs it), against the run's own wall time.
- ui: ``UiServer`` over a store of 10,000 runs of 3 tasks each (20 flows),
  served in a thread and asked with urllib: ``/``, ``/api/runs?limit=50`` and
  the last page ``/?page=200``; the first (cold) request, then the median of
  10. Baseline: a bare ``http.server.ThreadingHTTPServer`` answering a fixed
  body of the same size, asked the same way. The ui is measured first, so its
  cold request pays Jinja2's import and the templates' compile as ``flowkit
  ui``'s first request does.

Targets: a 10,000-task report in under 5 s and under 15 MB; the ui's first
page under 200 ms. When the report misses one, or with ``--profile``, the
10,000-task report's bytes are broken down by section and repeated element,
and its time by phase, without cProfile and with it (phases and the functions
with the most own time).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import http.server
import os
import platform
import pstats
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from overhead import flowkit_home

from flowkit._home import store_file
from flowkit._report import model
from flowkit._report.dag import layout
from flowkit._report.files import write_report
from flowkit._report.gantt import timeline
from flowkit._report.html import Links, render_run
from flowkit._report.model import read_run
from flowkit._report.server import UiServer
from flowkit._state import ErrorInfo, RunState, TaskState
from flowkit._store import AttemptRecord, RunRecord, SqliteStore, TaskRecord, open_store

HERE = Path(__file__).resolve().parent
BRANCHING = HERE.parent / "examples" / "branching.py"

REPORT_S = 5.0  # a 10,000-task report, generated and written
REPORT_MB = 15.0  # its file
UI_MS = 200.0  # the ui's first page
LAYER_WIDTH = 20
UI_RUNS = 10_000
UI_REQUESTS = 10
#: How ``write_report`` links the pages of a report file.
FILE_LINKS = Links(run_pattern="{run_id}.html")

VERBS = ("extract", "clean", "join", "aggregate", "validate", "publish", "load", "score")
NOUNS = ("orders", "customers", "invoices", "events", "sessions", "products", "refunds")
TRACEBACK = """Traceback (most recent call last):
  File "/srv/pipelines/flows/daily.py", line 88, in {key}
    rows = warehouse.fetch(query, timeout=30)
  File "/srv/pipelines/lib/warehouse.py", line 214, in fetch
    raise ConnectionError(f"warehouse {{self.host}} closed the connection")
ConnectionError: warehouse dwh-02 closed the connection
"""


# -- synthetic history -------------------------------------------------------------------------


def dag(size: int, rng: random.Random) -> tuple[list[str], dict[str, list[str]]]:
    """Task keys in layers of LAYER_WIDTH (a topological order) and each one's upstream keys."""
    keys = [f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}_{index:05d}" for index in range(size)]
    layers = [keys[start : start + LAYER_WIDTH] for start in range(0, size, LAYER_WIDTH)]
    upstream: dict[str, list[str]] = {}
    for number, layer in enumerate(layers):
        for key in layer:
            if number == 0:
                upstream[key] = []
                continue
            previous = layers[number - 1]
            chosen = rng.sample(previous, min(len(previous), rng.randint(1, 3)))
            if number >= 3 and rng.random() < 0.05:  # a long edge, 2 to 6 layers back
                chosen.append(rng.choice(layers[number - rng.randint(2, min(6, number))]))
            upstream[key] = chosen
    return keys, upstream


def log_text(key: str, attempt: int, started: float, rng: random.Random) -> str:
    lines = []
    for line in range(20):
        at = time.strftime("%H:%M:%S", time.localtime(started + line * 0.05))
        rows = rng.randint(1_000, 99_999)
        lines.append(f"{at} INFO {key} attempt {attempt}: batch {line + 1}/20, {rows} rows read")
    return "\n".join(lines) + "\n"


def synthetic_run(store: SqliteStore, home: Path, run_id: str, size: int, seed: int) -> None:
    """Write a finished run of ``size`` tasks, its shape, attempts and logs (module docstring)."""
    rng = random.Random(seed)
    keys, upstream = dag(size, rng)
    failing = set(keys[-LAYER_WIDTH:][: max(1, size // 2_000)])
    started_at = time.time() - 3 * 3600
    ends: dict[str, float] = {}
    tasks, attempts = [], []
    logs = home / "logs" / run_id
    logs.mkdir(parents=True)
    for key in keys:
        start = max((ends[name] for name in upstream[key]), default=started_at)
        start += rng.uniform(0.0, 0.2)  # the queue wait
        outcomes = ["failed", "succeeded"] if rng.random() < 0.1 else ["succeeded"]
        if key in failing:
            outcomes = ["failed", "failed"]
        error, first_start = None, start
        for number, outcome in enumerate(outcomes, start=1):
            end = start + rng.uniform(0.2, 4.0)
            log_path = logs / f"{key}.{number}.log"
            log_path.write_text(log_text(key, number, start, rng))
            error = None
            if outcome == "failed":
                message = "warehouse dwh-02 closed the connection"
                error = ErrorInfo("ConnectionError", message, TRACEBACK.format(key=key))
            attempts.append(
                AttemptRecord(
                    run_id=run_id,
                    task_key=key,
                    attempt=number,
                    state=TaskState(outcome),
                    started_at=start,
                    ended_at=end,
                    exit_code=0 if outcome == "succeeded" else 1,
                    error=error,
                    log_path=str(log_path),
                )
            )
            start = end + rng.uniform(1.0, 5.0)  # the retry wait
        ends[key] = end
        tasks.append(
            TaskRecord(
                run_id=run_id,
                task_key=key,
                state=TaskState(outcomes[-1]),
                attempts=len(outcomes),
                started_at=first_start,
                ended_at=end,
                error=error,
            )
        )
    shape = {
        "version": 1,
        "flow": f"synthetic_{size}",
        "tasks": [
            {
                "key": key,
                "kind": "python",
                "depends_on": [{"task": name, "outcome": None} for name in upstream[key]],
                "run_if": "all_success",
                "condition": False,
                "retries": 1,
                "timeout": None,
            }
            for key in keys
        ],
        "schedule": None,
        "trigger": None,
        "max_concurrent_runs": 1,
        "timeout": None,
    }
    run = RunRecord(
        run_id=run_id,
        flow_name=f"synthetic_{size}",
        params={"date": "2026-11-24", "region": "eu-west"},
        state=RunState.FAILED,
        started_at=started_at,
        ended_at=max(ends.values()) + 0.1,
        executor="local",
    )
    with store.batch():
        store.create_run(run, task_keys=keys)
        store.set_shape(run_id, shape)
        for task in tasks:
            store.record_task(task)
        for attempt in attempts:
            store.record_attempt(attempt)
        for index, key in enumerate(keys):
            if index % 200 == 7 or key in failing:
                values = {"row_count": rng.randint(0, 10**6), "table": f"dwh.{key}", "ok": True}
                store.set_task_values(run_id, key, values)


def ui_history(store: SqliteStore, runs: int) -> None:
    """``runs`` finished runs of 3 tasks each over 20 flows, one every 15 minutes."""
    rng = random.Random(7)
    keys = ["extract", "transform", "load"]
    now = time.time()
    for first in range(0, runs, 1_000):
        with store.batch():
            for index in range(first, min(runs, first + 1_000)):
                run_id = f"{index:08x}{rng.getrandbits(96):024x}"
                flow = f"flow_{index % 20:02d}"
                started = now - (runs - index) * 900.0
                failed = rng.random() < 0.05
                state = RunState.FAILED if failed else RunState.SUCCEEDED
                run = RunRecord(
                    run_id=run_id,
                    flow_name=flow,
                    params={"date": time.strftime("%Y-%m-%d", time.localtime(started))},
                    state=state,
                    started_at=started,
                    ended_at=started + 42.0,
                    executor="local",
                )
                store.create_run(run, task_keys=keys)
                shape_tasks = [
                    {
                        "key": key,
                        "kind": "python",
                        "depends_on": [{"task": keys[n - 1], "outcome": None}] if n else [],
                        "run_if": "all_success",
                        "condition": False,
                        "retries": 0,
                        "timeout": None,
                    }
                    for n, key in enumerate(keys)
                ]
                store.set_shape(
                    run_id, {"version": 1, "flow": flow, "tasks": shape_tasks, "schedule": None}
                )
                for n, key in enumerate(keys):
                    task_state = TaskState.FAILED if failed and n == 2 else TaskState.SUCCEEDED
                    begin, end = started + 14 * n, started + 14 * (n + 1)
                    store.record_task(
                        TaskRecord(run_id, key, task_state, 1, started_at=begin, ended_at=end)
                    )
                    store.record_attempt(
                        AttemptRecord(run_id, key, 1, task_state, started_at=begin, ended_at=end)
                    )


# -- measuring ---------------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def report_figures(store: SqliteStore, run_id: str, folder: Path, rounds: int) -> dict[str, float]:
    """Median seconds of ``read_run``, ``render_run`` and ``write_report``; the file's bytes."""
    target = folder / f"{run_id}.html"
    reads, renders, writes = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        view = read_run_checked(store, run_id)
        reads.append(time.perf_counter() - started)
        renders.append(timed(functools.partial(render_run, view, links=FILE_LINKS)))
        writes.append(timed(functools.partial(write_report, store, run_id, target)))
    return {
        "read_s": statistics.median(reads),
        "render_s": statistics.median(renders),
        "write_s": statistics.median(writes),
        "bytes": target.stat().st_size,
    }


#: What cProfile's figures are summed into: (label, file name, function), cumulative seconds.
PHASES = (
    ("read_run", "model.py", ("read_run",)),
    ("  store reads (SQLite)", "sqlite_reads.py", ("get_run", "get_tasks", "get_attempts")),
    ("  store reads (shape, values)", "sqlite_reads.py", ("get_shape", "get_values")),
    ("  read_tail (log tails)", "model.py", ("read_tail",)),
    ("    of which inside_home", "model.py", ("inside_home",)),
    ("  critical_path", "model.py", ("critical_path",)),
    ("render_run", "html.py", ("render_run",)),
    ("  layout (graph)", "dag.py", ("layout",)),
    ("    of which _crossings", "dag.py", ("_crossings",)),
    ("  timeline", "gantt.py", ("timeline",)),
    ("  Jinja2 template render", "environment.py", ("render",)),
    ("write_private_file", "_home.py", ("write_private_file",)),
)


def profile_report(store: SqliteStore, run_id: str, target: Path, top: int = 12) -> str:
    """cProfile of one ``write_report``: its phases, then the functions with most own time.

    The profiler slows many small calls (Jinja2's) more than a few long ones, so
    the phases are first timed without it too.
    """
    started = time.perf_counter()
    view = read_run_checked(store, run_id)
    read_s = time.perf_counter() - started
    keys = [task.key for task in view.tasks]
    budget = model.LOG_BUDGET_BYTES // len(keys)  # as read_run shares it out
    each = max(model.MIN_TAIL_BYTES, min(model.LOG_TAIL_BYTES, budget))
    tails_s = timed(lambda: [model.read_tail(task.log_path, each) for task in view.tasks])
    layout_s = timed(lambda: layout(keys, {task.key: task.depends_on for task in view.tasks}))
    timeline_s = timed(lambda: timeline(view))
    render_s = timed(lambda: render_run(view))
    unprofiled = (
        f"Without the profiler: read_run {read_s:.2f} s (its {len(keys):,} log tails "
        f"{tails_s:.2f} s),\n  render_run {render_s:.2f} s (graph layout {layout_s:.2f} s, "
        f"timeline {timeline_s:.2f} s, the rest, mostly Jinja2, "
        f"{render_s - layout_s - timeline_s:.2f} s)"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    write_report(store, run_id, target)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in stats.values())
    lines = [unprofiled, f"cProfile of write_report({run_id!r}): {total:.2f} s under the profiler"]
    lines.append(f"  {'cum s':>6} {'share':>6}  phase")
    for label, file_name, functions in PHASES:
        cumulative = sum(
            entry[3]
            for (filename, _, name), entry in stats.items()
            if filename.endswith(f"/{file_name}") and name in functions
        )
        lines.append(f"  {cumulative:6.2f} {cumulative / total:6.1%}  {label}")
    lines.append(f"  {'own s':>6} {'share':>6}  {'calls':>9}  function")
    entries = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)
    for (filename, line, name), (_, calls, own, _, _) in entries[:top]:
        where = f"{Path(filename).parent.name}/{Path(filename).name}:{line}" if line else "builtin"
        lines.append(f"  {own:6.2f} {own / total:6.1%}  {calls:9,}  {name} ({where})")
    return "\n".join(lines)


def read_run_checked(store: SqliteStore, run_id: str) -> model.RunView:
    view = read_run(store, run_id)
    if view is None:
        msg = f"run {run_id} was not recorded"
        raise RuntimeError(msg)
    return view


def size_breakdown(path: Path) -> str:
    """The report's bytes by section (graph, timeline, ...) and by the elements that repeat."""
    html = path.read_bytes()
    total = len(html)
    lines = [f"bytes of {path.name}: {total / 1e6:.2f} MB ({total / 1e3:,.0f} KB)"]
    parts = re.split(rb'(?=<section class="card" id=")', html)
    for part in parts:
        found = re.match(rb'<section class="card" id="([^"]+)"', part)
        name = found[1].decode() if found else "head (styles, script)"
        lines.append(f"  {len(part) / 1e6:6.2f} MB {len(part) / total:6.1%}  section {name}")
    for label, pattern in ELEMENTS:
        found = re.findall(pattern, html, re.DOTALL)
        size = sum(len(element) for element in found)
        each = size / max(1, len(found))
        share = f"{size / 1e6:6.2f} MB {size / total:6.1%}"
        lines.append(f"  {share}  {len(found):,} x {label}, {each:.0f} B each")
    return "\n".join(lines)


#: The elements a report repeats per task, attempt or edge, for ``size_breakdown``.
ELEMENTS = (
    ("graph edge <path>", rb'<path class="edge[^>]*/>'),
    ("graph node <g>", rb'<g class="node.*?</g>'),
    ("timeline row label", rb'<text class="row-label.*?</text>'),
    ("timeline attempt bar", rb'<rect class="bar.*?</rect>'),
    ("timeline wait bar", rb'<rect class="wait.*?</rect>'),
    ("task table row", rb"<tr data-task.*?</tr>"),
    ("task details", rb'<details class="task".*?</details>'),
    ("  of which log tail", rb'<pre class="log">.*?</pre>'),
    ("  of which error", rb'<pre class="error">.*?</pre>'),
)


def synthetic_rows(
    store: SqliteStore, home: Path, *, profile: bool
) -> tuple[list[list[str]], list[str]]:
    rows, profiles = [], []
    per_task_at_100 = None
    for size, rounds in ((100, 5), (1_000, 5), (10_000, 3)):
        run_id = f"synthetic-{size}"
        setup = timed(functools.partial(synthetic_run, store, home, run_id, size, seed=size))
        figures = report_figures(store, run_id, home / "reports", rounds)
        per_task = figures["write_s"] / size
        per_task_at_100 = per_task_at_100 or per_task
        megabytes = figures["bytes"] / 1e6
        target, result = "", ""
        if size == 10_000:
            target = f"< {REPORT_S:g} s; < {REPORT_MB:g} MB"
            passed = (figures["write_s"] < REPORT_S, megabytes < REPORT_MB)
            result = "; ".join("PASS" if ok else "MISS" for ok in passed)
        rows.append(
            [
                f"synthetic, {size:,} tasks",
                f"{figures['read_s'] * 1000:,.0f}",
                f"{figures['render_s'] * 1000:,.0f}",
                f"{figures['write_s'] * 1000:,.0f}",
                f"{per_task * 1000:.2f}",
                f"{per_task / per_task_at_100:.2f}x @100",
                f"{megabytes:.2f}",
                f"{figures['bytes'] / size / 1000:.1f}",
                f"{setup:.1f} s",
                target,
                result,
            ]
        )
        if size == 10_000 and (profile or megabytes >= REPORT_MB):
            profiles.append(size_breakdown(home / "reports" / f"{run_id}.html"))
        if size == 10_000 and (profile or figures["write_s"] >= REPORT_S):
            profiles.append(profile_report(store, run_id, home / "reports" / "profiled.html"))
    return rows, profiles


def ordinary_rows(home: Path, rounds: int) -> list[list[str]]:
    """``flowkit run examples/branching.py``, then its report in-process and by the CLI."""
    environment = {**os.environ, "FLOWKIT_HOME": str(home)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    run = [sys.executable, "-m", "flowkit", "run", str(BRANCHING)]
    run_s = min(
        timed(functools.partial(subprocess.run, run, env=environment, check=True, **quiet))
        for _ in range(3)
    )
    store = open_store(read_only=True)
    try:
        run_id = store.list_runs(flow="branching", limit=1)[0].run_id
        tasks = len(store.get_tasks(run_id))
        target = home / "reports" / "branching.html"
        in_process = statistics.median(
            timed(lambda: write_report(store, run_id, target)) for _ in range(rounds)
        )
    finally:
        store.close()
    cli = [sys.executable, "-m", "flowkit", "report", run_id, "-o", str(target)]
    floor = [sys.executable, "-m", "flowkit", "--help"]
    cli_s, floor_s = (
        min(
            timed(functools.partial(subprocess.run, command, env=environment, check=True, **quiet))
            for _ in range(3)
        )
        for command in (cli, floor)
    )
    size = target.stat().st_size
    rows = []
    for how, seconds, baseline in (
        (f"examples/branching.py, {tasks} tasks: write_report", in_process, f"run {run_s:.2f} s"),
        ("  the same: python -m flowkit report", cli_s, f"--help {floor_s:.2f} s"),
    ):
        rows.append(
            [
                how,
                "",
                "",
                f"{seconds * 1000:,.0f}",
                f"{seconds / tasks * 1000:.2f}",
                f"{seconds / run_s:.2f}x run",
                f"{size / 1e6:.2f}",
                f"{size / tasks / 1000:.1f}",
                baseline,
                "",
                "",
            ]
        )
    return rows


class _Fixed(http.server.BaseHTTPRequestHandler):
    """The baseline: http.server answering a fixed body, as the ui answers a page."""

    protocol_version = "HTTP/1.1"
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet, as the ui is."""


@contextlib.contextmanager
def serving(server: http.server.HTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def get(url: str) -> tuple[float, int]:
    """Seconds to the last byte of ``url`` on a fresh connection, and the body's size."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


def ui_rows() -> list[list[str]]:
    """The ui over UI_RUNS runs: each page's cold request and the median of the next ones."""
    store = open_store()
    try:
        setup = timed(lambda: ui_history(store, UI_RUNS))
    finally:
        store.close()
    paths = ["/", "/api/runs?limit=50", f"/?page={UI_RUNS // 50}"]
    figures = {}
    with serving(UiServer("127.0.0.1", 0, store_file())) as base:
        for path in paths:
            cold, size = get(base + path)
            warm = [get(base + path)[0] for _ in range(UI_REQUESTS)]
            figures[path] = (cold, statistics.median(warm), max(warm), size)
    rows = []
    for path in paths:
        cold, median, slowest, size = figures[path]
        _Fixed.body = b"x" * size
        with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)) as base:
            get(base + "/")
            bare = statistics.median(get(base + "/")[0] for _ in range(UI_REQUESTS))
        first_page = path == "/"
        rows.append(
            [
                f"GET {path}",
                f"{cold * 1000:.1f}",
                f"{median * 1000:.1f}",
                f"{slowest * 1000:.1f}",
                f"{size / 1000:.1f}",
                f"{bare * 1000:.2f}",
                f"{median / bare:.1f}x bare",
                f"{setup:.1f} s" if first_page else "",
                f"< {UI_MS:g} ms" if first_page else "",
                ("PASS" if max(cold, median) < UI_MS / 1000 else "MISS") if first_page else "",
            ]
        )
    return rows


# -- the run -----------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        action="store_true",
        help="break the 10,000-task report's bytes and time down even if it meets its targets",
    )
    arguments = parser.parse_args()
    started = time.perf_counter()
    with flowkit_home() as home:
        ui = ui_rows()
        store = open_store()
        try:
            synthetic, profiles = synthetic_rows(store, home, profile=arguments.profile)
        finally:
            store.close()
        ordinary = ordinary_rows(home, rounds=5)
    elapsed = time.perf_counter() - started
    print(
        f"flowkit report and ui: Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"measured in {elapsed:.0f} s"
    )
    print()
    header = ["report", "read ms", "render ms", "total ms", "ms/task", "ratio", "MB"]
    header += ["KB/task", "setup/baseline", "target", "result"]
    print(table(header, synthetic + ordinary, right=set(range(1, 8))))
    print(
        "\nread = read_run (store + log tails), render = render_run, total = write_report "
        "(read, render, write);\nmedian of 5 rounds (3 at 10,000); processes best of 3. ratio: "
        "ms/task against 100 tasks, or the report\nagainst the run's own `python -m flowkit "
        "run` wall time. setup: writing the synthetic run and its logs\n(not timed). --help: "
        "`python -m flowkit --help`, the floor of any flowkit command."
    )
    print()
    header = ["ui, 10,000 runs", "cold ms", "median ms", "max ms", "KB", "bare ms", "ratio"]
    header += ["setup", "target", "result"]
    print(table(header, ui, right=set(range(1, 7))))
    print(
        f"\ncold = the first request after the server started; median and max of the next "
        f"{UI_REQUESTS},\neach on a fresh connection. bare = http.server answering a fixed "
        "body of the same size."
    )
    for text in profiles:
        print(f"\n{text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
