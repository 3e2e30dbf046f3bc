"""``flowkit serve``, ``schedule``, ``pause``, ``resume`` and ``backfill``: operating flows."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from typing import Any

from flowkit._clock import SystemClock
from flowkit._definition.schedules import Cron, Periodic
from flowkit._definition.spec import NAME_PATTERN
from flowkit._errors import DefinitionError, ServeRefused
from flowkit._home import home_folder
from flowkit._text import escape, write_out
from flowkit.cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SUCCEEDED,
    EXIT_USAGE,
    TARGET_HELP,
    _sigterm_cancels,
)

SERVE_TARGETS_HELP = "flow files, modules or folders of flow files (each PATH.py[:FLOW])"


def _add_operations(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="fire the schedules and triggers of flows, one run process each",
        description=(
            "Serve every flow with a schedule or trigger in TARGETs: print each with its "
            "next fire, start each due run as its own `flowkit run` process, reload a "
            "changed flow file. One serve per home. Ctrl-C or SIGTERM stops firing, "
            "cancels the running runs and exits 130."
        ),
    )
    serve.add_argument("targets", nargs="+", metavar="TARGET", help=SERVE_TARGETS_HELP)
    serve.add_argument("--executor", metavar="NAME", default=None, help="where the runs' tasks run")
    serve.set_defaults(handler=_serve)

    schedule = commands.add_parser(
        "schedule",
        parents=[common],
        help="list flows' schedules and triggers, paused state and next fires",
        description="List the schedules and triggers of TARGETs and their next fire times.",
    )
    schedule.add_argument("targets", nargs="+", metavar="TARGET", help=SERVE_TARGETS_HELP)
    schedule.add_argument(
        "--next", type=int, default=3, metavar="N", help="how many fire times (default: 3)"
    )
    schedule.set_defaults(handler=_schedule)

    for name, verb in (("pause", "pause"), ("resume", "resume")):
        command = commands.add_parser(
            name,
            parents=[common],
            help=f"{verb} a flow's schedule or trigger (kept in the home; serve follows)",
            description=(
                f"{verb.capitalize()} FLOW's schedule or trigger. Kept in the home, it "
                "overrides the flow's own paused=; a running serve follows within a second."
            ),
        )
        command.add_argument("flow", metavar="FLOW", help="the flow's name")
        command.set_defaults(handler=_pause if name == "pause" else _resume)

    backfill = commands.add_parser(
        "backfill",
        parents=[common],
        help="run a flow once per time slot of a past range",
        description=(
            "Run the flow once per slot from --start to --end (both included): the "
            "flow's schedule's fire times, or every --every. Each run has trigger "
            "`backfill` and its slot as {{job.trigger.time.*}}; the runs share a "
            "backfill id that `flowkit runs` shows."
        ),
    )
    backfill.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    backfill.add_argument("--start", required=True, metavar="DATE", help="2026-11-01 or ISO time")
    backfill.add_argument("--end", required=True, metavar="DATE", help="included")
    backfill.add_argument(
        "--every",
        metavar="INTERVAL",
        help="1d, 6h, 30m, 1w (default: the flow's schedule, else 1d)",
    )
    backfill.add_argument(
        "--max-concurrent", type=int, default=1, metavar="N", help="runs at once (default: 1)"
    )
    backfill.set_defaults(handler=_backfill)


def _say(line: str) -> None:
    write_out(f"{time.strftime('%H:%M:%S')}  {line}\n")


def _serve(args: argparse.Namespace) -> int:
    from flowkit._operations.launcher import ProcessLauncher
    from flowkit._operations.serve import Server
    from flowkit._operations.targets import Sources
    from flowkit._store import open_store

    home = home_folder()
    extra = ("--executor", args.executor) if args.executor else ()
    launcher = ProcessLauncher(home=home, output_folder=home / "serve", extra_arguments=extra)
    with open_store() as store:
        server = Server(Sources(args.targets), store.operations(), launcher, say=_say, runs=store)
        with _sigterm_cancels():
            try:
                server.serve()
            except ServeRefused as refused:
                write_out(f"flowkit: {escape(str(refused))}\n", sys.stderr)
                return EXIT_USAGE
            except KeyboardInterrupt:
                _say(f"stopped; started {server.started} run(s)")
                return EXIT_INTERRUPTED
    return EXIT_SUCCEEDED


def _schedule(args: argparse.Namespace) -> int:
    from flowkit._operations.targets import Sources

    if args.next < 0:
        msg = f"--next {args.next} is invalid; give a number of fire times >= 0"
        raise DefinitionError(msg)
    found = Sources(args.targets).load()
    for problem in found.problems:
        write_out(f"flowkit: cannot read: {escape(problem)}\n", sys.stderr)
    paused = _paused_settings()
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    lines = []
    for item in sorted(found.served, key=lambda served: served.flow.name):
        fires: Any = item.flow.spec().fires
        is_paused = paused.get(item.flow.name, bool(fires.paused))
        state = "paused" if is_paused else "active"
        lines.append(f"{escape(item.flow.name)}  {escape(fires.describe())}  {state}")
        if isinstance(fires, Cron):
            lines += [
                f"  {moment.isoformat(sep=' ')}" for moment in fires.next_fire_times(now, args.next)
            ]
        elif isinstance(fires, Periodic):
            lines.append(f"  every {fires.interval:g}s from when it is first served")
        else:
            lines.append(f"  when files arrive in {escape(fires.folder)}")
    if not found.served:
        lines.append("no flow with a schedule or trigger in the targets")
    write_out("\n".join(lines) + "\n")
    return EXIT_FAILED if found.problems else EXIT_SUCCEEDED


def _paused_settings() -> dict[str, bool]:
    from flowkit._home import store_file
    from flowkit._store import SqliteStore

    if not store_file().exists():
        return {}
    with SqliteStore(store_file(), read_only=True) as store:
        return store.operations().paused_settings()


def _set_paused(args: argparse.Namespace, *, paused: bool) -> int:
    from flowkit._store import open_store

    if not NAME_PATTERN.fullmatch(args.flow):
        msg = f"flow name {args.flow!r} is invalid; allowed: letters, digits, '_', '-' and '.'"
        raise DefinitionError(msg)
    with open_store() as store:
        store.operations().set_paused(args.flow, paused=paused)
    verb = "paused" if paused else "resumed"
    write_out(f"{verb} {args.flow} in {home_folder()}; a running serve follows within a second\n")
    return EXIT_SUCCEEDED


def _pause(args: argparse.Namespace) -> int:
    return _set_paused(args, paused=True)


def _resume(args: argparse.Namespace) -> int:
    return _set_paused(args, paused=False)


def _backfill(args: argparse.Namespace) -> int:
    from flowkit._engine.origin import flow_target
    from flowkit._interop.targets import load_target
    from flowkit._operations.backfill import Backfill, parse_every, parse_moment, slots
    from flowkit._operations.launcher import ProcessLauncher

    if args.max_concurrent < 1:
        msg = f"--max-concurrent {args.max_concurrent} is invalid; give a number of runs >= 1"
        raise DefinitionError(msg)
    flow = load_target(args.target)
    spec = flow.plan().flow
    zone = spec.schedule.zone if spec.schedule is not None else datetime.timezone.utc
    start = parse_moment(args.start, zone, option="--start")
    end = parse_moment(args.end, zone, option="--end")
    every = parse_every(args.every) if args.every else None
    moments = slots(spec.schedule, start, end, every)
    target = flow_target(flow.plan()) or args.target
    home = home_folder()
    launcher = ProcessLauncher(home=home, output_folder=home / "serve")
    backfill = Backfill(
        target, flow.name, launcher, SystemClock(), max_concurrent=args.max_concurrent, say=_say
    )
    _say(
        f"backfill {backfill.backfill_id} of {flow.name}: {len(moments)} slot(s) from "
        f"{start.isoformat(sep=' ')} to {end.isoformat(sep=' ')}, "
        f"{args.max_concurrent} at a time"
    )
    with _sigterm_cancels():
        try:
            failed = backfill.run(moments)
        except KeyboardInterrupt:
            _say(f"backfill {backfill.backfill_id} stopped")
            return EXIT_INTERRUPTED
    _say(f"backfill {backfill.backfill_id}: {len(moments) - failed} of {len(moments)} succeeded")
    return EXIT_FAILED if failed else EXIT_SUCCEEDED
