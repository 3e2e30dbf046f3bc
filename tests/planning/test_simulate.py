"""flowkit.testing.simulate: final states from run_if alone, checked against real inline runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import DagCase, HangingExecutor, dag_cases

from flowkit import DefinitionError, FakeClock, Flow, TaskState
from flowkit._definition.spec import Dependency
from flowkit.testing import simulate

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)

S = TaskState


def _lakehouse() -> Flow:
    flow = Flow("lakehouse")

    @flow.task
    def ingest() -> None: ...

    @flow.task(depends_on=[ingest])
    def clean() -> None: ...

    @flow.task(depends_on=[clean])
    def metrics() -> None: ...

    @flow.task(depends_on=[clean])
    def train() -> None: ...

    @flow.task(depends_on=[metrics, train], run_if="at_least_one_failed")
    def alert() -> None: ...

    @flow.task(depends_on=[metrics, train], run_if="all_done")
    def cleanup() -> None: ...

    return flow


# -- examples ------------------------------------------------------------------------------


def test_nothing_failing_everything_runs_and_failure_handlers_are_excluded() -> None:
    assert simulate(_lakehouse()) == {
        "ingest": S.SUCCEEDED,
        "clean": S.SUCCEEDED,
        "metrics": S.SUCCEEDED,
        "train": S.SUCCEEDED,
        "alert": S.EXCLUDED,
        "cleanup": S.SUCCEEDED,
    }


def test_a_failure_propagates_and_triggers_the_handlers() -> None:
    states = simulate(_lakehouse(), fail={"ingest"})
    assert states == {
        "ingest": S.FAILED,
        "clean": S.UPSTREAM_FAILED,
        "metrics": S.UPSTREAM_FAILED,
        "train": S.UPSTREAM_FAILED,
        "alert": S.SUCCEEDED,
        "cleanup": S.SUCCEEDED,
    }


def test_timed_out_is_failed_like() -> None:
    states = simulate(_lakehouse(), timed_out={"train"}, fail={"alert"})
    assert states["train"] is S.TIMED_OUT
    assert states["metrics"] is S.SUCCEEDED
    assert states["alert"] is S.FAILED
    assert states["cleanup"] is S.SUCCEEDED


def test_a_failing_task_that_never_runs_keeps_the_state_run_if_gives_it() -> None:
    states = simulate(_lakehouse(), fail={"clean", "alert"})
    assert states["alert"] is S.FAILED  # it ran: clean's failure reached it
    assert simulate(_lakehouse(), fail={"alert"})["alert"] is S.EXCLUDED


def test_tasks_are_accepted_by_object_and_a_single_name_as_a_string() -> None:
    flow = _lakehouse()
    by_object = simulate(flow, fail=[flow.tasks["train"]])
    by_string = simulate(flow, fail="train")
    assert by_object == by_string
    assert by_object["train"] is S.FAILED


def test_the_result_is_in_plan_order() -> None:
    flow = _lakehouse()
    assert list(simulate(flow)) == list(flow.plan().order)


def test_a_plan_or_spec_can_be_simulated() -> None:
    flow = _lakehouse()
    expected = simulate(flow, fail={"metrics"})
    assert simulate(flow.plan(), fail={"metrics"}) == expected
    assert simulate(flow.spec(), fail={"metrics"}) == expected


def test_unknown_task_names_are_an_error_naming_them_and_listing_the_tasks() -> None:
    with pytest.raises(DefinitionError) as raised:
        simulate(_lakehouse(), fail={"ingset", "ingest"}, timed_out=["nope"])
    message = str(raised.value)
    assert "simulate(fail=...) names unknown task(s) 'ingset'" in message
    assert "simulate(timed_out=...) names unknown task(s) 'nope'" in message
    assert "ingest, clean, metrics, train, alert, cleanup" in message
    assert len(raised.value.problems) == 2


def test_a_task_both_failed_and_timed_out_is_an_error() -> None:
    with pytest.raises(DefinitionError, match=r"'clean' are in both fail and timed_out"):
        simulate(_lakehouse(), fail={"clean"}, timed_out={"clean"})


def test_an_invalid_flow_is_a_definition_error() -> None:
    flow = Flow("broken")

    @flow.task(depends_on=["missing"])
    def lonely() -> None: ...

    with pytest.raises(DefinitionError, match="unknown task 'missing'"):
        simulate(flow)


def test_simulate_runs_no_task() -> None:
    flow = Flow("no_calls")
    calls: list[str] = []

    @flow.task
    def first() -> None:
        calls.append("first")

    assert simulate(flow) == {"first": S.SUCCEEDED}
    assert calls == []


# -- condition tasks -----------------------------------------------------------------------


def _branching() -> Flow:
    flow = Flow("branching")

    @flow.condition
    def has_rows() -> bool:
        return True

    @flow.task(depends_on=[has_rows.if_true])
    def load() -> None: ...

    @flow.task(depends_on=[load])
    def publish() -> None: ...

    @flow.task(depends_on=[has_rows.if_false])
    def warn_empty() -> None: ...

    @flow.task(depends_on=[publish, warn_empty], run_if="none_failed")
    def join() -> None: ...

    @flow.task(depends_on=[has_rows])
    def always() -> None: ...

    return flow


def test_a_condition_is_true_unless_told_otherwise() -> None:
    assert simulate(_branching()) == {
        "has_rows": S.SUCCEEDED,
        "load": S.SUCCEEDED,
        "publish": S.SUCCEEDED,
        "warn_empty": S.EXCLUDED,
        "join": S.SUCCEEDED,
        "always": S.SUCCEEDED,
    }


def test_condition_outcomes_choose_the_branch() -> None:
    states = simulate(_branching(), condition_outcomes={"has_rows": False})
    assert states == {
        "has_rows": S.SUCCEEDED,
        "load": S.EXCLUDED,
        "publish": S.EXCLUDED,
        "warn_empty": S.SUCCEEDED,
        "join": S.SUCCEEDED,
        "always": S.SUCCEEDED,
    }


def test_a_failed_condition_fails_both_branches() -> None:
    states = simulate(_branching(), fail={"has_rows"}, condition_outcomes={"has_rows": False})
    assert states["load"] is S.UPSTREAM_FAILED
    assert states["warn_empty"] is S.UPSTREAM_FAILED
    assert states["always"] is S.UPSTREAM_FAILED


def test_condition_outcomes_of_a_task_that_is_not_a_condition_is_an_error() -> None:
    with pytest.raises(DefinitionError) as raised:
        simulate(_branching(), condition_outcomes={"load": True, "nope": False})
    message = str(raised.value)
    assert "'load', 'nope' that are not condition tasks" in message
    assert "condition tasks are: has_rows" in message


def test_a_condition_outcome_that_is_not_a_bool_is_an_error() -> None:
    with pytest.raises(DefinitionError, match=r"has_rows='yes': an outcome is True or False"):
        simulate(_branching(), condition_outcomes={"has_rows": "yes"})


def test_an_empty_condition_outcomes_is_fine_without_conditions() -> None:
    assert simulate(_lakehouse(), condition_outcomes={}) == simulate(_lakehouse())


# -- the property: simulate equals a real inline run -----------------------------------------


@st.composite
def simulate_cases(
    draw: st.DrawFn,
) -> tuple[DagCase, dict[str, bool], dict[tuple[str, str], bool | None], set[str]]:
    """A random DAG, its condition tasks' outcomes, outcome edges, and a failure set."""
    case = draw(dag_cases(max_tasks=8))
    names = [task.name for task in case.tasks]
    conditions = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    outcomes = {name: draw(st.booleans()) for name in conditions}
    edges = {
        (dep, task.name): draw(st.sampled_from([None, True, False]))
        for task in case.tasks
        for dep in task.depends_on
        if dep in outcomes
    }
    failing = set(draw(st.lists(st.sampled_from(names), unique=True)))
    return case, outcomes, edges, failing


def _flow_of(
    case: DagCase,
    outcomes: dict[str, bool],
    edges: dict[tuple[str, str], bool | None],
    failing: set[str],
    *,
    hang: set[str] = frozenset(),  # type: ignore[assignment]
) -> Flow:
    """The case as a flow whose tasks in ``failing`` always raise; conditions return as told."""
    flow = Flow("simulated", max_parallel=case.max_parallel)
    for index in case.definition_order:
        task_case = case.tasks[index]
        # An outcome edge as a Dependency: its condition task may not be defined yet.
        depends_on = [
            Dependency(dep, outcome=edges.get((dep, task_case.name)))
            for dep in task_case.depends_on
        ]
        register = flow.condition if task_case.name in outcomes else flow.task
        register(
            name=task_case.name,
            depends_on=depends_on,
            run_if=task_case.run_if,
            retries=task_case.retries,
            retry_delay=task_case.retry_delay,
            timeout=1 if task_case.name in hang else None,
        )(_task_function(task_case.name, task_case.name in failing, outcomes.get(task_case.name)))
    return flow


def _task_function(name: str, fails: bool, outcome: bool | None) -> Callable[[], bool | None]:
    def run() -> bool | None:
        if fails:
            raise RuntimeError(f"{name} fails on purpose")
        return outcome

    return run


def _final_states(result: object) -> dict[str, TaskState]:
    return {name: task.state for name, task in result.tasks.items()}  # type: ignore[attr-defined]


@PROPERTY_SETTINGS
@given(simulate_cases())
def test_simulate_equals_a_real_inline_run(
    drawn: tuple[DagCase, dict[str, bool], dict[tuple[str, str], bool | None], set[str]],
) -> None:
    case, outcomes, edges, failing = drawn
    flow = _flow_of(case, outcomes, edges, failing)
    result = flow.run(executor="inline", store=False, clock=FakeClock(), echo_output=False)
    assert simulate(flow, fail=failing, condition_outcomes=outcomes) == _final_states(result)


@PROPERTY_SETTINGS
@given(simulate_cases(), st.data())
def test_simulate_equals_a_real_run_with_timeouts(
    drawn: tuple[DagCase, dict[str, bool], dict[tuple[str, str], bool | None], set[str]],
    data: st.DataObject,
) -> None:
    # The inline executor cannot pre-empt, so timeouts need the hanging test double:
    # tasks in ``hang`` never end and the scheduler times them out on the fake clock.
    case, outcomes, edges, failing = drawn
    names = sorted(task.name for task in case.tasks)
    hang = set(data.draw(st.lists(st.sampled_from(names), unique=True))) - failing
    flow = _flow_of(case, outcomes, edges, failing, hang=hang)
    clock = FakeClock()
    result = flow.run(executor=HangingExecutor(clock, hang), store=False, clock=clock)
    expected = _final_states(result)
    assert simulate(flow, fail=failing, timed_out=hang, condition_outcomes=outcomes) == expected


def test_flow_simulate_is_the_testing_function():
    flow = Flow("method")

    @flow.task
    def first():
        pass

    @flow.task(depends_on=[first], run_if="all_failed")
    def on_failure():
        pass

    assert flow.simulate(fail={"first"}) == {
        "first": TaskState.FAILED,
        "on_failure": TaskState.SUCCEEDED,
    }
    assert flow.simulate()["on_failure"] is TaskState.EXCLUDED
