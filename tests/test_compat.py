"""flowkit.compat.dbutils: Databricks' dbutils.jobs.taskValues names over flowkit's task_values."""

from __future__ import annotations

import pytest

from flowkit import Flow, RunState, TaskState, TaskValueError, task_values
from flowkit.compat import dbutils
from flowkit.testing import task_context


def _notebook_flow() -> Flow:
    """Notebook code as written for Databricks, unchanged."""
    flow = Flow("notebooks")

    @flow.task
    def ingest() -> None:
        dbutils.jobs.taskValues.set(key="row_count", value=14520)
        dbutils.jobs.taskValues.set("files", ("a.csv", "b.csv"))  # positional, as Databricks

    @flow.task(depends_on=[ingest])
    def clean() -> None:
        rows = dbutils.jobs.taskValues.get(taskKey="ingest", key="row_count", default=0)
        files = dbutils.jobs.taskValues.get("ingest", "files")
        missing = dbutils.jobs.taskValues.get(
            taskKey="ingest", key="nope", default=-1, debugValue=99
        )
        dbutils.jobs.taskValues.set(key="summary", value=[rows, files, missing])

    @flow.task(depends_on=[clean])
    def report() -> None:
        # task_values and the shim are one and the same store of values.
        rows = task_values.get(task_key="ingest", key="row_count")
        summary = dbutils.jobs.taskValues.get(taskKey="clean", key="summary")
        dbutils.jobs.taskValues.set(key="checked", value=summary[0] == rows)

    return flow


def test_set_and_get_inside_a_run(executor: str) -> None:
    result = _notebook_flow().run(executor=executor, store=False, echo_output=False)
    assert result.state is RunState.SUCCEEDED
    assert result.values["ingest"] == {"row_count": 14520, "files": ["a.csv", "b.csv"]}
    assert result.values["clean"] == {"summary": [14520, ["a.csv", "b.csv"], -1]}
    assert result.values["report"] == {"checked": True}


def test_get_of_a_missing_key_without_default_fails_the_task(executor: str) -> None:
    flow = Flow("missing_key")

    @flow.task
    def first() -> None:
        dbutils.jobs.taskValues.set(key="present", value=1)

    @flow.task(depends_on=[first])
    def second() -> None:
        dbutils.jobs.taskValues.get(taskKey="first", key="absent", debugValue=0)

    result = flow.run(executor=executor, store=False, echo_output=False)
    error = result.tasks["second"].error
    assert result.tasks["second"].state is TaskState.FAILED
    assert error is not None
    assert error.type_name == "TaskValueError"
    assert "set no value 'absent' (it set: present)" in error.message


def test_get_from_a_task_that_is_not_upstream_fails_the_task(executor: str) -> None:
    flow = Flow("not_upstream")

    @flow.task
    def first() -> None:
        dbutils.jobs.taskValues.set(key="k", value=1)

    @flow.task
    def beside() -> None:
        dbutils.jobs.taskValues.get(taskKey="first", key="k", default=0)

    result = flow.run(executor=executor, store=False, echo_output=False)
    error = result.tasks["beside"].error
    assert result.tasks["beside"].state is TaskState.FAILED
    assert error is not None
    assert "'first' is not upstream of 'beside'" in error.message


def test_set_of_a_value_that_is_not_json_fails_the_task() -> None:
    flow = Flow("bad_value")

    @flow.task
    def first() -> None:
        dbutils.jobs.taskValues.set(key="k", value={1, 2})

    result = flow.run(executor="inline", store=False, echo_output=False)
    error = result.tasks["first"].error
    assert error is not None
    assert "not JSON-serialisable" in error.message


def test_get_outside_a_run_returns_debug_value() -> None:
    assert dbutils.jobs.taskValues.get(taskKey="ingest", key="row_count", debugValue=42) == 42
    assert dbutils.jobs.taskValues.get("ingest", "row_count", 0, 7) == 7


def test_get_outside_a_run_without_debug_value_is_an_error_even_with_a_default() -> None:
    with pytest.raises(TaskValueError, match="outside a run and has no debug_value"):
        dbutils.jobs.taskValues.get(taskKey="ingest", key="row_count", default=0)
    with pytest.raises(TaskValueError, match="outside a run"):
        dbutils.jobs.taskValues.get(taskKey="ingest", key="row_count")


def test_a_debug_value_of_none_is_a_value() -> None:
    assert dbutils.jobs.taskValues.get(taskKey="t", key="k", debugValue=None) is None


def test_set_outside_a_run_keeps_the_value_for_inspection() -> None:
    dbutils.jobs.taskValues.set(key="row_count", value=(1, 2))
    assert task_values.set_outside_run == {"row_count": [1, 2]}


def test_set_outside_a_run_still_checks_the_rules() -> None:
    with pytest.raises(TaskValueError, match="invalid; use a non-empty string"):
        dbutils.jobs.taskValues.set(key="", value=1)


def test_inside_task_context_the_shim_reads_and_sets() -> None:
    with task_context(values={"ingest": {"row_count": 5}}) as ctx:
        rows = dbutils.jobs.taskValues.get(taskKey="ingest", key="row_count", debugValue=0)
        dbutils.jobs.taskValues.set(key="doubled", value=rows * 2)
    assert rows == 5  # the context's value, not the debugValue
    assert ctx.values_set == {"doubled": 10}


def test_the_shim_keeps_databricks_argument_names() -> None:
    import inspect

    get = inspect.signature(dbutils.jobs.taskValues.get).parameters
    put = inspect.signature(dbutils.jobs.taskValues.set).parameters
    assert list(get) == ["taskKey", "key", "default", "debugValue"]
    assert list(put) == ["key", "value"]
    assert repr(dbutils.jobs.taskValues) == "dbutils.jobs.taskValues"
