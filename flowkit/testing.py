"""Helpers for unit-testing tasks and flows: a task context, a flow runner, and simulate.

``task_context`` runs one task in-process against the upstream values and
params a test gives; ``FlowRunner`` (the ``flowkit_run`` pytest fixture) runs a
whole flow inline against a temporary store; ``simulate`` works out every
task's final state from the ``run_if`` wiring alone, without running anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowkit._context import TaskContext, encode_value, installed
from flowkit._definition.spec import FlowSpec
from flowkit._errors import DefinitionError, TaskValueError
from flowkit._planning import rules
from flowkit._planning.plan import Plan, build_plan
from flowkit._state import TaskState

if TYPE_CHECKING:
    from flowkit._flow import Flow
    from flowkit._state import RunResult
    from flowkit._store import SqliteStore

__all__ = ["FlowRunner", "simulate", "task_context"]


# -- one task ------------------------------------------------------------------------------


@contextlib.contextmanager
def task_context(
    values: Mapping[str, Mapping[str, Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    task_key: str = "under_test",
    flow_name: str = "test",
    run_id: str = "test-run",
    attempt: int = 1,
) -> Iterator[TaskContext]:
    """Run the body as if it were an attempt of task ``task_key``.

    Inside, calling a task (or its ``.fn``) reads ``values`` through
    ``task_values.get`` and ``params`` through ``flowkit.params``; what it sets
    is in the yielded context's ``values_set``. Only the tasks listed in
    ``values`` count as upstream: reading any other raises the usual
    ``TaskValueError``. Values go through the same JSON round trip as in a real
    run, so a tuple comes back as a list.

    Args:
        values: upstream task key -> {value key: value}.
        params: the flow parameters the task sees.
        task_key: the name of the task under test, as error messages show it.
        flow_name: the flow's name, as error messages show it.
        run_id: the run id the task sees.
        attempt: the attempt number the task sees.

    Raises:
        TaskValueError: ``values`` is not a mapping of mappings, or a value is
            not JSON-serialisable or is over the size limit.
    """
    upstream_values = _encoded_values(values or {})
    context = TaskContext(
        run_id=run_id,
        flow_name=flow_name,
        task_key=task_key,
        attempt=attempt,
        params=dict(params or {}),
        upstream_values=upstream_values,
        upstream_edges=None,
    )
    with installed(context):
        yield context


def _encoded_values(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    if not isinstance(values, Mapping):
        msg = (
            f"task_context(values={values!r}): values must be a mapping of upstream task key "
            'to its values, e.g. values={"ingest": {"row_count": 5}}'
        )
        raise TaskValueError(msg)
    encoded: dict[str, dict[str, Any]] = {}
    for upstream, task_values in values.items():
        if not isinstance(task_values, Mapping):
            msg = (
                f"task_context(values=...): the values of task {upstream!r} are "
                f"{task_values!r}, not a mapping; give {{key: value, ...}}"
            )
            raise TaskValueError(msg)
        where = f"task_context(values=...), task {upstream!r}"
        encoded[upstream] = {
            key: encode_value(key, value, where=where) for key, value in task_values.items()
        }
    return encoded


# -- a whole flow, inline ------------------------------------------------------------------


class FlowRunner:
    """Runs flows inline, recording them in a SQLite store under ``home``.

    The ``flowkit_run`` pytest fixture is one of these, with ``home`` in the
    test's ``tmp_path``.
    """

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self._store: SqliteStore | None = None

    @property
    def store(self) -> SqliteStore:
        """The store the runs are recorded in (opened on first use)."""
        if self._store is None:
            from flowkit._store import SqliteStore

            self.home.mkdir(parents=True, exist_ok=True)
            self._store = SqliteStore(self.home / "flowkit.db")
        return self._store

    def __call__(
        self, flow: Flow | FlowSpec | Plan, params: Mapping[str, Any] | None = None, **options: Any
    ) -> RunResult:
        """Run ``flow`` to its end, inline unless ``executor=`` says otherwise.

        ``options`` go to ``flowkit._engine.runtime.run`` (``clock=``, ``max_parallel=``, ...).
        """
        from flowkit._engine.runtime import (
            run,  # runtime sits above plan; imported when first needed
        )

        options.setdefault("executor", "inline")
        options.setdefault("echo_output", False)
        return run(flow, store=self.store, params=params, **options)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# -- simulate ------------------------------------------------------------------------------


def simulate(
    flow: Flow | FlowSpec | Plan,
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
    plan = _plan_of(flow)
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


def _plan_of(flow: Flow | FlowSpec | Plan) -> Plan:
    if isinstance(flow, Plan):
        return flow
    return build_plan(flow if isinstance(flow, FlowSpec) else flow.spec())


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
