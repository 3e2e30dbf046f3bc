"""The text around a drawn plan: where condition branches lead, and the listing of a wide flow.

``graph.render`` draws the boxes and arrows; these say in words what a drawing
cannot show, or replace it when the flow is too wide for the terminal.
"""

from __future__ import annotations

from flowkit._definition.spec import RunIf
from flowkit._planning.plan import Plan


def branches(plan: Plan, condition: str) -> str:
    """``check: condition; if true -> load; if false -> alert``: where its outcomes lead."""
    followed: dict[bool, list[str]] = {True: [], False: []}
    for dependent in plan.downstream[condition]:
        outcome = plan.outcomes.get(dependent, {}).get(condition)
        if outcome is not None:
            followed[outcome].append(dependent)
    branches = [
        f"if {'true' if outcome else 'false'} -> {', '.join(followed[outcome]) or 'nothing'}"
        for outcome in (True, False)
    ]
    return f"{condition}: condition; {'; '.join(branches)}"


def listing(plan: Plan, width: int, needed: int) -> str:
    """Tasks by level with their dependencies: what a too-wide drawing would show."""
    name_width = max(len(name) for name in plan.order)
    lines = [
        f"flow {plan.name!r} needs {needed} columns to draw and {width} are available; "
        "its tasks by level:"
    ]
    for level, names in enumerate(plan.levels):
        for position, name in enumerate(names):
            prefix = f"level {level}" if position == 0 else ""
            line = f"{prefix:<9}{name:<{name_width}}"
            if plan.upstream[name]:
                outcomes = plan.outcomes.get(name, {})
                upstream = [
                    f"{up} ({'if true' if outcomes[up] else 'if false'})" if up in outcomes else up
                    for up in plan.upstream[name]
                ]
                line += f"  <- {', '.join(upstream)}"
            run_if = plan.tasks[name].run_if
            if run_if is not RunIf.ALL_SUCCESS:
                line += f"  (run_if={run_if.value})"
            lines.append(line.rstrip())
    return "\n".join(lines)
