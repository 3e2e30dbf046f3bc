"""simulate: every task's final state for given failures, from ``run_if`` alone (DESIGN.md §2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowkit._errors import DefinitionError
from flowkit._planning import rules
from flowkit._planning.plan import Plan, plan_of
from flowkit._state import TaskState


def simulate(
    flow: Any,
    *,
    fail: Iterable[Any] = (),
    timed_out: Iterable[Any] = (),
    condition_outcomes: Mapping[str, Any] | None = None,
) -> dict[str, TaskState]:
    """Every task's final state, worked out from ``run_if`` alone: nothing runs.

    Tasks in ``fail`` end ``failed`` (their retries all used up), tasks in
    ``timed_out`` end ``timed_out``, and every other task that gets to run
    ends ``succeeded``; the rest are ``upstream_failed`` or ``excluded`` as
    ``run_if`` decides (DESIGN.md §2), judged in plan order. A task named in
    ``fail`` that does not get to run takes the state ``run_if`` gives it.

    A condition task that succeeds comes out as ``condition_outcomes`` says
    (True when it does not say): a dependent on the other outcome
    (``.if_false`` after True) sees it as ``excluded``, the branch not taken.

    Args:
        flow: a ``Flow``, its ``FlowSpec``, or a built ``Plan``.
        fail: the tasks (names or ``Task`` objects) whose attempts fail.
        timed_out: the tasks whose attempts time out.
        condition_outcomes: condition task name -> the bool it returns;
            a condition task left out returns True.

    Returns:
        Task name -> final state, in plan order.

    Raises:
        DefinitionError: the flow is invalid; ``fail`` or ``timed_out`` name a
            task the flow does not have, or both name one task; or
            ``condition_outcomes`` names a task that is not a condition task,
            or gives an outcome that is not a bool.
    """
    plan = plan_of(flow)
    failing = _names(fail)
    timing_out = _names(timed_out)
    outcomes = dict(condition_outcomes or {})
    _check_names(plan, failing, timing_out, outcomes)

    followed_outcomes: Mapping[str, Mapping[str, bool]] = getattr(plan, "outcomes", {})
    states: dict[str, TaskState] = {}
    for name in plan.order:
        followed = followed_outcomes.get(name, {})
        dependency_states = []
        for dep in plan.upstream[name]:
            state = states[dep]
            if dep in followed and state is TaskState.SUCCEEDED:
                # As the scheduler sees it: the outcome not followed is the branch not taken.
                outcome = outcomes.get(dep, True)
                state = TaskState.SUCCEEDED if outcome is followed[dep] else TaskState.EXCLUDED
            dependency_states.append(state)
        decision = rules.decide(plan.tasks[name].run_if, dependency_states)
        final_state = decision.final_state
        if final_state is not None:  # upstream_failed or excluded: it does not run
            states[name] = final_state
        elif name in failing:
            states[name] = TaskState.FAILED
        elif name in timing_out:
            states[name] = TaskState.TIMED_OUT
        else:
            states[name] = TaskState.SUCCEEDED
    return states


def _names(tasks: Iterable[Any]) -> set[str]:
    """Task names from names or ``Task`` objects; one bare name counts as one task."""
    if isinstance(tasks, str):
        return {tasks}
    return {getattr(task, "name", task) for task in tasks}


def _check_names(
    plan: Plan, failing: set[str], timing_out: set[str], outcomes: Mapping[str, Any]
) -> None:
    where = f"flow {plan.name!r}: simulate"
    known = ", ".join(plan.order)
    problems = []
    for option, names in (("fail", failing), ("timed_out", timing_out)):
        unknown = sorted(str(name) for name in names if name not in plan.tasks)
        if unknown:
            problems.append(
                f"{where}({option}=...) names unknown task(s) {', '.join(map(repr, unknown))}; "
                f"the flow's tasks are: {known}"
            )
    conditions = [name for name in plan.order if getattr(plan.tasks[name], "condition", False)]
    not_conditions = sorted(str(name) for name in outcomes if name not in conditions)
    if not_conditions:
        problems.append(
            f"{where}(condition_outcomes=...) names task(s) "
            f"{', '.join(map(repr, not_conditions))} that are not condition tasks; "
            f"the flow's condition tasks are: {', '.join(conditions) or 'none'}"
        )
    not_bool = sorted(
        f"{name}={outcome!r}" for name, outcome in outcomes.items() if not isinstance(outcome, bool)
    )
    if not_bool:
        problems.append(
            f"{where}(condition_outcomes=...): {', '.join(not_bool)}: "
            "an outcome is True or False, what the condition task returns"
        )
    both = sorted(failing & timing_out)
    if both:
        problems.append(
            f"{where}: task(s) {', '.join(map(repr, both))} are in both fail and timed_out; "
            "a task ends one way, so name each in only one of them"
        )
    if problems:
        raise DefinitionError("\n".join(problems), problems)
