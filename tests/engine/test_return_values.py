"""Return values reach the parameters named after dependencies, on every executor."""

from __future__ import annotations

import threading

import pytest

from flowkit import DefinitionError, Flow, RunState, TaskState, task_values


def test_a_parameter_named_after_a_dependency_receives_its_return_value(executor):
    flow = Flow("returns", params={"factor": 3})

    @flow.task
    def extract():
        return [1, 2, 3]

    @flow.task
    def lookup():
        return {"scale": 10}

    @flow.task(depends_on=[extract, lookup])
    def combine(extract, lookup, factor, unused_default="kept"):
        task_values.set("total", sum(extract) * lookup["scale"] * factor)
        task_values.set("default", unused_default)

    result = flow.run(executor=executor)

    assert result.state is RunState.SUCCEEDED
    assert result.values["combine"] == {"total": 180, "default": "kept"}


def test_a_failed_dependency_gives_none_to_an_all_done_task(executor):
    flow = Flow("none")

    @flow.task
    def broken():
        raise RuntimeError("no data")

    @flow.task(depends_on=[broken], run_if="all_done")
    def report(broken):
        task_values.set("received", broken)

    result = flow.run(executor=executor)

    assert result.values["report"] == {"received": None}


def test_a_parameter_nothing_fills_is_a_definition_error_before_anything_runs():
    flow = Flow("unfilled", params={"day": "monday"})
    ran = []

    @flow.task
    def extract():
        ran.append("extract")

    @flow.task(depends_on=[extract])
    def load(extract, extracted_rows):
        ran.append("load")

    with pytest.raises(DefinitionError) as caught:
        flow.run(executor="inline")

    message = str(caught.value)
    assert "task 'load'" in message
    assert "parameter 'extracted_rows'" in message
    assert "known names: extract, day" in message
    assert ran == []


def test_a_name_both_a_dependency_and_a_parameter_is_ambiguous():
    flow = Flow("ambiguous", params={"extract": "x"})

    @flow.task
    def extract():
        pass

    @flow.task(depends_on=[extract])
    def load(extract):
        pass

    with pytest.raises(DefinitionError, match="names both a dependency and a flow parameter"):
        flow.plan()


def test_an_unpicklable_parameter_fails_attempts_and_the_run_still_ends():
    flow = Flow("unpicklable", params={"lock": None})

    @flow.task
    def uses(lock):
        pass

    @flow.task(depends_on=[uses], run_if="all_done")
    def after():
        pass

    result = flow.run(executor="local", params={"lock": threading.Lock()})

    error = result.tasks["uses"].error
    assert result.tasks["uses"].state is TaskState.FAILED
    assert error.type_name == "PicklingError"
    assert "lock=lock" in error.message
    # Every task gets the run's params, so each attempt fails alike; the run ends normally.
    assert result.tasks["after"].state is TaskState.FAILED
    assert result.state is RunState.FAILED
