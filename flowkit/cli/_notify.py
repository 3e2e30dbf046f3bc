"""``flowkit notify test DEST``: send a sample payload to a destination and say how it went."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any

from flowkit._definition.notify import Notify, destination_problems, masked
from flowkit._errors import DefinitionError
from flowkit._text import escape, write_out
from flowkit.cli._common import EXIT_FAILED, EXIT_SUCCEEDED


def _add_notify(commands: Any, common: argparse.ArgumentParser) -> None:
    notify = commands.add_parser(
        "notify",
        parents=[common],
        help="send a sample notification to a destination",
        description="Notifications. `flowkit notify test DEST` sends a sample payload once.",
    )
    actions = notify.add_subparsers(title="actions", metavar="ACTION", required=True)
    test = actions.add_parser(
        "test",
        parents=[common],
        help="send a sample payload to DEST and report the outcome",
        description=(
            "Send a sample payload (event on_failure, flow 'example') to DEST: an http(s):// "
            "URL or an Apprise URL; {{secrets/scope/key}} references are filled. Exit 0 "
            "when it was delivered, 1 when not."
        ),
    )
    test.add_argument("destination", metavar="DEST", help="https://..., mailto://..., slack://...")
    test.set_defaults(handler=_test)


def _test(args: argparse.Namespace) -> int:
    from flowkit._notify.payload import payload
    from flowkit._notify.send import DeliveryFailed, send
    from flowkit._secrets import Redactor

    destination = args.destination
    Notify(on_failure=[destination])  # the shape, as a flow's would be checked
    problems = destination_problems("flowkit notify test", Notify(on_failure=[destination]))
    if problems:
        raise DefinitionError("; ".join(problems))
    sample = payload(
        "on_failure",
        flow="example",
        run_id=uuid.uuid4().hex,
        state="failed",
        trigger="manual",
        started_at=time.time() - 42,
        params={"date": "2026-11-23"},
        duration=42.0,
        failed=[{"task": "ingest", "state": "failed", "error": "RuntimeError: sample"}],
        message="flowkit notify test: a sample notification",
    )
    shown = masked(destination)
    try:
        send(destination, sample)
    except DeliveryFailed as failed:
        reason = Redactor.for_run().text(str(failed))
        write_out(f"not delivered to {escape(shown)}: {escape(reason)}\n", sys.stderr)
        return EXIT_FAILED
    write_out(f"delivered a sample notification to {escape(shown)}\n")
    return EXIT_SUCCEEDED
