"""The run_if table and the run state from leaf tasks, row by row (DESIGN.md §2)."""

from __future__ import annotations

import pytest

from flowkit import RunIf, RunState, TaskState
from flowkit._planning.rules import Decision, decide, run_state

S = TaskState.SUCCEEDED
F = TaskState.FAILED
T = TaskState.TIMED_OUT
U = TaskState.UPSTREAM_FAILED
X = TaskState.EXCLUDED
C = TaskState.CANCELLED

RUN = Decision.RUN
UPSTREAM_FAILED = Decision.UPSTREAM_FAILED
EXCLUDED = Decision.EXCLUDED

# One row per line of DESIGN.md §2: (run_if, final states of the dependencies, decision).
RUN_IF_TABLE = [
    # all_success: every dependency succeeded (an excluded one counts as succeeded)
    (RunIf.ALL_SUCCESS, [S], RUN),
    (RunIf.ALL_SUCCESS, [S, S, S], RUN),
    (RunIf.ALL_SUCCESS, [S, X], RUN),
    (RunIf.ALL_SUCCESS, [S, F], UPSTREAM_FAILED),
    (RunIf.ALL_SUCCESS, [S, T], UPSTREAM_FAILED),
    (RunIf.ALL_SUCCESS, [S, U], UPSTREAM_FAILED),
    (RunIf.ALL_SUCCESS, [X, F], UPSTREAM_FAILED),
    (RunIf.ALL_SUCCESS, [F, T, U], UPSTREAM_FAILED),
    # at_least_one_success: one or more succeeded
    (RunIf.AT_LEAST_ONE_SUCCESS, [S], RUN),
    (RunIf.AT_LEAST_ONE_SUCCESS, [S, F], RUN),
    (RunIf.AT_LEAST_ONE_SUCCESS, [U, T, S], RUN),
    (RunIf.AT_LEAST_ONE_SUCCESS, [X, F], RUN),
    (RunIf.AT_LEAST_ONE_SUCCESS, [F], UPSTREAM_FAILED),
    (RunIf.AT_LEAST_ONE_SUCCESS, [T], UPSTREAM_FAILED),
    (RunIf.AT_LEAST_ONE_SUCCESS, [U, U], UPSTREAM_FAILED),
    (RunIf.AT_LEAST_ONE_SUCCESS, [F, T, U], UPSTREAM_FAILED),
    # none_failed: none is failed-like, and at least one ran
    (RunIf.NONE_FAILED, [S], RUN),
    (RunIf.NONE_FAILED, [S, S], RUN),
    (RunIf.NONE_FAILED, [S, X], RUN),
    (RunIf.NONE_FAILED, [S, F], UPSTREAM_FAILED),
    (RunIf.NONE_FAILED, [S, T], UPSTREAM_FAILED),
    (RunIf.NONE_FAILED, [S, U], UPSTREAM_FAILED),
    (RunIf.NONE_FAILED, [X, U], UPSTREAM_FAILED),
    # all_done: always, once all are final
    (RunIf.ALL_DONE, [S], RUN),
    (RunIf.ALL_DONE, [F], RUN),
    (RunIf.ALL_DONE, [T], RUN),
    (RunIf.ALL_DONE, [U], RUN),
    (RunIf.ALL_DONE, [S, X], RUN),
    (RunIf.ALL_DONE, [F, T, U, S, X], RUN),
    # at_least_one_failed: one or more is failed-like, else excluded
    (RunIf.AT_LEAST_ONE_FAILED, [S, F], RUN),
    (RunIf.AT_LEAST_ONE_FAILED, [S, T], RUN),
    (RunIf.AT_LEAST_ONE_FAILED, [S, U], RUN),
    (RunIf.AT_LEAST_ONE_FAILED, [X, F], RUN),
    (RunIf.AT_LEAST_ONE_FAILED, [S], EXCLUDED),
    (RunIf.AT_LEAST_ONE_FAILED, [S, S], EXCLUDED),
    (RunIf.AT_LEAST_ONE_FAILED, [S, X], EXCLUDED),
    # all_failed: every one is failed-like, else excluded
    (RunIf.ALL_FAILED, [F], RUN),
    (RunIf.ALL_FAILED, [T], RUN),
    (RunIf.ALL_FAILED, [U], RUN),
    (RunIf.ALL_FAILED, [F, T, U], RUN),
    (RunIf.ALL_FAILED, [F, S], EXCLUDED),
    (RunIf.ALL_FAILED, [F, X], EXCLUDED),
    (RunIf.ALL_FAILED, [S], EXCLUDED),
    (RunIf.ALL_FAILED, [S, S], EXCLUDED),
]


def _row_id(run_if: RunIf, states: list[TaskState], decision: Decision) -> str:
    return f"{run_if.value}:[{','.join(state.value for state in states)}]->{decision.value}"


@pytest.mark.parametrize(
    ("run_if", "states", "expected"),
    [pytest.param(*row, id=_row_id(*row)) for row in RUN_IF_TABLE],
)
def test_run_if_table(run_if: RunIf, states: list[TaskState], expected: Decision) -> None:
    assert decide(run_if, states) is expected


@pytest.mark.parametrize(
    ("run_if", "states", "expected"),
    [pytest.param(*row, id=_row_id(*row)) for row in RUN_IF_TABLE],
)
def test_run_if_ignores_the_order_of_dependencies(
    run_if: RunIf, states: list[TaskState], expected: Decision
) -> None:
    assert decide(run_if, list(reversed(states))) is expected


@pytest.mark.parametrize("run_if", list(RunIf), ids=str)
@pytest.mark.parametrize("states", [[X], [X, X], [X, X, X]], ids=["one", "two", "three"])
def test_all_dependencies_excluded_means_excluded_whatever_run_if(
    run_if: RunIf, states: list[TaskState]
) -> None:
    assert decide(run_if, states) is EXCLUDED


@pytest.mark.parametrize("run_if", list(RunIf), ids=str)
def test_a_task_without_dependencies_always_runs(run_if: RunIf) -> None:
    assert decide(run_if, []) is RUN


@pytest.mark.parametrize(
    ("decision", "state"),
    [(RUN, None), (UPSTREAM_FAILED, TaskState.UPSTREAM_FAILED), (EXCLUDED, TaskState.EXCLUDED)],
    ids=str,
)
def test_decision_final_state(decision: Decision, state: TaskState | None) -> None:
    assert decision.final_state is state


@pytest.mark.parametrize(
    "not_final",
    [
        TaskState.PENDING,
        TaskState.QUEUED,
        TaskState.RUNNING,
        TaskState.WAITING_FOR_RETRY,
    ],
    ids=str,
)
def test_run_if_is_not_judged_before_every_dependency_is_final(not_final: TaskState) -> None:
    with pytest.raises(ValueError, match=not_final.value):
        decide(RunIf.ALL_DONE, [S, not_final])


@pytest.mark.parametrize(
    ("state", "failed_like"),
    [(S, False), (F, True), (T, True), (U, True), (X, False), (C, False)],
    ids=str,
)
def test_failed_like_states(state: TaskState, failed_like: bool) -> None:
    assert state.is_failed_like is failed_like
    assert state.is_final


# The run's state from its leaves. The flow of every row: root -> middle -> leaf_a and
# root -> leaf_b; only leaf_a and leaf_b are leaves.
LEAVES = ("leaf_a", "leaf_b")
RUN_STATE_TABLE = [
    (
        "every task succeeded",
        {"root": S, "middle": S, "leaf_a": S, "leaf_b": S},
        RunState.SUCCEEDED,
    ),
    (
        "succeeded or excluded",
        {"root": S, "middle": S, "leaf_a": X, "leaf_b": S},
        RunState.SUCCEEDED,
    ),
    (
        "non-leaf failed, leaves succeeded",
        {"root": S, "middle": F, "leaf_a": S, "leaf_b": S},
        RunState.SUCCEEDED_WITH_FAILURES,
    ),
    (
        "non-leaf failed, leaves excluded or succeeded",
        {"root": F, "middle": S, "leaf_a": X, "leaf_b": S},
        RunState.SUCCEEDED_WITH_FAILURES,
    ),
    (
        "non-leaf timed out and upstream_failed, leaves succeeded",
        {"root": T, "middle": U, "leaf_a": S, "leaf_b": S},
        RunState.SUCCEEDED_WITH_FAILURES,
    ),
    ("a leaf failed", {"root": S, "middle": S, "leaf_a": F, "leaf_b": S}, RunState.FAILED),
    ("a leaf timed out", {"root": S, "middle": S, "leaf_a": S, "leaf_b": T}, RunState.FAILED),
    (
        "a leaf upstream_failed",
        {"root": F, "middle": U, "leaf_a": U, "leaf_b": S},
        RunState.FAILED,
    ),
    ("every leaf failed", {"root": S, "middle": S, "leaf_a": F, "leaf_b": F}, RunState.FAILED),
    (
        "a task cancelled",
        {"root": S, "middle": C, "leaf_a": C, "leaf_b": S},
        RunState.CANCELLED,
    ),
]


@pytest.mark.parametrize(
    ("states", "expected"),
    [pytest.param(states, expected, id=label) for label, states, expected in RUN_STATE_TABLE],
)
def test_run_state_from_leaves(states: dict[str, TaskState], expected: RunState) -> None:
    assert run_state(states, LEAVES) is expected


def test_a_cancelled_run_is_cancelled_even_if_every_task_succeeded() -> None:
    states = {"root": S, "middle": S, "leaf_a": S, "leaf_b": S}
    assert run_state(states, LEAVES, cancelled=True) is RunState.CANCELLED


@pytest.mark.parametrize(
    ("state", "success"),
    [
        (RunState.SUCCEEDED, True),
        (RunState.SUCCEEDED_WITH_FAILURES, True),
        (RunState.FAILED, False),
        (RunState.CANCELLED, False),
        (RunState.INTERRUPTED, False),
    ],
    ids=str,
)
def test_which_run_states_count_as_success(state: RunState, success: bool) -> None:
    assert state.is_success is success
