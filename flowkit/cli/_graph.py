"""``flowkit graph``: draw a flow, or write it as a Mermaid flowchart or a Graphviz digraph."""

from __future__ import annotations

import argparse
import shutil
from typing import Any

from flowkit.cli._common import (
    EXIT_SUCCEEDED,
    TARGET_HELP,
    _columns,
    add_job_options,
    load_any,
)

FORMATS = ("text", "mermaid", "dot")


def _add_graph(commands: Any, common: argparse.ArgumentParser) -> None:
    graph = commands.add_parser(
        "graph",
        parents=[common],
        help="draw a flow's tasks and dependencies",
        description="Draw a flow as boxes and arrows, one row per level of its plan; or "
        "write it as a Mermaid flowchart or a Graphviz digraph for another tool to draw.",
    )
    graph.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    graph.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: boxes and arrows for the terminal (default); mermaid: a Mermaid "
        "flowchart (paste it into Markdown); dot: a Graphviz digraph (pipe it to dot -Tsvg)",
    )
    graph.add_argument(
        "--width",
        metavar="N",
        type=_columns,
        default=None,
        help="columns to draw in (default: the terminal's width; 0: no limit); "
        "a wider flow is listed level by level instead; --format text only",
    )
    add_job_options(graph)
    graph.set_defaults(handler=_graph)


def _graph(args: argparse.Namespace) -> int:
    from flowkit.cli._render.graph import render
    from flowkit.cli._render.graph_formats import dot, mermaid

    plan = load_any(args).plan()
    if args.format != "text":  # a text for another tool: it is as wide as it is
        print(mermaid(plan) if args.format == "mermaid" else dot(plan))
        return EXIT_SUCCEEDED
    width = shutil.get_terminal_size().columns if args.width is None else args.width
    print(render(plan, width=width or None))
    return EXIT_SUCCEEDED
