"""``flowkit run``: run a flow to its end."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from typing import Any

from flowkit import _engine
from flowkit._errors import FlowkitError, RunInterrupted
from flowkit._state import TRIGGER_TYPES, RunTrigger
from flowkit._text import escape, escape_lines, write_out
from flowkit.cli._common import (
    TARGET_HELP,
    _add_execution_options,
    _executor,
    _report,
    _sigterm_cancels,
    add_job_options,
    load_any,
)
from flowkit.cli._render.progress import progress_listener


def _add_run(commands: Any, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a flow to its end",
        description="Run a flow to its end, printing each task's state as it changes.",
    )
    run.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    _add_execution_options(run)
    _add_trigger_options(run)
    add_job_options(run)
    run.add_argument(
        "--report",
        action="store_true",
        help="when the run ends, write its HTML report ($FLOWKIT_HOME/reports/RUN_ID.html) "
        "and print its path",
    )
    run.set_defaults(handler=_run)


def _add_trigger_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "trigger", "what started the run: `flowkit serve` and `flowkit backfill` set these"
    )
    group.add_argument("--trigger", choices=TRIGGER_TYPES, default="manual", help="default: manual")
    group.add_argument(
        "--trigger-time",
        type=_moment,
        metavar="ISO8601",
        help="the scheduled time, for {{job.trigger.time.*}} (default: the run's start)",
    )
    group.add_argument("--trigger-location", metavar="FOLDER", help=argparse.SUPPRESS)
    group.add_argument("--backfill-id", metavar="ID", help=argparse.SUPPRESS)
    # serve starts a run ahead of its time: loaded and ready, it waits for it
    group.add_argument("--not-before", type=float, metavar="EPOCH", help=argparse.SUPPRESS)


def _moment(text: str) -> float:
    """An ISO 8601 time (UTC when it has no offset) as epoch seconds."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        msg = f"{text!r} is not an ISO 8601 time such as 2026-11-23T03:00:00+01:00"
        raise argparse.ArgumentTypeError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _wait_until(moment: float) -> None:
    """Sleep until the wall time ``moment`` (epoch seconds)."""
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 1.0))


def trigger_of(args: argparse.Namespace) -> RunTrigger:
    return RunTrigger(
        type=args.trigger,
        time=args.trigger_time,
        file_arrival_location=args.trigger_location,
        backfill_id=args.backfill_id,
    )


def _run(args: argparse.Namespace) -> int:
    flow = load_any(args)
    plan = flow.plan()  # every definition problem, before anything prints or runs
    printer = progress_listener(plan)
    with _sigterm_cancels():
        if args.not_before is not None:
            _wait_until(args.not_before)  # Ctrl-C here: nothing was recorded, exit 130
        try:
            result = _engine.run_flow(
                flow,
                params=dict(args.params),
                params_from_text=True,
                executor=_executor(args, flow.name),
                max_parallel=args.max_parallel,
                listeners=[printer],
                trigger=trigger_of(args),
            )
        except RunInterrupted as interrupted:  # cancelled and recorded: report it, exit 130
            result = interrupted.result
    code = _report(result, plan)
    if args.report:
        _write_report(result.run_id)
    return code


def _write_report(run_id: str) -> None:
    from flowkit._store import open_store
    from flowkit.cli._report import write_report_file

    try:
        store = open_store(create=False, read_only=True)
        try:
            write_out(f"report: {escape(write_report_file(store, run_id))}\n")
        finally:
            store.close()
    except FlowkitError as error:  # the run is recorded: say why there is no report, go on
        write_out(f"flowkit: {escape_lines(str(error))}\n", sys.stderr)
