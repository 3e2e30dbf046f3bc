"""Condition tasks (Databricks If/else): the branch not taken is excluded, joins still run."""

from __future__ import annotations

import pytest

from flowkit import DefinitionError, Flow, RunState, TaskState, params


def _branching(join_run_if: str) -> Flow:
    flow = Flow("branching", params={"rows": 10})

    @flow.condition
    def has_rows():
        return int(params["rows"]) > 0

    @flow.task(depends_on=[has_rows.if_true])
    def load():
        pass

    @flow.task(depends_on=[load])
    def publish():
        pass

    @flow.task(depends_on=[has_rows.if_false])
    def warn_empty():
        pass

    @flow.task(depends_on=[publish, warn_empty], run_if=join_run_if)
    def join():
        pass

    return flow


@pytest.mark.parametrize("join_run_if", ["all_success", "none_failed"])
def test_the_branch_not_taken_is_excluded_and_a_join_after_it_runs(executor, join_run_if):
    flow = _branching(join_run_if)

    taken = flow.run(executor=executor, params={"rows": 10})
    states = {name: task.state for name, task in taken.tasks.items()}
    assert states == {
        "has_rows": TaskState.SUCCEEDED,
        "load": TaskState.SUCCEEDED,
        "publish": TaskState.SUCCEEDED,
        "warn_empty": TaskState.EXCLUDED,
        "join": TaskState.SUCCEEDED,
    }
    assert taken.state is RunState.SUCCEEDED

    other = flow.run(executor=executor, params={"rows": 0})
    states = {name: task.state for name, task in other.tasks.items()}
    assert states["load"] is TaskState.EXCLUDED
    assert states["publish"] is TaskState.EXCLUDED  # downstream of the branch not taken
    assert states["warn_empty"] is TaskState.SUCCEEDED
    assert states["join"] is TaskState.SUCCEEDED


def test_a_condition_that_does_not_return_a_bool_fails(executor):
    flow = Flow("not-bool")

    @flow.condition
    def check():
        return "yes"

    @flow.task(depends_on=[check.if_true])
    def after():
        pass

    result = flow.run(executor=executor)

    assert result.tasks["check"].state is TaskState.FAILED
    assert "returned str 'yes'" in result.tasks["check"].error.message
    assert result.tasks["after"].state is TaskState.UPSTREAM_FAILED


def test_an_outcome_of_a_task_that_is_not_a_condition_is_an_error():
    flow = Flow("no-condition")

    @flow.task
    def plain():
        return True

    with pytest.raises(DefinitionError, match="'plain' is not a condition task"):
        plain.if_true


def test_depending_on_both_an_outcome_and_the_task_is_contradictory():
    flow = Flow("contradiction")

    @flow.condition
    def check():
        return True

    @flow.task(depends_on=[check.if_true, check.if_false])
    def both():
        pass

    with pytest.raises(DefinitionError, match=r"depends_on check.if_false contradicts"):
        flow.plan()
