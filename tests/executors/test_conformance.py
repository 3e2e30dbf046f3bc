"""The same flows reach the same outcome on every executor (run_if, retries, values, params)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowkit import FakeClock, Flow, RunState, TaskState, params, task_values
from flowkit._errors import TaskValueError


def _attempt_number(counter: Path) -> int:
    """How many times this has been called for ``counter``, across processes."""
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    return count


def test_lakehouse_shape_with_a_failure_and_an_alert(executor):
    flow = Flow("lakehouse", params={"date": "2026-11-23"})

    @flow.task
    def ingest():
        task_values.set(key="row_count", value=14520)

    @flow.task(depends_on=[ingest])
    def clean():
        rows = task_values.get(task_key="ingest", key="row_count", default=0)
        task_values.set("summary", f"{rows} rows for {params['date']}")

    @flow.task(depends_on=[clean])
    def metrics():
        raise ValueError("metrics store unreachable")

    @flow.task(depends_on=[clean])
    def train():
        # Transitive upstream values are readable.
        task_values.set("rows", task_values.get(task_key="ingest", key="row_count"))

    @flow.task(depends_on=[metrics, train], run_if="at_least_one_failed")
    def alert():
        pass

    @flow.task(depends_on=[metrics, train])
    def publish():
        pass

    result = flow.run(executor=executor, params={"date": "2026-11-24"})

    states = {name: task.state for name, task in result.tasks.items()}
    assert states == {
        "ingest": TaskState.SUCCEEDED,
        "clean": TaskState.SUCCEEDED,
        "metrics": TaskState.FAILED,
        "train": TaskState.SUCCEEDED,
        "alert": TaskState.SUCCEEDED,
        "publish": TaskState.UPSTREAM_FAILED,
    }
    assert result.state is RunState.FAILED
    assert result.values["clean"] == {"summary": "14520 rows for 2026-11-24"}
    assert result.values["train"] == {"rows": 14520}
    assert result.tasks["metrics"].error.type_name == "ValueError"
    assert "metrics store unreachable" in result.tasks["metrics"].error.message
    assert "metrics" in result.tasks["metrics"].error.traceback


def test_retries_until_success_and_attempts_are_counted(executor, tmp_path):
    flow = Flow("retries")

    @flow.task(retries=3)
    def flaky():
        if _attempt_number(tmp_path / "flaky") < 3:
            raise RuntimeError("not yet")

    @flow.task(retries=-1)
    def unlimited():
        if _attempt_number(tmp_path / "unlimited") < 6:
            raise RuntimeError("not yet")

    @flow.task(retries=2)
    def hopeless():
        _attempt_number(tmp_path / "hopeless")
        raise RuntimeError("never")

    result = flow.run(executor=executor, clock=FakeClock() if executor == "inline" else None)

    assert result.tasks["flaky"].attempts == 3
    assert result.tasks["flaky"].state is TaskState.SUCCEEDED
    assert result.tasks["unlimited"].attempts == 6
    assert result.tasks["hopeless"].attempts == 3
    assert (tmp_path / "hopeless").read_text() == "3"
    assert result.tasks["hopeless"].state is TaskState.FAILED


def test_reading_a_value_of_a_task_that_is_not_upstream_fails_the_task(executor):
    flow = Flow("values")

    @flow.task
    def left():
        task_values.set("secret", 1)

    @flow.task
    def right():
        task_values.get(task_key="left", key="secret", default=0)

    result = flow.run(executor=executor)

    error = result.tasks["right"].error
    assert result.tasks["right"].state is TaskState.FAILED
    assert error.type_name == TaskValueError.__name__
    assert "'left' is not upstream of 'right'" in error.message


RUN_IFS = [
    "all_success",
    "at_least_one_success",
    "none_failed",
    "all_done",
    "at_least_one_failed",
    "all_failed",
]


@st.composite
def small_flows(draw):
    """A random DAG of up to 7 tasks: (deps, run_if, fails) per task."""
    size = draw(st.integers(min_value=1, max_value=7))
    tasks = []
    for index in range(size):
        deps = draw(st.sets(st.integers(min_value=0, max_value=index - 1))) if index else set()
        tasks.append((sorted(deps), draw(st.sampled_from(RUN_IFS)), draw(st.booleans())))
    return tasks


def _build(tasks) -> Flow:
    flow = Flow("random", max_parallel=3)
    for index, (deps, run_if, fails) in enumerate(tasks):

        def body(fails=fails):
            if fails:
                raise RuntimeError("planned failure")

        flow.task(name=f"t{index}", depends_on=[f"t{dep}" for dep in deps], run_if=run_if)(body)
    return flow


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tasks=small_flows())
def test_inline_and_local_reach_the_same_final_states(tasks):
    inline = _build(tasks).run(executor="inline")
    local = _build(tasks).run(executor="local")

    assert {name: task.state for name, task in local.tasks.items()} == {
        name: task.state for name, task in inline.tasks.items()
    }
    assert local.state is inline.state


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tasks=small_flows())
def test_dask_reaches_the_same_final_states_as_inline(tasks, dask_cluster):
    from flowkit.executors.dask import DaskExecutor

    inline = _build(tasks).run(executor="inline")
    dask = _build(tasks).run(executor=DaskExecutor(address=dask_cluster.address))

    assert {name: task.state for name, task in dask.tasks.items()} == {
        name: task.state for name, task in inline.tasks.items()
    }
    assert dask.state is inline.state
