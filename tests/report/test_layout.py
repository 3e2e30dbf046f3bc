"""The graph's layout, the timeline and the critical path, on hand-made runs."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from flowkit._report.dag import NODE_HEIGHT, Layout, layout
from flowkit._report.gantt import CHART_WIDTH, LABEL_WIDTH, timeline
from flowkit._report.model import RunView, TaskView, critical_path
from flowkit._state import RunState, TaskState
from flowkit._store.base import AttemptRecord, RunRecord, TaskRecord


def overlapping(result: Layout) -> list[tuple[str, str]]:
    found = []
    for a, b in itertools.combinations(result.nodes, 2):
        apart = (
            a.x + a.width <= b.x
            or b.x + b.width <= a.x
            or a.y + a.height <= b.y
            or b.y + b.height <= a.y
        )
        if not apart:
            found.append((a.key, b.key))
    return found


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[tuple[str, bool | None]]]:
    count = draw(st.integers(1, 40))
    keys = [f"t{number}" for number in range(count)]
    return {
        key: [
            (upstream, None)
            for upstream in draw(st.lists(st.sampled_from(keys[:index]), max_size=3, unique=True))
        ]
        if index
        else []
        for index, key in enumerate(keys)
    }


@settings(max_examples=60, deadline=None)
@given(dags())
def test_boxes_never_overlap_and_every_edge_points_right(
    graph: dict[str, list[tuple[str, bool | None]]],
) -> None:
    result = layout(list(graph), graph)
    assert len(result.nodes) == len(graph)
    assert overlapping(result) == []
    by_key = {node.key: node for node in result.nodes}
    for node in result.nodes:
        assert node.x >= 0
        assert node.x + node.width <= result.width
        assert node.y >= 0
        assert node.y + node.height <= result.height
    assert len(result.edges) == sum(len(upstream) for upstream in graph.values())
    for edge in result.edges:
        assert by_key[edge.source].x + by_key[edge.source].width <= by_key[edge.target].x
        xs = [x for x, _ in edge.points]
        assert xs == sorted(xs)  # through one point per layer it crosses, left to right


def test_the_ordering_removes_crossings_a_naive_order_has() -> None:
    # Two fans declared in crossed order: a -> d, b -> c (c before d in the second layer).
    graph = {"a": [], "b": [], "c": [("b", None)], "d": [("a", None)]}
    result = layout(list(graph), graph)
    assert result.crossings == 0
    by_key = {node.key: node for node in result.nodes}
    assert (by_key["a"].y < by_key["b"].y) == (by_key["d"].y < by_key["c"].y)


def test_a_wide_layer_is_stacked_and_centred_against_a_narrow_one() -> None:
    graph = {"root": [], **{f"leaf{n}": [("root", None)] for n in range(9)}}
    result = layout(list(graph), graph)
    by_key = {node.key: node for node in result.nodes}
    leaves = sorted(by_key[f"leaf{n}"].y for n in range(9))
    assert leaves[-1] - leaves[0] >= 8 * NODE_HEIGHT
    middle = (leaves[0] + leaves[-1]) / 2
    assert abs(by_key["root"].y - middle) < NODE_HEIGHT


def test_branch_edges_carry_their_outcome() -> None:
    graph = {"check": [], "yes": [("check", True)], "no": [("check", False)]}
    labels = {edge.target: edge.label for edge in layout(list(graph), graph).edges}
    assert labels == {"yes": "true", "no": "false"}


def test_a_long_key_is_cut_in_its_box_and_kept_whole_in_the_data() -> None:
    key = "a_very_long_task_name_that_goes_on_and_on_and_on_for_ever_and_ever"
    (node,) = layout([key], {}).nodes
    assert node.key == key
    assert node.label.endswith("…")
    assert len(node.label) < len(key)


# -- the timeline and the critical path ------------------------------------------------
def attempt(
    task: str, number: int, start: float, end: float | None, **more: object
) -> AttemptRecord:
    state = more.pop("state", TaskState.SUCCEEDED)
    return AttemptRecord(
        run_id="r",
        task_key=task,
        attempt=number,
        started_at=start,
        ended_at=end,
        state=state,
        **more,
    )  # type: ignore[arg-type]


def view_of(tasks: list[TaskView], *, start: float = 100.0, end: float | None = 200.0) -> RunView:
    run = RunRecord(
        run_id="r",
        flow_name="f",
        started_at=start,
        ended_at=end,
        state=RunState.SUCCEEDED if end else RunState.RUNNING,
    )
    return RunView(run=run, tasks=tuple(tasks), now=150.0, pass_starts=(start,))


def task(
    key: str, attempts: list[AttemptRecord], *deps: str, ready_at: float | None = None
) -> TaskView:
    return TaskView(
        key=key,
        record=TaskRecord(
            run_id="r", task_key=key, state=attempts[-1].state if attempts else TaskState.PENDING
        ),
        attempts=tuple(attempts),
        depends_on=tuple((dep, None) for dep in deps),
        ready_at=ready_at,
    )


def test_the_critical_path_follows_the_upstream_that_ended_last() -> None:
    tasks = [
        task("a", [attempt("a", 1, 100, 110)]),
        task("slow", [attempt("slow", 1, 110, 170)], "a"),
        task("quick", [attempt("quick", 1, 110, 120)], "a"),
        task("join", [attempt("join", 1, 170, 200)], "slow", "quick"),
        task("side", [attempt("side", 1, 100, 105)]),
    ]
    assert critical_path(tasks) == {"join": "slow", "slow": "a", "a": None}


def test_bars_sit_where_their_attempts_ran_with_waits_between() -> None:
    tasks = [
        task(
            "flaky",
            [
                attempt("flaky", 1, 110, 120, state=TaskState.FAILED),
                attempt("flaky", 2, 130, 150, state=TaskState.TIMED_OUT),
                attempt("flaky", 3, 150, 200),
            ],
            ready_at=100,
        )
    ]
    drawn = timeline(view_of(tasks))
    scale = CHART_WIDTH / 100

    def at(seconds: float) -> float:
        return LABEL_WIDTH + seconds * scale

    attempts = [bar for bar in drawn.bars if bar.wait is None]
    assert [(bar.attempt, bar.state) for bar in attempts] == [
        (1, "failed"),
        (2, "timed_out"),
        (3, "succeeded"),
    ]
    assert [(bar.x, bar.x + bar.width) for bar in attempts] == [
        (at(10), at(20)),
        (at(30), at(50)),
        (at(50), at(100)),
    ]
    waits = {(bar.wait, bar.x, bar.x + bar.width) for bar in drawn.bars if bar.wait}
    assert waits == {("queue", at(0), at(10)), ("retry", at(20), at(30))}
    assert drawn.ticks[0].x == LABEL_WIDTH


def test_an_attempt_still_running_is_drawn_to_now() -> None:
    tasks = [task("live", [attempt("live", 1, 110, None, state=TaskState.RUNNING)])]
    drawn = timeline(view_of(tasks, end=None))
    (bar,) = drawn.bars
    assert bar.running
    assert bar.end == 150.0  # the view's now
    assert "running" in bar.title
