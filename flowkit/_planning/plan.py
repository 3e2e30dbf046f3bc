"""The topological plan of a flow; validation collects every problem before raising.

``build_plan`` checks the whole flow (duplicate names, unknown, self and
cross-flow dependencies, cycles) and raises one ``DefinitionError`` listing
all problems, or returns a ``Plan``: the tasks in an order that respects every
edge, their levels for drawing, and the edges both ways.
"""

from __future__ import annotations

import difflib
import graphlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from flowkit._definition.notify import destination_problems
from flowkit._definition.spec import FlowSpec, TaskSpec
from flowkit._errors import DefinitionError
from flowkit._planning import signatures


@attrs.frozen
class Plan:
    """A validated flow: tasks by name, a topological order, levels and edges."""

    flow: FlowSpec
    tasks: Mapping[str, TaskSpec]
    order: tuple[str, ...]
    #: Direct dependencies and direct dependents of every task.
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]
    #: Level 0 holds the tasks with no dependencies; a task sits one below its deepest one.
    levels: tuple[tuple[str, ...], ...]
    #: dependent -> {condition task: the outcome the edge follows}, for outcome edges only.
    outcomes: Mapping[str, Mapping[str, bool]] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        return self.flow.name

    @property
    def leaves(self) -> tuple[str, ...]:
        """Tasks nothing depends on, in plan order."""
        return tuple(name for name in self.order if not self.downstream[name])

    def ancestors(self, name: str) -> set[str]:
        """Every task ``name`` depends on, directly or transitively."""
        return _reach(name, self.upstream)

    def descendants(self, name: str) -> set[str]:
        """Every task that depends on ``name``, directly or transitively."""
        return _reach(name, self.downstream)

    def __iter__(self) -> Iterator[TaskSpec]:
        return (self.tasks[name] for name in self.order)

    def __len__(self) -> int:
        return len(self.order)


def _reach(start: str, edges: Mapping[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges[start])
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(edges[name])
    return seen


def _order(upstream: Mapping[str, tuple[str, ...]]) -> tuple[tuple[str, ...], list[list[str]]]:
    """A topological order, or none and every cycle (graphlib's error names just one)."""
    try:
        return tuple(graphlib.TopologicalSorter(upstream).static_order()), []
    except graphlib.CycleError:
        return (), _cycles(upstream)


def _cycles(upstream: Mapping[str, tuple[str, ...]]) -> list[list[str]]:
    """One cycle per strongly connected component with a cycle, as ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    # Iterative Tarjan: a recursive one would overflow on a 10,000-task chain.
    for root in upstream:
        if root in index:
            continue
        work = [(root, iter(upstream[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(upstream[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return [_cycle_path(component, upstream) for component in components]


def _cycle_path(component: list[str], upstream: Mapping[str, tuple[str, ...]]) -> list[str]:
    """A cycle through a strongly connected component, written in the direction of flow."""
    members = set(component)
    start = min(component)
    # Walk dependents-first: from a task to one of its dependencies inside the component,
    # until a task repeats; then reverse, so the path reads upstream -> downstream.
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        node = min(dep for dep in upstream[node] if dep in members)
        if node in seen:
            cycle = [*path[seen[node] :], node]
            cycle.reverse()
            return cycle
        seen[node] = len(path)
        path.append(node)


def plan_of(flow: Any) -> Plan:
    """The plan of a ``Flow`` (anything with ``spec()``), a ``FlowSpec``, or a ``Plan`` itself.

    Raises:
        DefinitionError: listing every problem found.
    """
    if isinstance(flow, Plan):
        return flow
    return build_plan(flow if isinstance(flow, FlowSpec) else flow.spec())


def build_plan(flow: FlowSpec) -> Plan:
    """Validate ``flow`` and return its plan.

    Raises:
        DefinitionError: with every problem found, one per line.
    """
    problems: list[str] = []
    where = f"flow {flow.name!r}"
    tasks: dict[str, TaskSpec] = {}
    for spec in flow.tasks:
        if spec.name in tasks:
            problems.append(
                f"{where}: duplicate task name {spec.name!r} (functions "
                f"{_qualname(tasks[spec.name])} and {_qualname(spec)}); "
                "give one of them name=..."
            )
        else:
            tasks[spec.name] = spec
    if not tasks:
        problems.append(f"{where} has no tasks; add one with @{flow.name}.task or @task")

    upstream: dict[str, tuple[str, ...]] = {}
    outcomes: dict[str, dict[str, bool]] = {}
    for name, spec in tasks.items():
        problems.extend(_outcome_problems(flow.name, spec, tasks, outcomes))
        kept: dict[str, None] = {}  # ordered and de-duplicated in linear time
        for dependency in spec.depends_on:
            dep = dependency.task_key
            if dependency.flow_name is not None and dependency.flow_name != flow.name:
                problems.append(
                    f"{where}, task {name!r}: depends_on names task {dep!r} of another flow "
                    f"{dependency.flow_name!r}; a task may depend only on tasks of its own flow"
                )
            elif dep == name:
                problems.append(
                    f"{where}, task {name!r}: depends on itself; remove it from depends_on"
                )
            elif dep not in tasks:
                close = difflib.get_close_matches(dep, list(tasks), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(
                    f"{where}, task {name!r}: depends_on names unknown task {dep!r}{hint}"
                )
            else:
                kept[dep] = None
        upstream[name] = tuple(kept)

    for name, spec in tasks.items():
        problems.extend(_argument_problems(flow, spec, upstream[name]))
        if spec.pool is not None and spec.pool not in flow.pools:
            declared = ", ".join(sorted(flow.pools)) or "none"
            problems.append(
                f"{where}, task {name!r}: pool {spec.pool!r} is not declared (declared: "
                f"{declared}); add it with Flow({flow.name!r}, pools={{{spec.pool!r}: N}})"
            )
    order, cycles = _order(upstream)
    problems.extend(
        f"{where}: dependency cycle {' -> '.join(cycle)}; remove one of its depends_on edges"
        for cycle in cycles
    )
    if not cycles:
        problems.extend(_reference_problems(flow, tasks, upstream))
    problems.extend(destination_problems(where, flow.notify, flow.params))
    for name, spec in tasks.items():
        problems.extend(destination_problems(f"{where}, task {name!r}", spec.notify, flow.params))
    if problems:
        header = f"{where} is invalid ({len(problems)} problem{'s' * (len(problems) > 1)}):"
        msg = "\n".join([header, *(f"  - {problem}" for problem in problems)])
        raise DefinitionError(msg, problems)

    downstream: dict[str, list[str]] = {name: [] for name in tasks}
    for name in order:
        for dep in upstream[name]:
            downstream[dep].append(name)
    level: dict[str, int] = {}
    for name in order:
        level[name] = 1 + max((level[dep] for dep in upstream[name]), default=-1)
    by_level: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for name in tasks:  # definition order within a level
        by_level[level[name]].append(name)
    return Plan(
        flow=flow,
        tasks=tasks,
        order=order,
        upstream=upstream,
        downstream={name: tuple(names) for name, names in downstream.items()},
        levels=tuple(tuple(names) for names in by_level),
        outcomes=outcomes,
    )


def _outcome_problems(
    flow_name: str,
    spec: TaskSpec,
    tasks: Mapping[str, TaskSpec],
    outcomes: dict[str, dict[str, bool]],
) -> list[str]:
    """Record the outcome edges into ``spec``; an outcome needs a condition task, one way."""
    problems = []
    plain = {dep.task_key for dep in spec.depends_on if dep.outcome is None}
    for dependency in spec.depends_on:
        if dependency.outcome is None or dependency.task_key not in tasks:
            continue
        dep = dependency.task_key
        where = f"flow {flow_name!r}, task {spec.name!r}: depends_on {dependency}"
        followed = outcomes.setdefault(spec.name, {})
        if not tasks[dep].condition:
            problems.append(
                f"{where} follows an outcome of {dep!r}, which is not a condition task; "
                f"declare {dep!r} with @flow.condition, or depend on {dep!r} itself"
            )
        elif dep in plain or followed.get(dep, dependency.outcome) != dependency.outcome:
            problems.append(
                f"{where} contradicts another edge from {dep!r}: depend on one outcome, "
                f"or on {dep!r} itself to run whatever it returned"
            )
        else:
            followed[dep] = dependency.outcome
    return problems


def _reference_problems(
    flow: FlowSpec, tasks: Mapping[str, TaskSpec], upstream: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """``{{...}}`` references in the strings of shell and condition tasks, checked now."""
    from flowkit._definition import refs

    problems = []
    for name, spec in tasks.items():
        texts = getattr(spec.fn, "__flowkit_references__", ())
        if not texts:
            continue
        ancestors = _reach(name, upstream)
        seen: set[str] = set()
        for text in texts:
            for problem in refs.validate_references(
                str(text),
                flow_name=flow.name,
                task_key=name,
                params=flow.params,
                upstream=ancestors,
            ):
                if problem not in seen:
                    seen.add(problem)
                    problems.append(problem)
    return problems


def task_arguments(spec: TaskSpec) -> tuple[str, ...]:
    """The function's parameters that a run fills: every one that can be passed by name."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    found = signatures.parameters(spec.fn) or ()  # a builtin without one takes nothing
    return tuple(parameter.name for parameter in found if parameter.kind in kinds)


def _argument_problems(flow: FlowSpec, spec: TaskSpec, dependencies: tuple[str, ...]) -> list[str]:
    """A parameter must name a dependency (its return value) or a flow parameter, or default."""
    problems = []
    for name, kind, has_default in signatures.parameters(spec.fn) or ():
        if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if name in dependencies and name in flow.params:
            problems.append(
                f"flow {flow.name!r}, task {spec.name!r}: parameter {name!r} names both a "
                "dependency and a flow parameter; rename one of them"
            )
        elif kind is inspect.Parameter.POSITIONAL_ONLY and not has_default:
            problems.append(
                f"flow {flow.name!r}, task {spec.name!r}: parameter {name!r} is positional-only; "
                "flowkit passes return values and parameters by name"
            )
        elif name not in dependencies and name not in flow.params and not has_default:
            known = ", ".join([*dependencies, *flow.params]) or "none"
            problems.append(
                f"flow {flow.name!r}, task {spec.name!r}: parameter {name!r} is neither a "
                f"dependency (whose return value it would receive) nor a flow parameter, and "
                f"has no default; known names: {known}. Add {name!r} to depends_on, declare "
                f"it in Flow(params=...), or give it a default"
            )
    return problems


def _qualname(spec: TaskSpec) -> str:
    module = getattr(spec.fn, "__module__", "?")
    return f"{module}.{getattr(spec.fn, '__qualname__', repr(spec.fn))}"
