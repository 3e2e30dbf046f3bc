"""``flowkit graph``: draw a flow."""

from __future__ import annotations

import argparse
import shutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from flowkit.cli._common import (
    EXIT_SUCCEEDED,
    TARGET_HELP,
    _columns,
)


def _add_graph(commands: Any, common: argparse.ArgumentParser) -> None:
    graph = commands.add_parser(
        "graph",
        parents=[common],
        help="draw a flow's tasks and dependencies",
        description="Draw a flow as boxes and arrows, one row per level of its plan.",
    )
    graph.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    graph.add_argument(
        "--width",
        metavar="N",
        type=_columns,
        default=None,
        help="columns to draw in (default: the terminal's width; 0: no limit); "
        "a wider flow is listed level by level instead",
    )
    graph.set_defaults(handler=_graph)


def _graph(args: argparse.Namespace) -> int:
    from flowkit._engine.loader import load_flow
    from flowkit.cli._render.graph import render

    plan = load_flow(args.target).plan()
    width = shutil.get_terminal_size().columns if args.width is None else args.width
    print(render(plan, width=width or None))
    return EXIT_SUCCEEDED
