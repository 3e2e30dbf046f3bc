"""``flowkit run``: run a flow to its end."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from flowkit import _engine
from flowkit._errors import (
    RunInterrupted,
)
from flowkit.cli._render.progress import progress_listener

if TYPE_CHECKING:
    pass
from flowkit.cli._common import (
    TARGET_HELP,
    _add_execution_options,
    _executor,
    _report,
    _sigterm_cancels,
)


def _add_run(commands: Any, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a flow to its end",
        description="Run a flow to its end, printing each task's state as it changes.",
    )
    run.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    _add_execution_options(run)
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from flowkit._engine.loader import load_flow

    flow = load_flow(args.target)
    plan = flow.plan()  # every definition problem, before anything prints or runs
    printer = progress_listener(plan)
    with _sigterm_cancels():
        try:
            result = _engine.run_flow(
                flow,
                params=dict(args.params),
                params_from_text=True,
                executor=_executor(args, flow.name),
                max_parallel=args.max_parallel,
                listeners=[printer],
            )
        except RunInterrupted as interrupted:  # cancelled and recorded: report it, exit 130
            result = interrupted.result
    return _report(result, plan)
