"""``flowkit report`` and ``flowkit ui``: a run as an HTML file, the home as a local web app."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flowkit._text import escape, write_out
from flowkit.cli._common import EXIT_INTERRUPTED, EXIT_SUCCEEDED, EXIT_USAGE, RUN_ID_HELP


def _add_report(commands: Any, common: argparse.ArgumentParser) -> None:
    report = commands.add_parser(
        "report",
        parents=[common],
        help="write a run's report: one self-contained HTML file",
        description="Write a run's report (graph, timeline, tasks, errors, values, log tails) "
        "as one HTML file that loads nothing from anywhere: open it offline or attach it to a "
        "ticket. Child runs' reports are written beside it. Prints the file's path.",
    )
    report.add_argument("run_id", metavar="RUN_ID", help=RUN_ID_HELP)
    report.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="where to write it (default: $FLOWKIT_HOME/reports/RUN_ID.html)",
    )
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from flowkit._store import open_store

    store = open_store(create=False, read_only=True)
    try:
        run_id = store.resolve_run_id(args.run_id)
        write_out(f"{escape(write_report_file(store, run_id, args.output))}\n")
    finally:
        store.close()
    return EXIT_SUCCEEDED


def write_report_file(store: Any, run_id: str, output: str | None = None) -> str:
    """Write the report of ``run_id``; its path. An unwritable file is a ReportError."""
    from flowkit._errors import ReportError
    from flowkit._report.files import write_report

    try:
        return str(write_report(store, run_id, output))
    except OSError as error:
        where = output or "the home's reports folder"
        msg = (
            f"cannot write the report of run {run_id} to {where}: {error.strerror or error}. "
            "Give another file with -o FILE, or free some space there"
        )
        raise ReportError(msg) from error


#: Where ``flowkit ui`` listens unless told: loopback only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787


def _add_ui(commands: Any, common: argparse.ArgumentParser) -> None:
    ui = commands.add_parser(
        "ui",
        parents=[common],
        help="browse the home's runs and flows in a local, read-only web app",
        description="Serve a read-only web app over the home: runs (filter by flow and state), "
        "each run's report (live while it runs), whole logs, flows with their schedules and "
        "next fires, and the same as JSON under /api. It has no authentication: it listens "
        "on loopback unless --host says otherwise. Ctrl-C stops it.",
    )
    ui.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})"
    )
    ui.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default: {DEFAULT_PORT}; 0: any free port)",
    )
    ui.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    from flowkit._report.server import UiServer, is_loopback

    try:
        server = UiServer(args.host, args.port)
    except OSError as error:
        msg = (
            f"flowkit ui: cannot listen on {escape(args.host)}:{args.port}: "
            f"{error.strerror or error}. Choose another --port (0 picks a free one)"
        )
        write_out(f"{msg}\n", sys.stderr)
        return EXIT_USAGE
    if not is_loopback(args.host):
        write_out(
            f"flowkit ui: warning: listening on {escape(args.host)}, not loopback, with no "
            "authentication: anyone who can reach this address reads every run's logs, "
            "values and parameters\n",
            sys.stderr,
        )
    write_out(f"flowkit ui: serving {server.url} (read-only; Ctrl-C stops)\n")
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        write_out("flowkit ui: stopped\n")
        return EXIT_INTERRUPTED
    finally:
        server.server_close()
    return EXIT_SUCCEEDED
