"""``flowkit runs``, ``show`` and ``logs``: the run history, read-only."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flowkit._errors import (
    StoreError,
)
from flowkit._home import home_folder
from flowkit._text import escape_lines
from flowkit.cli._render.gantt import MIN_WIDTH, gantt

if TYPE_CHECKING:
    pass
from flowkit.cli._common import (
    DEFAULT_RUNS_LIMIT,
    EXIT_SUCCEEDED,
    RUN_ID_HELP,
    _positive_int,
)


def _add_runs(commands: Any, common: argparse.ArgumentParser) -> None:
    runs = commands.add_parser(
        "runs",
        parents=[common],
        help="list recorded runs, newest first",
        description="List recorded runs, newest first: id, flow, state, start (local time), "
        "duration and repair count. A run whose orchestrator died shows as interrupted.",
    )
    runs.add_argument("--flow", metavar="NAME", default=None, help="only runs of this flow")
    runs.add_argument(
        "--limit",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_RUNS_LIMIT,
        help=f"show at most N runs (default: {DEFAULT_RUNS_LIMIT})",
    )
    runs.set_defaults(handler=_runs)


def _runs(args: argparse.Namespace) -> int:
    from flowkit._home import store_file
    from flowkit.cli._render.history import format_runs

    if not store_file().exists():
        print(f"no runs recorded yet in {store_file()}")
        return EXIT_SUCCEEDED
    with _history_store() as store:
        print(format_runs(store.list_runs(flow=args.flow, limit=args.limit)))
    return EXIT_SUCCEEDED


def _add_show(commands: Any, common: argparse.ArgumentParser) -> None:
    show = commands.add_parser(
        "show",
        parents=[common],
        help="show one run and every task of it",
        description="Show a run (id, flow, state, params, start, duration, repair count, "
        "executor) and every task: state, attempts, duration, compute seconds, first line of "
        "its error, task values; then the compute seconds of every attempt of every pass, "
        "and the cluster the run held (dask). With --gantt, every attempt instead, as a bar "
        "on the run's time axis.",
    )
    show.add_argument("run_id", metavar="RUN_ID", help=RUN_ID_HELP)
    show.add_argument(
        "--gantt",
        action="store_true",
        help="draw every attempt of every task as a bar on the run's time axis, with the "
        "wait before each retry, its duration and how it ended",
    )
    show.add_argument(
        "--width",
        metavar="N",
        type=_chart_columns,
        default=None,
        help=f"columns to draw --gantt in (default: the terminal's width; at least {MIN_WIDTH})",
    )
    show.set_defaults(handler=_show)


def _chart_columns(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < MIN_WIDTH:
        msg = f"{text!r} is not a width to draw a chart in; give a whole number >= {MIN_WIDTH}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _show(args: argparse.Namespace) -> int:
    from flowkit.cli._render.history import format_deliveries, format_run, format_runs

    with _history_store() as store:
        run_id = store.resolve_run_id(args.run_id)
        run = store.get_run(run_id)
        assert run is not None  # resolve_run_id found it
        if args.gantt:
            terminal = max(MIN_WIDTH, shutil.get_terminal_size().columns)
            width = terminal if args.width is None else args.width
            print(gantt(run, store.get_attempts(run_id), width=width, now=time.time()))
            return EXIT_SUCCEEDED
        print(format_run(run, store.get_tasks(run_id), store.get_attempts(run_id)))
        deliveries = store.get_deliveries(run_id)
        if deliveries:
            print(f"\nnotifications:\n{format_deliveries(deliveries)}")
        children = [child for child in store.list_runs() if child.parent_run_id == run_id]
        if children:  # run-flow tasks' child runs and for-each tasks' iterations
            print(f"\nchild runs (for-each iterations, run-flow tasks):\n{format_runs(children)}")
    return EXIT_SUCCEEDED


def _add_logs(commands: Any, common: argparse.ArgumentParser) -> None:
    logs = commands.add_parser(
        "logs",
        parents=[common],
        help="print the captured output of a run's tasks",
        description="Print what a run's task attempts printed: the latest attempt of every "
        "task, or of TASK; with --attempt N, attempt N (of each repair pass that made one). "
        "An attempt that failed ends with its stored traceback. Control characters and "
        "escape sequences in the output are shown escaped (\\x1b), as is every other text a "
        "task wrote; --raw prints the log exactly as the task wrote it.",
    )
    logs.add_argument("run_id", metavar="RUN_ID", help=RUN_ID_HELP)
    logs.add_argument("task", metavar="TASK", nargs="?", default=None, help="only this task")
    logs.add_argument(
        "--attempt", metavar="N", type=_positive_int, default=None, help="this attempt (1-based)"
    )
    logs.add_argument(
        "--raw",
        action="store_true",
        help="print the output as written, escape sequences (colours, titles) included",
    )
    logs.set_defaults(handler=_logs)


def _logs(args: argparse.Namespace) -> int:
    from flowkit.cli._render import history

    with _history_store() as store:
        run_id = store.resolve_run_id(args.run_id)
        tasks = store.get_tasks(run_id)
        if args.task is not None and args.task not in tasks:
            msg = f"run {run_id} has no task {args.task!r}; its tasks: {', '.join(tasks)}"
            raise StoreError(msg)
        attempts = store.get_attempts(run_id, args.task)
    names = [args.task] if args.task is not None else list(tasks)
    if args.attempt is None:
        chosen = history.latest_attempts(attempts)
        selected = {name: [chosen[name]] for name in names if name in chosen}
    else:
        selected = {
            name: [a for a in attempts if a.task_key == name and a.attempt == args.attempt]
            for name in names
        }
        if args.task is not None and not selected[args.task]:
            made = sorted({a.attempt for a in attempts})
            msg = (
                f"task {args.task!r} of run {run_id} has no attempt {args.attempt}; "
                f"its attempts: {', '.join(map(str, made)) or 'none (it never ran)'}"
            )
            raise StoreError(msg)
    home = home_folder()
    pages = []
    for name in names:
        if not selected.get(name):
            never = "never ran" if args.attempt is None else f"made no attempt {args.attempt}"
            pages.append(f"== {name}: {never} ({tasks[name].state.value}): no output ==")
            continue
        for attempt in selected[name]:
            text = history.read_log(attempt, home)
            error = history.attempt_error(attempt)
            page = text if error is None else f"{text}\n{error}"
            pages.append(
                f"{history.attempt_heading(attempt)}\n{page if args.raw else escape_lines(page)}"
            )
    print("\n".join(pages))
    return EXIT_SUCCEEDED


@contextlib.contextmanager
def _history_store() -> Iterator[Any]:
    """The store of the current home, opened read-only; a missing one is a StoreError."""
    from flowkit._store import open_store

    store = open_store(create=False, read_only=True)
    try:
        yield store
    finally:
        store.close()
