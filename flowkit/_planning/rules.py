"""The run_if table and the run state from leaf tasks: pure functions, no I/O (DESIGN.md §2)."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping

from flowkit._definition.spec import RunIf
from flowkit._state import RunState, TaskState


class Decision(str, enum.Enum):
    """What happens to a task once every dependency is final."""

    RUN = "run"
    UPSTREAM_FAILED = "upstream_failed"
    EXCLUDED = "excluded"

    @property
    def final_state(self) -> TaskState | None:
        """The task's final state when it does not run, else None."""
        return None if self is Decision.RUN else TaskState(self.value)


def decide(run_if: RunIf, dependency_states: Collection[TaskState]) -> Decision:
    """Judge ``run_if`` against the final states of a task's dependencies.

    An ``excluded`` dependency counts as succeeded; a task whose dependencies
    are all excluded is itself excluded; a task with no dependencies runs.

    Raises:
        ValueError: a dependency state is not final.
    """
    states = list(dependency_states)
    not_final = [state for state in states if not state.is_final]
    if not_final:
        msg = f"run_if is judged once every dependency is final; got {not_final}"
        raise ValueError(msg)
    if not states:
        return Decision.RUN
    if all(state is TaskState.EXCLUDED for state in states):
        return Decision.EXCLUDED

    succeeded = [state in (TaskState.SUCCEEDED, TaskState.EXCLUDED) for state in states]
    failed_like = [state.is_failed_like for state in states]
    ran = [state is not TaskState.EXCLUDED for state in states]

    if run_if is RunIf.ALL_SUCCESS:
        return Decision.RUN if all(succeeded) else Decision.UPSTREAM_FAILED
    if run_if is RunIf.AT_LEAST_ONE_SUCCESS:
        return Decision.RUN if any(succeeded) else Decision.UPSTREAM_FAILED
    if run_if is RunIf.NONE_FAILED:
        return Decision.RUN if not any(failed_like) and any(ran) else Decision.UPSTREAM_FAILED
    if run_if is RunIf.ALL_DONE:
        return Decision.RUN
    if run_if is RunIf.AT_LEAST_ONE_FAILED:
        return Decision.RUN if any(failed_like) else Decision.EXCLUDED
    if run_if is RunIf.ALL_FAILED:
        return Decision.RUN if all(failed_like) else Decision.EXCLUDED
    msg = f"unknown run_if {run_if!r}"
    raise ValueError(msg)


def run_state(
    task_states: Mapping[str, TaskState], leaves: Iterable[str], *, cancelled: bool = False
) -> RunState:
    """The run's state from its tasks' final states and its leaf tasks.

    ``succeeded`` when every task succeeded or was excluded;
    ``succeeded_with_failures`` when some task is failed-like but every leaf
    succeeded or was excluded; ``failed`` when any leaf is failed-like;
    ``cancelled`` when the run was cancelled.
    """
    if cancelled or any(state is TaskState.CANCELLED for state in task_states.values()):
        return RunState.CANCELLED
    ok = (TaskState.SUCCEEDED, TaskState.EXCLUDED)
    if all(state in ok for state in task_states.values()):
        return RunState.SUCCEEDED
    if all(task_states[leaf] in ok for leaf in leaves):
        return RunState.SUCCEEDED_WITH_FAILURES
    return RunState.FAILED
