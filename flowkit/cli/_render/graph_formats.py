"""A plan as text for other tools to draw: a Mermaid flowchart and a Graphviz digraph.

``mermaid(plan)`` and ``dot(plan)`` are pure: the same plan gives the same
text. Both list every task once (a condition task as a diamond, a ``run_if``
other than ``all_success`` under its name) and every edge of ``plan.upstream``,
an edge that follows a condition's outcome labelled ``true`` or ``false``.

Names are data in either language. Mermaid nodes get generated ids (``n0``,
``n1``, ...) and the name as a quoted label whose ``"``, ``#``, ``%``, ``&``,
``<``, ``>`` and backtick are written as Mermaid's numeric entity codes
(``#34;``); the flow's name is the diagram's title, a JSON string in its front
matter with ``%`` as ``\\u0025``. Without a ``%``, no name can form the
``%%{init: ...}%%`` directive Mermaid looks for anywhere in its input.
Dot quotes every name, with ``\\`` and ``"`` escaped. Control characters are
escaped first (``flowkit._text.escape``), so neither output carries one to the
terminal it is printed on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flowkit._definition.spec import RunIf
from flowkit._planning.plan import Plan
from flowkit._text import escape

#: Characters that end or reinterpret a quoted Mermaid label, as Mermaid's entity codes.
_MERMAID_CODES = {ord(character): f"#{ord(character)};" for character in '"#%&<>`'}


def mermaid(plan: Plan) -> str:
    """``plan`` as a Mermaid flowchart, top to bottom, titled with the flow's name."""
    ids = {name: f"n{number}" for number, name in enumerate(_drawing_order(plan))}
    lines = [
        "---",
        f"title: {_mermaid_title(plan.name)}",
        "---",
        "flowchart TD",
    ]
    for name, node in ids.items():
        label = _mermaid_text(name)
        run_if = plan.tasks[name].run_if
        if run_if is not RunIf.ALL_SUCCESS:
            label += f"<br/>run_if={run_if.value}"
        opening, closing = ("{", "}") if plan.tasks[name].condition else ("[", "]")
        lines.append(f'    {node}{opening}"{label}"{closing}')
    for upstream, dependent, outcome in _edges(plan):
        arrow = "-->" if outcome is None else f"-->|{_outcome(outcome)}|"
        lines.append(f"    {ids[upstream]} {arrow} {ids[dependent]}")
    return "\n".join(lines)


def dot(plan: Plan) -> str:
    """``plan`` as a Graphviz ``digraph`` named and labelled after the flow, top to bottom."""
    title = _dot_string(plan.name)
    lines = [
        f"digraph {title} {{",
        "    rankdir=TB;",
        f"    label={title};",
        "    labelloc=t;",
        "    node [shape=box];",
    ]
    for name in _drawing_order(plan):
        attributes = []
        run_if = plan.tasks[name].run_if
        if run_if is not RunIf.ALL_SUCCESS:
            attributes.append(f"label={_dot_string(name, f'run_if={run_if.value}')}")
        if plan.tasks[name].condition:
            attributes.append("shape=diamond")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"    {_dot_string(name)}{suffix};")
    for upstream, dependent, outcome in _edges(plan):
        label = "" if outcome is None else f' [label="{_outcome(outcome)}"]'
        lines.append(f"    {_dot_string(upstream)} -> {_dot_string(dependent)}{label};")
    lines.append("}")
    return "\n".join(lines)


def _drawing_order(plan: Plan) -> Iterator[str]:
    """Level by level, in definition order within a level: the text drawing's order."""
    return (name for level in plan.levels for name in level)


def _edges(plan: Plan) -> Iterator[tuple[str, str, bool | None]]:
    """Every edge as (upstream, dependent, the condition outcome it follows or None)."""
    for dependent in _drawing_order(plan):
        outcomes = plan.outcomes.get(dependent, {})
        for upstream in plan.upstream[dependent]:
            yield upstream, dependent, outcomes.get(upstream)


def _outcome(outcome: bool) -> str:
    return "true" if outcome else "false"


def _mermaid_title(text: str) -> str:
    """``text`` as a YAML double-quoted string (JSON is one) without a ``%``."""
    return json.dumps(escape(text), ensure_ascii=False).replace("%", "\\u0025")


def _mermaid_text(text: str) -> str:
    return escape(text).translate(_MERMAID_CODES)


def _dot_string(*lines: str) -> str:
    """``lines`` as one Graphviz quoted string; its backslashes stay backslashes when drawn.

    The lines are joined by ``\\n``, the escape Graphviz draws as a line break.
    """
    joined = "\\n".join(escape(line).replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return f'"{joined}"'
