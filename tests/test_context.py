"""task_values and params, inside a run and outside one (DESIGN.md §3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from flowkit import (
    FakeClock,
    Flow,
    RunResult,
    RunState,
    TaskState,
    TaskValueError,
    params,
    task_values,
)

LIMIT = 49_152


def _run(flow: Flow) -> RunResult:
    return flow.run(executor="inline", clock=FakeClock())


def _one_task_flow(body: Callable[[], Any], name: str = "values") -> Flow:
    flow = Flow(name)
    flow.task(name="setter")(body)
    return flow


def _failure(result: RunResult, task: str) -> str:
    """The task failed with a TaskValueError; its message."""
    run = result.tasks[task]
    assert run.state is TaskState.FAILED
    assert run.error is not None
    assert run.error.type_name == "TaskValueError"
    return run.error.message


# -- set ------------------------------------------------------------------------------------
def test_set_and_get_between_tasks_keyword_and_positional() -> None:
    flow = Flow("values")
    seen: list[object] = []

    @flow.task
    def ingest() -> None:
        task_values.set(key="row_count", value=14520)
        task_values.set("source", "s3://bucket")

    @flow.task(depends_on=[ingest])
    def clean() -> None:
        seen.append(task_values.get(task_key="ingest", key="row_count", default=0))
        seen.append(task_values.get("ingest", "source"))

    result = _run(flow)
    assert seen == [14520, "s3://bucket"]
    assert result.values["ingest"] == {"row_count": 14520, "source": "s3://bucket"}
    assert "clean" not in result.values


@pytest.mark.parametrize("key", [3, "", None, ("a",)], ids=repr)
def test_set_rejects_a_key_that_is_not_a_non_empty_string(key: object) -> None:
    result = _run(_one_task_flow(lambda: task_values.set(key, 1)))
    message = _failure(result, "setter")
    assert repr(key) in message
    assert "non-empty string" in message
    assert "'values'" in message
    assert "'setter'" in message
    assert result.state is RunState.FAILED


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, b"bytes", {"nested": [1, object()]}],
    ids=["object", "set", "bytes", "nested"],
)
def test_set_rejects_a_value_that_is_not_json(value: object) -> None:
    message = _failure(_run(_one_task_flow(lambda: task_values.set("k", value))), "setter")
    assert "'k'" in message
    assert "JSON" in message
    assert "'setter'" in message


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")]], ids=repr)
def test_set_rejects_nan_and_infinity(value: object) -> None:
    message = _failure(_run(_one_task_flow(lambda: task_values.set("k", value))), "setter")
    assert "'k'" in message
    assert "JSON" in message


def test_a_value_exactly_at_the_limit_is_accepted_and_passed_on() -> None:
    value = "x" * (LIMIT - 2)  # two quotes make it 49,152 bytes of JSON
    assert len(json.dumps(value).encode()) == LIMIT
    flow = Flow("values")
    received: list[str] = []

    @flow.task
    def big() -> None:
        task_values.set("blob", value)

    @flow.task(depends_on=[big])
    def reader() -> None:
        received.append(task_values.get("big", "blob"))

    result = _run(flow)
    assert result.state is RunState.SUCCEEDED
    assert received == [value]


def test_a_value_one_byte_over_the_limit_is_rejected() -> None:
    value = "x" * (LIMIT - 1)
    message = _failure(_run(_one_task_flow(lambda: task_values.set("blob", value))), "setter")
    assert "'blob'" in message
    assert "49,153" in message
    assert "49,152" in message


def test_the_limit_counts_utf8_bytes_of_the_json() -> None:
    # "é" is two bytes in UTF-8: 24,575 of them and two quotes are exactly 49,152 bytes.
    value = "é" * ((LIMIT - 2) // 2)
    assert len(json.dumps(value, ensure_ascii=False).encode()) == LIMIT
    result = _run(_one_task_flow(lambda: task_values.set("accents", value)))
    assert result.tasks["setter"].error is None
    assert result.values["setter"]["accents"] == value


def test_a_non_ascii_value_over_the_limit_is_rejected() -> None:
    value = "é" * (LIMIT // 2)
    message = _failure(_run(_one_task_flow(lambda: task_values.set("accents", value))), "setter")
    assert "'accents'" in message


def test_values_are_json_round_tripped() -> None:
    flow = Flow("values")
    received: list[object] = []

    @flow.task
    def produce() -> None:
        task_values.set("pair", (1, 2))
        task_values.set("mapping", {1: "one"})

    @flow.task(depends_on=[produce])
    def consume() -> None:
        received.append(task_values.get("produce", "pair"))
        received.append(task_values.get("produce", "mapping"))

    result = _run(flow)
    assert received == [[1, 2], {"1": "one"}]
    assert result.values["produce"] == {"pair": [1, 2], "mapping": {"1": "one"}}


def test_setting_a_key_again_keeps_the_last_value() -> None:
    def body() -> None:
        task_values.set("k", 1)
        task_values.set("k", 2)

    assert _run(_one_task_flow(body)).values["setter"] == {"k": 2}


# -- get ------------------------------------------------------------------------------------
def test_get_from_a_task_that_is_not_upstream_is_an_error() -> None:
    flow = Flow("values")

    @flow.task
    def sibling() -> None:
        task_values.set("k", 1)

    @flow.task
    def reader() -> None:
        task_values.get(task_key="sibling", key="k", default=0)

    result = _run(flow)
    message = _failure(result, "reader")
    assert "'sibling'" in message
    assert "not upstream" in message
    assert "'reader'" in message
    assert "depends_on" in message


def test_get_from_a_downstream_task_is_an_error() -> None:
    flow = Flow("values")

    @flow.task
    def first() -> None:
        task_values.get("second", "k", default=0)

    @flow.task(depends_on=[first], run_if="all_done")
    def second() -> None:
        task_values.set("k", 1)

    message = _failure(_run(flow), "first")
    assert "'second'" in message


def test_get_from_a_task_that_does_not_exist_says_it_does_not_exist() -> None:
    message = _failure(
        _run(_one_task_flow(lambda: task_values.get("ghost", "k", default=0))), "setter"
    )
    assert "flow 'values' has no task 'ghost';" in message
    assert "not upstream" not in message
    assert "depends_on" not in message


def test_get_from_a_misspelt_task_suggests_the_task_meant() -> None:
    flow = Flow("values")

    @flow.task
    def ingest() -> None:
        task_values.set("k", 1)

    @flow.task(depends_on=[ingest])
    def reader() -> None:
        task_values.get(task_key="ingets", key="k")

    message = _failure(_run(flow), "reader")
    assert "flow 'values' has no task 'ingets' (did you mean 'ingest'?)" in message


def test_get_from_a_transitive_upstream_task() -> None:
    flow = Flow("values")
    received: list[object] = []

    @flow.task
    def first() -> None:
        task_values.set("origin", "first")

    @flow.task(depends_on=[first])
    def middle() -> None: ...

    @flow.task(depends_on=[middle])
    def last() -> None:
        received.append(task_values.get("first", "origin"))

    result = _run(flow)
    assert result.state is RunState.SUCCEEDED
    assert received == ["first"]


def test_get_from_an_upstream_task_that_set_nothing_uses_the_default() -> None:
    flow = Flow("values")
    received: list[object] = []

    @flow.task
    def quiet() -> None: ...

    @flow.task(depends_on=[quiet])
    def reader() -> None:
        received.append(task_values.get("quiet", "k", default="fallback"))

    _run(flow)
    assert received == ["fallback"]


def test_get_of_a_missing_key() -> None:
    flow = Flow("values")
    received: list[object] = []

    @flow.task
    def writer() -> None:
        task_values.set("present", 1)

    @flow.task(depends_on=[writer])
    def with_default() -> None:
        received.append(task_values.get("writer", "absent", default=None))

    @flow.task(depends_on=[writer])
    def without_default() -> None:
        task_values.get("writer", "absent")

    result = _run(flow)
    assert received == [None]  # None is a default like any other
    assert result.tasks["with_default"].state is TaskState.SUCCEEDED
    message = _failure(result, "without_default")
    assert "'absent'" in message
    assert "'writer'" in message
    assert "present" in message  # what it did set
    assert "default" in message


def test_a_failed_tasks_values_are_not_visible_downstream() -> None:
    flow = Flow("values")
    received: list[object] = []

    @flow.task
    def breaks() -> None:
        task_values.set("partial", 1)
        raise RuntimeError("after setting a value")

    @flow.task(depends_on=[breaks], run_if="all_done")
    def reader() -> None:
        received.append(task_values.get("breaks", "partial", default="absent"))

    result = _run(flow)
    assert received == ["absent"]
    assert "breaks" not in result.values


def test_only_the_succeeding_attempts_values_are_kept() -> None:
    flow = Flow("values")
    attempts: list[int] = []
    received: list[object] = []

    @flow.task(retries=1)
    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            task_values.set("from_failed_attempt", True)
            raise RuntimeError("first attempt fails")
        task_values.set("from_good_attempt", True)

    @flow.task(depends_on=[flaky])
    def reader() -> None:
        received.append(task_values.get("flaky", "from_failed_attempt", default="absent"))

    result = _run(flow)
    assert result.values["flaky"] == {"from_good_attempt": True}
    assert received == ["absent"]


# -- outside a run --------------------------------------------------------------------------
def test_get_outside_a_run_returns_debug_value() -> None:
    assert task_values.get("ingest", "row_count", debug_value=7) == 7
    assert task_values.get("ingest", "row_count", default=0, debug_value=None) is None


def test_get_outside_a_run_without_debug_value_is_an_error_even_with_a_default() -> None:
    with pytest.raises(TaskValueError) as excinfo:
        task_values.get(task_key="ingest", key="row_count", default=0)
    message = str(excinfo.value)
    assert "outside a run" in message
    assert "debug_value" in message
    assert "'ingest'" in message
    assert "'row_count'" in message


def test_set_outside_a_run_keeps_the_value_for_inspection() -> None:
    task_values.set("row_count", 14520)
    task_values.set(key="pair", value=(1, 2))
    assert task_values.set_outside_run == {"row_count": 14520, "pair": [1, 2]}


def test_set_outside_a_run_still_checks_the_rules() -> None:
    with pytest.raises(TaskValueError, match="JSON"):
        task_values.set("k", object())
    with pytest.raises(TaskValueError, match="non-empty string"):
        task_values.set("", 1)
    assert task_values.set_outside_run == {}


def test_set_outside_a_run_does_not_leak_into_a_run() -> None:
    task_values.set("k", "outside")
    flow = Flow("values")
    received: list[object] = []

    @flow.task
    def writer() -> None: ...

    @flow.task(depends_on=[writer])
    def reader() -> None:
        received.append(task_values.get("writer", "k", default="absent"))

    result = _run(flow)
    assert received == ["absent"]
    assert result.values == {}


# -- params ---------------------------------------------------------------------------------
def test_params_is_read_only() -> None:
    with pytest.raises(TypeError):
        params["date"] = "2026-11-23"  # type: ignore[index]
    with pytest.raises(TypeError):
        del params["date"]  # type: ignore[attr-defined]


def test_params_is_read_only_inside_a_run() -> None:
    def body() -> None:
        params["date"] = "tomorrow"  # type: ignore[index]

    flow = Flow("with_params", params={"date": "2026-11-23"})
    flow.task(name="writer")(body)
    result = _run(flow)
    assert result.tasks["writer"].state is TaskState.FAILED
    assert result.tasks["writer"].error is not None
    assert result.tasks["writer"].error.type_name == "TypeError"
    assert result.params == {"date": "2026-11-23"}


def test_params_outside_a_run_is_empty_and_reading_it_says_why() -> None:
    assert len(params) == 0
    assert list(params) == []
    assert params.get("date", "fallback") == "fallback"
    with pytest.raises(KeyError) as excinfo:
        params["date"]
    assert "'date'" in str(excinfo.value)
    assert "outside a run" in str(excinfo.value)


def test_params_undeclared_name_inside_a_run_names_it_and_the_declared_ones() -> None:
    flow = Flow("with_params", params={"date": "2026-11-23", "region": "eu"})

    @flow.task
    def reader() -> None:
        params["dat"]

    result = _run(flow)
    error = result.tasks["reader"].error
    assert error is not None
    assert error.type_name == "KeyError"
    assert "'dat'" in error.message
    assert "'with_params'" in error.message
    assert "'reader'" in error.message
    assert "date" in error.message
    assert "region" in error.message


def test_params_inside_a_run_is_a_mapping_of_the_runs_values() -> None:
    flow = Flow("with_params", params={"date": "2026-11-23", "region": "eu"})
    seen: list[object] = []

    @flow.task
    def reader() -> None:
        seen.append((dict(params), len(params), "date" in params, params.get("nope", 0)))

    _run(flow)
    flow.run({"region": "us"}, executor="inline", clock=FakeClock())
    assert seen == [
        ({"date": "2026-11-23", "region": "eu"}, 2, True, 0),
        ({"date": "2026-11-23", "region": "us"}, 2, True, 0),
    ]
    assert len(params) == 0  # and gone once the run is over
