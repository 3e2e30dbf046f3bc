"""Declarative condition tasks: operators, text-vs-number semantics, references, bad input."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from flowkit import DefinitionError, Flow, RunIf, RunState, TaskState, task_values
from flowkit._definition.kinds.compare import OPERATORS, Comparison
from flowkit._errors import FlowkitError
from flowkit.testing import task_context


def _compare(left, op, right) -> bool:
    return Comparison(flow_name="f", task_key="check", left=left, op=op, right=right)()


# -- operators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ("a", "==", "a", True),
        ("a", "==", "b", False),
        ("a", "!=", "b", True),
        ("a", "!=", "a", False),
        (5, ">", 3, True),
        (3, ">", 5, False),
        (5, ">=", 5, True),
        (4, ">=", 5, False),
        (3, "<", 5, True),
        (5, "<", 3, False),
        (5, "<=", 5, True),
        (6, "<=", 5, False),
    ],
)
def test_each_operator_both_ways(left, op, right, expected):
    assert _compare(left, op, right) is expected


def test_every_operator_is_covered():
    assert set(OPERATORS) == {"==", "!=", ">", ">=", "<", "<="}


def test_equality_compares_text_and_order_compares_numbers():
    # As in Databricks: 12.0 == 12 is false (the texts differ), 12.0 >= 12 is true.
    assert _compare(12.0, "==", 12) is False
    assert _compare("12.0", "!=", "12") is True
    assert _compare(12.0, ">=", 12) is True
    assert _compare("12.0", "<=", 12) is True
    # As numbers, 10 < 9 is false; as text "10" < "9" would be true.
    assert _compare("10", "<", "9") is False
    assert _compare("10", ">", "9") is True
    assert _compare(" 7 ", "==", "7") is False  # text compares as it is
    assert _compare(" 7 ", "==", " 7 ") is True


def test_a_number_equals_its_text_and_a_bool_its_rendering():
    assert _compare(5, "==", "5") is True
    assert _compare(True, "==", "True") is True
    assert _compare(True, "!=", False) is True


def test_the_comparison_is_printed_with_numbers_as_numbers_and_text_as_text():
    flow = Flow("printed")
    flow.compare("check", "14520", ">", 0.0)
    flow.compare("half", 0.5, "<", "2")
    flow.compare("same", "a", "==", "b")
    result = flow.run(executor="local")
    logs = {name: Path(task.log_path).read_text() for name, task in result.tasks.items()}
    assert "14520 > 0: True (compared as numbers)" in logs["check"]
    assert "0.5 < 2: True (compared as numbers)" in logs["half"]
    assert "'a' == 'b': False (compared as text)" in logs["same"]


# -- references ---------------------------------------------------------------------


def _branching(left, op, right, **flow_options) -> Flow:
    flow = Flow("cond", **flow_options)

    @flow.task
    def ingest():
        task_values.set(key="row_count", value=12)
        task_values.set(key="label", value="gold")

    check = flow.compare("check", left, op, right, depends_on=[ingest])

    @flow.task(depends_on=[check.if_true])
    def on_true():
        pass

    @flow.task(depends_on=[check.if_false])
    def on_false():
        pass

    return flow


def _taken(result) -> str:
    assert result.state is RunState.SUCCEEDED
    true, false = result.tasks["on_true"].state, result.tasks["on_false"].state
    assert {true, false} == {TaskState.SUCCEEDED, TaskState.EXCLUDED}
    return "true" if true is TaskState.SUCCEEDED else "false"


def test_references_to_task_values_are_resolved(executor):
    flow = _branching("{{tasks.ingest.values.row_count}}", ">", 10)
    assert _taken(flow.run(executor=executor)) == "true"

    flow = _branching("{{tasks.ingest.values.row_count}}", "<=", "11.5")
    assert _taken(flow.run(executor=executor)) == "false"

    flow = _branching("{{ tasks.ingest.values.label }}", "==", "gold")
    assert _taken(flow.run(executor=executor)) == "true"


def test_references_to_params_are_resolved_and_runs_may_override_them(executor):
    flow = _branching(
        "{{tasks.ingest.values.row_count}}",
        ">=",
        "{{job.parameters.minimum}}",
        params={"minimum": 5},
    )
    assert _taken(flow.run(executor=executor)) == "true"
    assert _taken(flow.run(executor=executor, params={"minimum": 100})) == "false"


def test_both_operands_may_be_references_under_equality(executor):
    flow = _branching(
        "{{job.parameters.env}}", "!=", "{{tasks.ingest.values.label}}", params={"env": "gold"}
    )
    assert _taken(flow.run(executor=executor)) == "false"
    assert _taken(flow.run(executor=executor, params={"env": "dev"})) == "true"


def test_references_are_checked_at_plan_time():
    flow = _branching("{{job.parameters.missing}}", "==", "{{tasks.elsewhere.values.n}}")

    with pytest.raises(DefinitionError) as raised:
        flow.plan()

    message = str(raised.value)
    assert "task 'check'" in message
    assert "undeclared parameter 'missing'" in message
    assert "task 'elsewhere', which is not upstream" in message


def test_a_reference_that_is_not_a_number_under_an_order_operator_fails_the_task(executor):
    flow = _branching("{{tasks.ingest.values.label}}", ">", 3)

    result = flow.run(executor=executor)

    check = result.tasks["check"]
    assert check.state is TaskState.FAILED
    assert check.error.type_name == "ComparisonError"
    assert "task 'check'" in check.error.message
    assert "left='{{tasks.ingest.values.label}}', which is 'gold'" in check.error.message
    assert "is not a number" in check.error.message
    assert result.tasks["on_true"].state is TaskState.UPSTREAM_FAILED
    assert result.tasks["on_false"].state is TaskState.UPSTREAM_FAILED
    assert result.state is RunState.FAILED


def test_called_in_a_task_context_it_reads_its_values_and_params():
    flow = Flow("unit", params={"minimum": 1})
    check = flow.compare("check", "{{tasks.ingest.values.n}}", ">", "{{job.parameters.minimum}}")

    with task_context(values={"ingest": {"n": 5}}, params={"minimum": 3}):
        assert check() is True
    with task_context(values={"ingest": {"n": 2}}, params={"minimum": 3}):
        assert check() is False


def test_called_outside_a_run_with_references_it_says_how_to_test_it():
    check = Comparison(flow_name="f", task_key="check", left="{{job.run_id}}", op="==", right="x")

    with pytest.raises(FlowkitError, match=r"outside a run.*task_context"):
        check()


def test_a_comparison_pickles_and_keeps_its_references():
    check = Comparison(flow_name="f", task_key="check", left="{{job.name}}", op="==", right=3)

    assert pickle.loads(pickle.dumps(check)) == check
    assert check.__flowkit_references__ == ["{{job.name}}"]


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("op", ["=", "<>", "in", "", None, ">>"])
def test_an_unknown_operator_lists_the_valid_ones(op):
    flow = Flow("bad_op")

    with pytest.raises(DefinitionError) as raised:
        flow.compare("check", 1, op, 2)

    message = str(raised.value)
    assert "flow 'bad_op', task 'check'" in message
    assert f"op={op!r}" in message
    assert "allowed: ==, !=, >, >=, <, <=" in message
    assert flow.tasks == {}


@pytest.mark.parametrize("value", [[1], {"a": 1}, {1, 2}, (1,), None, b"1", object()])
def test_a_non_scalar_operand_is_refused(value):
    flow = Flow("bad_value")

    with pytest.raises(DefinitionError) as raised:
        flow.compare("check", value, "==", 2)

    message = str(raised.value)
    assert "flow 'bad_value', task 'check'" in message
    assert "option left=" in message
    assert f"of type {type(value).__name__}" in message
    assert "allowed: str" in message
    assert "int, float, bool" in message


def test_every_problem_is_reported_at_once():
    flow = Flow("bad_all")

    with pytest.raises(DefinitionError) as raised:
        flow.compare("check", [1], "~", {"b": 2})

    assert len(raised.value.problems) == 3


@pytest.mark.parametrize(("left", "right"), [("abc", 1), (1, True), (1, "")])
def test_a_literal_that_is_not_a_number_under_an_order_operator_is_refused(left, right):
    flow = Flow("bad_literal")

    with pytest.raises(DefinitionError, match=r"compares numbers.*Use == or !="):
        flow.compare("check", left, ">", right)


def test_a_non_finite_float_is_refused():
    with pytest.raises(DefinitionError, match="finite"):
        Flow("nan").compare("check", float("nan"), "==", 1)


def test_task_options_pass_through():
    flow = Flow("options")

    check = flow.compare("check", 1, "==", 1, retries=2, run_if="all_done")

    assert check.spec.condition is True
    assert check.spec.retries == 2
    assert check.spec.run_if is RunIf.ALL_DONE


# -- the example ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "taken", "excluded"),
    [
        ((), "loading 14520 rows", "warn_empty  excluded"),
        (("-p", "rows=0"), "no rows today", "publish     excluded"),
    ],
)
def test_the_branching_example_runs_green_from_the_command_line(options, taken, excluded):
    root = Path(__file__).resolve().parents[2]

    completed = subprocess.run(
        [sys.executable, "-m", "flowkit", "run", "examples/branching.py", *options],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert taken in completed.stdout
    assert excluded in completed.stdout
    assert "report      succeeded" in completed.stdout


def test_flow_compare_and_flow_run_flow_register_like_their_functions():
    child = Flow("child_of_methods")

    @child.task
    def inner():
        pass

    flow = Flow("methods", params={"rows": 3})
    check = flow.compare("check", "{{job.parameters.rows}}", ">=", 3)
    launch = flow.run_flow("launch", child, depends_on=[check.if_true], executor="inline")

    result = flow.run(executor="inline")

    assert check.spec.condition
    assert result.tasks["check"].state is TaskState.SUCCEEDED
    assert result.tasks[launch.name].state is TaskState.SUCCEEDED
    assert result.values["launch"]["state"] == "succeeded"
