"""Flow, @flow.task and @task: registration, the decorated callable, every option's check."""

from __future__ import annotations

import math

import pytest

from flowkit import DefinitionError, Flow, RunIf, Task, task
from flowkit._definition.spec import TaskSpec

RUN_IF_VALUES = [
    "all_success",
    "at_least_one_success",
    "none_failed",
    "all_done",
    "at_least_one_failed",
    "all_failed",
]


def job() -> str:
    return "ran"


# -- the two decorator forms and the context form ---------------------------------------
def test_bare_decorator_uses_the_function_name() -> None:
    flow = Flow("forms")

    @flow.task
    def ingest() -> int:
        return 1

    assert isinstance(ingest, Task)
    assert ingest.name == "ingest"
    assert list(flow.tasks) == ["ingest"]
    assert flow.tasks["ingest"] is ingest
    assert ingest.spec.retries == 0
    assert ingest.spec.run_if is RunIf.ALL_SUCCESS
    assert ingest.spec.depends_on == ()
    assert ingest.spec.timeout is None


def test_called_decorator_takes_options() -> None:
    flow = Flow("forms")

    @flow.task()
    def ingest() -> None: ...

    @flow.task(
        name="clean_step",
        depends_on=[ingest],
        run_if="at_least_one_failed",
        retries=3,
        retry_delay=30,
        retry_backoff=2.0,
        retry_on_timeout=True,
        timeout=600,
    )
    def clean() -> None: ...

    spec = clean.spec
    assert isinstance(spec, TaskSpec)
    assert clean.name == spec.name == "clean_step"
    assert spec.flow_name == "forms"
    assert [dependency.task_key for dependency in spec.depends_on] == ["ingest"]
    assert spec.run_if is RunIf.AT_LEAST_ONE_FAILED
    assert (spec.retries, spec.retry_delay, spec.retry_backoff) == (3, 30, 2.0)
    assert spec.retry_on_timeout is True
    assert spec.timeout == 600
    assert spec.retry.delay_before(3) == 120.0
    assert list(flow.tasks) == ["ingest", "clean_step"]


def test_run_if_accepts_a_member_or_its_value() -> None:
    flow = Flow("forms")
    by_member = flow.task(name="a", run_if=RunIf.NONE_FAILED)(job)
    by_value = flow.task(name="b", run_if="none_failed")(job)
    assert by_member.spec.run_if is by_value.spec.run_if is RunIf.NONE_FAILED


def test_depends_on_accepts_tasks_and_names_and_tuples() -> None:
    flow = Flow("forms")
    first = flow.task(name="first")(job)
    second = flow.task(name="second", depends_on=(first, "later"))(job)
    flow.task(name="later")(job)
    assert [dependency.task_key for dependency in second.spec.depends_on] == ["first", "later"]


def test_task_inside_with_flow_registers_into_it() -> None:
    with Flow("context") as flow:

        @task
        def bare() -> None: ...

        @task(retries=2, depends_on=[bare])
        def called() -> None: ...

    assert list(flow.tasks) == ["bare", "called"]
    assert called.spec.retries == 2
    assert called.flow is flow


def test_nested_with_flow_registers_into_the_innermost() -> None:
    with Flow("outer") as outer:

        @task
        def in_outer_before() -> None: ...

        with Flow("inner") as inner:

            @task
            def in_inner() -> None: ...

        @task
        def in_outer_after() -> None: ...

    assert list(outer.tasks) == ["in_outer_before", "in_outer_after"]
    assert list(inner.tasks) == ["in_inner"]
    assert in_inner.flow is inner
    assert in_inner.spec.flow_name == "inner"


def test_with_flow_ends_even_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), Flow("broken"):
        raise RuntimeError("boom")
    with pytest.raises(DefinitionError, match="outside a flow"):
        task(job)


def test_task_outside_any_flow_is_an_error() -> None:
    with pytest.raises(DefinitionError) as excinfo:

        @task
        def orphan() -> None: ...

    message = str(excinfo.value)
    assert "'orphan'" in message
    assert "outside a flow" in message
    assert "with Flow(" in message


def test_called_task_outside_any_flow_is_an_error() -> None:
    with pytest.raises(DefinitionError) as excinfo:
        task(name="orphan", retries=1)
    message = str(excinfo.value)
    assert "'orphan'" in message
    assert "outside a flow" in message


def test_flow_task_works_inside_another_flows_with_block() -> None:
    explicit = Flow("explicit")
    with Flow("ambient") as ambient:

        @explicit.task
        def chosen() -> None: ...

    assert list(explicit.tasks) == ["chosen"]
    assert list(ambient.tasks) == []


# -- the decorated task stays a plain callable -------------------------------------------
def test_a_decorated_task_stays_callable_in_process() -> None:
    flow = Flow("callable")
    calls: list[tuple[object, ...]] = []

    def add(left: int, right: int = 10) -> int:
        """Add two numbers."""
        calls.append((left, right))
        return left + right

    decorated = flow.task(add)
    assert decorated(1, right=2) == 3
    assert decorated(5) == 15
    assert calls == [(1, 2), (5, 10)]
    assert decorated.fn is add
    assert decorated.spec.fn is add
    assert decorated.name == "add"
    assert decorated.__name__ == "add"
    assert decorated.__doc__ == "Add two numbers."
    assert "callable" in repr(decorated)
    assert "add" in repr(decorated)


def test_calling_a_task_does_not_run_the_flow() -> None:
    flow = Flow("callable")
    calls: list[str] = []

    @flow.task
    def first() -> None:
        calls.append("first")

    @flow.task(depends_on=[first])
    def second() -> None:
        calls.append("second")

    second()
    assert calls == ["second"]


def test_the_same_function_registers_in_two_flows() -> None:
    one, two = Flow("one"), Flow("two")
    in_one = one.task(job)
    in_two = two.task(job)
    assert in_one.fn is in_two.fn is job
    assert in_one.flow is one
    assert in_two.flow is two


def test_decorating_a_task_again_is_an_error() -> None:
    flow = Flow("twice")
    once = flow.task(job)
    with pytest.raises(DefinitionError) as excinfo:
        flow.task(name="again")(once)
    message = str(excinfo.value)
    assert "already a task" in message
    assert "'twice'" in message


def _register(form: str, **options: object) -> Task:
    """Register ``job`` as task 'job' of flow 'checked', through ``@flow.task`` or ``@task``."""
    if form == "flow.task":
        return Flow("checked").task(**{"name": "job", **options})(job)
    with Flow("checked"):
        return task(**options)(job)


# -- bad options: one row per option and bad value -----------------------------------------
BAD_OPTIONS = [
    ("run_if", "sometimes", ", ".join(RUN_IF_VALUES)),
    ("run_if", "ALL_SUCCESS", ", ".join(RUN_IF_VALUES)),
    ("run_if", 3, ", ".join(RUN_IF_VALUES)),
    ("retries", -2, "-1 for unlimited"),
    ("retries", -100, "-1 for unlimited"),
    ("retries", 1.5, "integer"),
    ("retries", True, "integer"),
    ("retries", "3", "integer"),
    ("timeout", 0, "> 0"),
    ("timeout", -5, "> 0"),
    ("timeout", math.nan, "> 0"),
    ("timeout", "60", "> 0"),
    ("retry_delay", -1, ">= 0"),
    ("retry_delay", -0.5, ">= 0"),
    ("retry_delay", math.inf, ">= 0"),
    ("retry_delay", "30", ">= 0"),
    ("retry_backoff", 0.5, ">= 1"),
    ("retry_backoff", 0, ">= 1"),
    ("retry_backoff", -2, ">= 1"),
    ("retry_backoff", math.nan, ">= 1"),
    ("retry_on_timeout", "yes", "True or False"),
    ("retry_on_timeout", 1, "True or False"),
]


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [pytest.param(*row, id=f"{row[0]}={row[1]!r}") for row in BAD_OPTIONS],
)
@pytest.mark.parametrize("form", ["flow.task", "with Flow"])
def test_invalid_option_names_flow_task_option_value_and_what_is_allowed(
    form: str, option: str, value: object, allowed: str
) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        _register(form, **{option: value})
    message = str(excinfo.value)
    assert "'checked'" in message
    assert "'job'" in message
    assert f"{option}={value!r}" in message
    assert allowed in message
    assert excinfo.value.problems == [message]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("retries", -1),
        ("retries", 0),
        ("retries", 10),
        ("timeout", None),
        ("timeout", 0.001),
        ("retry_delay", 0),
        ("retry_delay", 2.5),
        ("retry_backoff", 1),
        ("retry_backoff", 3.0),
        ("retry_on_timeout", False),
    ],
    ids=repr,
)
def test_boundary_values_are_accepted(option: str, value: object) -> None:
    registered = Flow("checked").task(name="job", **{option: value})(job)
    assert getattr(registered.spec, option) == value


def test_invalid_run_if_lists_every_valid_value() -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked").task(run_if="when_it_rains")(job)
    message = str(excinfo.value)
    for value in RUN_IF_VALUES:
        assert value in message
    assert "'when_it_rains'" in message
    assert "'job'" in message


@pytest.mark.parametrize("bad_name", ["bad name", "", "a/b", "naïve"], ids=repr)
def test_invalid_task_name(bad_name: str) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked").task(name=bad_name)(job)
    message = str(excinfo.value)
    assert f"name={bad_name!r}" in message
    assert "'checked'" in message
    assert "[A-Za-z0-9_.-]" in message


def test_a_lambda_needs_a_name() -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked").task(lambda: None)
    assert "'<lambda>'" in str(excinfo.value)
    named = Flow("checked").task(name="anonymous")(lambda: 42)
    assert named() == 42


# None is not here: ``flow.task(None)`` is the called form with no options.
@pytest.mark.parametrize("not_callable", [42, "job", ["job"], 3.5], ids=repr)
def test_decorating_something_not_callable_bare(not_callable: object) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked").task(not_callable)  # type: ignore[call-overload]
    message = str(excinfo.value)
    assert "'checked'" in message
    assert "not callable" in message
    assert type(not_callable).__name__ in message


def test_decorating_something_not_callable_names_the_task_when_named() -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked").task(name="job", retries=1)(42)
    message = str(excinfo.value)
    assert "'checked'" in message
    assert "'job'" in message
    assert "not callable" in message
    assert "int" in message


@pytest.mark.parametrize("entry", [42, None, "", 1.5, object, {"task": "a"}], ids=repr)
def test_depends_on_entry_that_is_neither_task_nor_name(entry: object) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked").task(name="job", depends_on=["fine", entry])(job)
    message = str(excinfo.value)
    assert "'checked'" in message
    assert "'job'" in message
    assert "depends_on" in message
    assert repr(entry) in message
    assert "neither a task nor a task name" in message


def test_depends_on_given_as_a_single_name() -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked").task(name="job", depends_on="ingest")(job)
    message = str(excinfo.value)
    assert "'checked'" in message
    assert "'job'" in message
    assert "depends_on='ingest'" in message
    assert "a list of tasks or task names" in message


def test_depends_on_given_as_a_single_task() -> None:
    flow = Flow("checked")
    ingest = flow.task(name="ingest")(job)
    with pytest.raises(DefinitionError) as excinfo:
        flow.task(name="clean", depends_on=ingest)(job)
    message = str(excinfo.value)
    assert "'clean'" in message
    assert "depends_on" in message
    assert "a list of tasks or task names" in message


def test_depends_on_given_as_a_number() -> None:
    with pytest.raises(DefinitionError, match="depends_on=5"):
        Flow("checked").task(name="job", depends_on=5)(job)


@pytest.mark.parametrize("form", ["flow.task", "with Flow"])
def test_unknown_option_names_it_and_lists_the_allowed_ones(form: str) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        _register(form, name="job", retry=3)
    message = str(excinfo.value)
    assert "'checked'" in message
    assert "'job'" in message
    assert "retry" in message
    for option in ("name", "depends_on", "run_if", "retries", "retry_delay", "timeout"):
        assert option in message


def test_unknown_option_is_reported_before_the_function_is_seen() -> None:
    flow = Flow("checked")
    with pytest.raises(DefinitionError, match="retires"):
        flow.task(retires=3)
    assert flow.tasks == {}


def test_bare_form_with_options_is_an_error() -> None:
    with pytest.raises(DefinitionError, match="keywords"):
        Flow("checked").task(job, retries=1)


def test_a_rejected_task_is_not_registered() -> None:
    flow = Flow("checked")
    with pytest.raises(DefinitionError):
        flow.task(name="job", retries=-5)(job)
    assert flow.tasks == {}


# -- Flow's own arguments -------------------------------------------------------------------
@pytest.mark.parametrize("bad_name", ["", "has space", "a/b", 3, None], ids=repr)
def test_invalid_flow_name(bad_name: object) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow(bad_name)  # type: ignore[arg-type]
    message = str(excinfo.value)
    assert repr(bad_name) in message
    assert "[A-Za-z0-9_.-]" in message


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"], ids=repr)
def test_invalid_flow_max_parallel(bad: object) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked", max_parallel=bad)  # type: ignore[arg-type]
    message = str(excinfo.value)
    assert "'checked'" in message
    assert f"max_parallel={bad!r}" in message
    assert "integer >= 1" in message


def test_invalid_flow_params() -> None:
    with pytest.raises(DefinitionError, match="mapping"):
        Flow("checked", params=["date"])  # type: ignore[arg-type]
    with pytest.raises(DefinitionError) as excinfo:
        Flow("checked", params={"bad key": 1, "good": 2})
    assert "'bad key'" in str(excinfo.value)
    assert "'good'" not in str(excinfo.value)


def test_flow_params_are_copied() -> None:
    declared = {"date": "2026-11-23"}
    flow = Flow("checked", params=declared)
    declared["date"] = "changed"
    assert flow.params == {"date": "2026-11-23"}
    assert flow.spec().params == {"date": "2026-11-23"}
