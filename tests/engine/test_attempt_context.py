"""What an attempt hands the processes it starts, and the arguments its function gets."""

from __future__ import annotations

import inspect
import os

import pytest

from flowkit import Flow, RunState, task_values
from flowkit._channel import EDGES_FILE, MAX_ENVIRONMENT_EDGE_TASKS, exported_folder, run_folder
from flowkit._context import _exported_context as exported_context
from flowkit._context import current_context


def _flow(extra_tasks: int) -> Flow:
    """first -> middle -> reader, ``beside`` on its own, and ``extra_tasks`` more.

    ``reader`` loads its context as a process it started would (``_channel``), and
    returns what that process would see, and whether the run's folder exists.
    """
    flow = Flow(f"reach_{extra_tasks}")

    @flow.task
    def first() -> None:
        task_values.set("n", 41)

    @flow.task
    def beside() -> None: ...

    @flow.task(depends_on=[first])
    def middle() -> None: ...

    @flow.task(depends_on=[middle])
    def reader() -> dict[str, object]:
        folder = run_folder(current_context().run_id)  # type: ignore[union-attr]
        exported = exported_context(exported_folder())
        return {
            "values": exported.upstream_values,
            "upstream": [
                name for name in ("first", "middle", "beside") if exported.is_upstream(name)
            ],
            "folder": os.path.exists(folder),
            "edges": os.path.exists(f"{folder}/{EDGES_FILE}"),
        }

    for index in range(extra_tasks):
        flow.task(name=f"extra{index}")(lambda: None)
    return flow


def test_a_small_flow_hands_its_edges_over_in_the_context_and_writes_no_file() -> None:
    result = _flow(0).run(executor="inline")
    assert result.state is RunState.SUCCEEDED, result.tasks["reader"].error
    assert result.results["reader"] == {
        "values": {"first": {"n": 41}},
        "upstream": ["first", "middle"],
        "folder": False,
        "edges": False,
    }


def test_a_large_flow_writes_its_edges_once_and_its_processes_read_them() -> None:
    result = _flow(MAX_ENVIRONMENT_EDGE_TASKS).run(executor="inline")
    assert result.state is RunState.SUCCEEDED, result.tasks["reader"].error
    assert result.results["reader"] == {
        "values": {"first": {"n": 41}},
        "upstream": ["first", "middle"],
        "folder": True,
        "edges": True,
    }
    assert not os.path.exists(run_folder(result.run_id))  # removed when the run ended


def _factory():  # type: ignore[no-untyped-def]
    def body(day=None):  # type: ignore[no-untyped-def]
        return day

    return body


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_functions_of_one_code_get_the_arguments_each_one_declares(executor: str) -> None:
    flow = Flow("arguments", params={"day": "monday"})
    plain, again, masked = _factory(), _factory(), _factory()
    masked.__signature__ = inspect.Signature()  # it says it takes nothing: nothing is passed
    flow.task(name="plain")(plain)
    flow.task(name="again")(again)
    flow.task(name="masked")(masked)
    result = flow.run(executor=executor)
    assert result.state is RunState.SUCCEEDED
    assert result.results == {"plain": "monday", "again": "monday"}
