"""The plan: validation that collects every problem, and the topological order, levels, leaves."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from strategies import DagCase, build_flow, dag_cases

from flowkit import DefinitionError, FakeClock, Flow
from flowkit._planning.params import resolve_params


def noop() -> None: ...


def _flow(name: str, edges: dict[str, list[str]]) -> Flow:
    """A flow with one task per key of ``edges``, depending on the names listed."""
    flow = Flow(name)
    for task_name, depends_on in edges.items():
        flow.task(name=task_name, depends_on=depends_on)(noop)
    return flow


def _problems(flow: Flow) -> tuple[str, list[str]]:
    with pytest.raises(DefinitionError) as excinfo:
        flow.plan()
    return str(excinfo.value), excinfo.value.problems


# -- one problem at a time ------------------------------------------------------------------
def test_cycle_is_printed_as_a_path() -> None:
    message, problems = _problems(_flow("cyclic", {"a": ["c"], "b": ["a"], "c": ["b"]}))
    assert len(problems) == 1
    assert "a -> b -> c -> a" in problems[0]
    assert "'cyclic'" in problems[0]
    assert "cycle" in problems[0]
    assert "depends_on" in problems[0]
    assert problems[0] in message


def test_cycle_path_follows_the_direction_of_flow() -> None:
    # upstream -> downstream: d runs before e, e before f, f before d.
    _, problems = _problems(_flow("cyclic", {"d": ["f"], "e": ["d"], "f": ["e"], "g": ["f"]}))
    assert len(problems) == 1
    assert "d -> e -> f -> d" in problems[0]
    assert "g" not in problems[0].split("cycle", 1)[1].split(";")[0]


def test_two_task_cycle() -> None:
    _, problems = _problems(_flow("cyclic", {"a": ["b"], "b": ["a"], "root": []}))
    assert len(problems) == 1
    assert "a -> b -> a" in problems[0]


def test_every_separate_cycle_is_reported() -> None:
    edges = {"a": ["b"], "b": ["a"], "x": ["z"], "y": ["x"], "z": ["y"], "ok": ["a"]}
    _, problems = _problems(_flow("cyclic", edges))
    cycles = sorted(problem for problem in problems if "cycle" in problem)
    assert len(cycles) == 2
    assert "a -> b -> a" in cycles[0]
    assert "x -> y -> z -> x" in cycles[1]


def test_a_long_cycle_does_not_overflow_the_stack() -> None:
    size = 3000
    edges = {f"t{index}": [f"t{index - 1}"] for index in range(1, size)}
    edges["t0"] = [f"t{size - 1}"]
    _, problems = _problems(_flow("long", edges))
    assert len(problems) == 1
    assert "t0 -> t1 -> t2 -> t3 -> t4 -> t5 -> t6 -> t7 -> t8 -> t9 -> t10 -> t11" in problems[0]
    assert f"t{size - 1} -> t0" in problems[0]


def test_unknown_dependency() -> None:
    message, problems = _problems(_flow("lakehouse", {"ingest": [], "clean": ["injest"]}))
    assert len(problems) == 1
    assert "'lakehouse'" in message
    assert "'clean'" in message
    assert "'injest'" in message
    assert "depends_on" in message
    assert "did you mean 'ingest'?" in message


def test_unknown_dependency_without_a_close_match_has_no_hint() -> None:
    _, problems = _problems(_flow("lakehouse", {"ingest": [], "clean": ["zzz"]}))
    assert "'zzz'" in problems[0]
    assert "did you mean" not in problems[0]


def test_duplicate_task_name() -> None:
    flow = Flow("dupes")

    def first() -> None: ...

    def second() -> None: ...

    flow.task(name="load")(first)
    flow.task(name="load")(second)
    message, problems = _problems(flow)
    assert len(problems) == 1
    assert "'dupes'" in message
    assert "duplicate task name 'load'" in message
    assert "first" in message
    assert "second" in message
    assert "name=" in message


def test_self_dependency() -> None:
    message, problems = _problems(_flow("selfish", {"loop": ["loop"]}))
    assert len(problems) == 1
    assert "'selfish'" in message
    assert "'loop'" in message
    assert "itself" in message
    assert "depends_on" in message


def test_dependency_on_a_task_of_another_flow() -> None:
    other = Flow("other")
    foreign = other.task(name="foreign")(noop)
    flow = Flow("mine")
    flow.task(name="foreign")(noop)  # even a same-named task of this flow is not it
    flow.task(name="local", depends_on=[foreign])(noop)
    message, problems = _problems(flow)
    assert len(problems) == 1
    assert "'mine'" in message
    assert "'local'" in message
    assert "'foreign'" in message
    assert "'other'" in message
    assert "depends_on" in message


def test_a_flow_without_tasks() -> None:
    message, problems = _problems(Flow("empty"))
    assert len(problems) == 1
    assert "'empty'" in message
    assert "no tasks" in message


# -- every problem at once ------------------------------------------------------------------
def test_every_problem_is_reported_together() -> None:
    other = Flow("other")
    foreign = other.task(name="foreign")(noop)
    flow = Flow("broken")
    flow.task(name="dup")(noop)
    flow.task(name="dup")(noop)
    flow.task(name="orphan", depends_on=["missing"])(noop)
    flow.task(name="selfish", depends_on=["selfish"])(noop)
    flow.task(name="crosser", depends_on=[foreign])(noop)
    flow.task(name="a", depends_on=["b"])(noop)
    flow.task(name="b", depends_on=["a"])(noop)
    message, problems = _problems(flow)
    assert len(problems) == 5
    assert "(5 problems)" in message
    kinds = {
        "duplicate": "duplicate task name 'dup'",
        "unknown": "'missing'",
        "self": "itself",
        "cross-flow": "'other'",
        "cycle": "a -> b -> a",
    }
    for kind, fragment in kinds.items():
        matching = [problem for problem in problems if fragment in problem]
        assert len(matching) == 1, kind
    for problem in problems:
        assert problem in message
        assert "'broken'" in problem


def test_an_invalid_flow_runs_nothing() -> None:
    calls: list[str] = []
    flow = Flow("broken")
    flow.task(name="fine")(lambda: calls.append("fine"))
    flow.task(name="bad", depends_on=["nowhere"])(lambda: calls.append("bad"))
    with pytest.raises(DefinitionError, match="nowhere"):
        flow.run(executor="inline", clock=FakeClock())
    assert calls == []


# -- the plan of a valid flow ---------------------------------------------------------------
def _lakehouse() -> Flow:
    return _flow(
        "lakehouse",
        {
            "ingest": [],
            "clean": ["ingest"],
            "metrics": ["clean"],
            "train": ["clean"],
            "alert": ["metrics", "train"],
            "audit": ["ingest"],
        },
    )


def test_plan_of_the_lakehouse() -> None:
    plan = _lakehouse().plan()
    assert plan.name == "lakehouse"
    assert len(plan) == 6
    assert plan.levels == (
        ("ingest",),
        ("clean", "audit"),
        ("metrics", "train"),
        ("alert",),
    )
    assert plan.leaves == tuple(name for name in plan.order if name in {"alert", "audit"})
    assert set(plan.leaves) == {"alert", "audit"}
    assert plan.upstream["alert"] == ("metrics", "train")
    assert set(plan.downstream["clean"]) == {"metrics", "train"}
    assert plan.downstream["alert"] == ()
    assert plan.ancestors("alert") == {"ingest", "clean", "metrics", "train"}
    assert plan.descendants("clean") == {"metrics", "train", "alert"}
    assert plan.ancestors("ingest") == set()
    assert [spec.name for spec in plan] == list(plan.order)


def test_a_repeated_dependency_is_one_edge() -> None:
    flow = Flow("repeats")
    first = flow.task(name="first")(noop)
    flow.task(name="second", depends_on=[first, "first"])(noop)
    plan = flow.plan()
    assert plan.upstream["second"] == ("first",)
    assert plan.downstream["first"] == ("second",)


def test_a_dependency_may_name_a_task_defined_later() -> None:
    plan = _flow("forward", {"late_reader": ["writer"], "writer": []}).plan()
    assert plan.order == ("writer", "late_reader")


@settings(max_examples=100, deadline=None)
@given(case=dag_cases(max_tasks=12))
def test_plan_order_levels_and_leaves_on_random_dags(case: DagCase) -> None:
    plan = build_flow(case, []).plan()
    names = {task.name for task in case.tasks}
    # The order holds every task once and respects every edge.
    assert sorted(plan.order) == sorted(names)
    position = {name: index for index, name in enumerate(plan.order)}
    for upstream, downstream in case.edges:
        assert position[upstream] < position[downstream]
    # Level 0 holds the tasks without dependencies; a task sits one below its deepest one.
    level = {name: depth for depth, members in enumerate(plan.levels) for name in members}
    assert sorted(level) == sorted(names)
    assert sum(len(members) for members in plan.levels) == len(names)
    assert all(plan.levels)
    for task in case.tasks:
        expected = 1 + max((level[dep] for dep in task.depends_on), default=-1)
        assert level[task.name] == expected
    # Within a level, tasks keep their definition order.
    definition = [case.tasks[index].name for index in case.definition_order]
    for members in plan.levels:
        assert list(members) == [name for name in definition if name in members]
    # Leaves are the tasks nothing depends on.
    has_dependents = {upstream for upstream, _ in case.edges}
    assert set(plan.leaves) == names - has_dependents
    # Edges both ways agree with the case.
    for task in case.tasks:
        assert set(plan.upstream[task.name]) == set(task.depends_on)
        assert set(plan.downstream[task.name]) == {
            downstream for upstream, downstream in case.edges if upstream == task.name
        }


# -- parameters -----------------------------------------------------------------------------
def test_resolve_params_defaults_and_overrides() -> None:
    spec = Flow("params", params={"date": "2026-11-23", "limit": 10}).spec()
    assert resolve_params(spec, None) == {"date": "2026-11-23", "limit": 10}
    assert resolve_params(spec, {"limit": 3}) == {"date": "2026-11-23", "limit": 3}


def test_resolve_params_rejects_every_undeclared_key_at_once() -> None:
    spec = Flow("params", params={"date": "2026-11-23"}).spec()
    with pytest.raises(DefinitionError) as excinfo:
        resolve_params(spec, {"dat": 1, "region": "eu", "date": "x"})
    problems = excinfo.value.problems
    assert len(problems) == 2
    assert "'dat'" in problems[0]
    assert "'region'" in problems[1]
    assert all("declared parameters: date" in problem for problem in problems)


@pytest.mark.parametrize(
    ("default", "text", "expected"),
    [
        (10, "42", 42),
        (1.5, "2.25", 2.25),
        (False, "true", True),
        (True, "off", False),
        ("2026-11-23", "2027-01-01", "2027-01-01"),
        (None, "anything", "anything"),
    ],
    ids=repr,
)
def test_resolve_params_converts_text_to_the_defaults_type(
    default: object, text: str, expected: object
) -> None:
    spec = Flow("params", params={"value": default}).spec()
    resolved = resolve_params(spec, {"value": text}, from_text=True)
    assert resolved["value"] == expected
    assert type(resolved["value"]) is type(expected)


@pytest.mark.parametrize(("default", "text"), [(10, "ten"), (1.5, "x"), (True, "maybe")], ids=repr)
def test_resolve_params_rejects_text_of_the_wrong_type(default: object, text: str) -> None:
    spec = Flow("params", params={"value": default}).spec()
    with pytest.raises(DefinitionError) as excinfo:
        resolve_params(spec, {"value": text}, from_text=True)
    message = str(excinfo.value)
    assert "'params'" in message
    assert "'value'" in message
    assert repr(text) in message
    assert type(default).__name__ in message


@pytest.mark.parametrize(
    ("default", "text", "expected"),
    [
        ([1, 2], "[3, 4]", [3, 4]),
        ([], '["a", {"b": null}]', ["a", {"b": None}]),
        ({"a": 1}, '{"b": [2]}', {"b": [2]}),
    ],
    ids=repr,
)
def test_text_params_of_list_and_dict_defaults_are_json(
    default: object, text: str, expected: object
) -> None:
    spec = Flow("params", params={"items": default}).spec()
    assert resolve_params(spec, {"items": text}, from_text=True) == {"items": expected}


@pytest.mark.parametrize(
    ("default", "text", "expected"),
    [
        (
            [1, 2],
            "notalist",
            "expected a JSON list such as -p items='[\"a\", 2]', and this is not JSON",
        ),
        ([1, 2], '{"a": 1}', "and this is a JSON object"),
        (
            {"a": 1},
            "[1]",
            "expected a JSON dict such as -p items='{\"a\": 1}', and this is a JSON list",
        ),
        ({"a": 1}, "3", "and this is a JSON number"),
    ],
    ids=repr,
)
def test_text_params_that_are_not_json_of_the_default_type_are_refused(
    default: object, text: str, expected: str
) -> None:
    spec = Flow("params", params={"items": default}).spec()
    with pytest.raises(DefinitionError) as excinfo:
        resolve_params(spec, {"items": text}, from_text=True)
    (problem,) = excinfo.value.problems
    assert problem.startswith(f"flow 'params': parameter 'items'={text!r} is not a valid ")
    assert expected in problem
    assert problem.endswith(f"(its default is {default!r})")
