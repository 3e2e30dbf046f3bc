"""Run-flow tasks: a child run per attempt; its state decides the task's; stored with its parent."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from daskcluster import cluster_pids
from proctools import processes_with, wait_until_gone

from flowkit import DefinitionError, Flow, RunState, TaskState, params, task_values
from flowkit._definition.kinds.run_flow import RunFlow
from flowkit._errors import FlowkitError
from flowkit._store import open_store
from flowkit.cli import main
from flowkit.executors import _processes as procs
from flowkit.testing import task_context


def _child(name: str = "child") -> Flow:
    child = Flow(name, params={"day": "2026-01-01", "fail": "no"})

    @child.task
    def load():
        print(f"loading {params['day']}")
        task_values.set(key="day", value=params["day"])
        if params["fail"] == "yes":
            raise RuntimeError(f"no data for {params['day']}")

    @child.task(depends_on=[load])
    def publish():
        pass

    return child


def _parent(child: Flow, child_executor: str = "local") -> Flow:
    parent = Flow("parent", params={"day": "2026-11-23", "fail": "no"})

    @parent.task
    def prepare():
        task_values.set(key="mode", value="full")

    run_child = parent.run_flow(
        "run_child",
        child,
        params={"day": "{{job.parameters.day}}", "fail": "{{job.parameters.fail}}"},
        depends_on=[prepare],
        executor=child_executor,
    )

    @parent.task(depends_on=[run_child])
    def after(run_child):
        return run_child

    @parent.task(depends_on=[run_child], run_if="all_done")
    def cleanup():
        pass

    return parent


def _children(parent_run_id: str) -> list:
    """The recorded runs whose parent is ``parent_run_id``."""
    with open_store() as store:
        return [run for run in store.list_runs() if run.parent_run_id == parent_run_id]


# -- success and failure ------------------------------------------------------------


@pytest.mark.parametrize("child_executor", ["inline", "local"])
def test_a_child_run_that_succeeds_makes_the_task_succeed(executor, child_executor):
    parent = _parent(_child(), child_executor)

    result = parent.run(executor=executor)

    assert result.state is RunState.SUCCEEDED
    assert {name: task.state for name, task in result.tasks.items()} == {
        "prepare": TaskState.SUCCEEDED,
        "run_child": TaskState.SUCCEEDED,
        "after": TaskState.SUCCEEDED,
        "cleanup": TaskState.SUCCEEDED,
    }
    store = open_store()
    children = [run for run in store.list_runs() if run.parent_run_id == result.run_id]
    assert len(children) == 1
    child_run = children[0]
    assert child_run.flow_name == "child"
    assert child_run.state is RunState.SUCCEEDED
    assert child_run.params["day"] == "2026-11-23"  # the reference was filled in
    assert store.get_values(child_run.run_id)["load"] == {"day": "2026-11-23"}
    assert result.values["run_child"] == {"run_id": child_run.run_id, "state": "succeeded"}
    assert store.get_run(result.run_id).parent_run_id is None


@pytest.mark.parametrize("child_executor", ["inline", "local"])
def test_a_child_run_that_fails_fails_the_task_with_its_run_id(executor, child_executor):
    parent = _parent(_child(), child_executor)

    result = parent.run(executor=executor, params={"fail": "yes"})

    task = result.tasks["run_child"]
    assert task.state is TaskState.FAILED
    assert task.error.type_name == "ChildRunFailed"
    (child_run,) = _children(result.run_id)
    child_run_id = child_run.run_id
    assert f"run {child_run_id}" in task.error.message
    assert "child flow 'child'" in task.error.message
    assert "load (failed: no data for 2026-11-23)" in task.error.message
    assert "publish (upstream_failed)" in task.error.message
    assert result.tasks["after"].state is TaskState.UPSTREAM_FAILED
    assert result.tasks["cleanup"].state is TaskState.SUCCEEDED  # run_if="all_done"
    stored = open_store().get_run(child_run_id)
    assert stored.state is RunState.FAILED
    assert stored.parent_run_id == result.run_id


def test_a_child_run_with_handled_failures_makes_the_task_succeed(executor):
    child = Flow("handled")

    @child.task
    def flaky():
        raise RuntimeError("expected")

    @child.task(depends_on=[flaky], run_if="all_done")
    def handle():
        pass

    parent = Flow("handles")
    parent.run_flow("run_child", child)

    result = parent.run(executor=executor)

    assert result.tasks["run_child"].state is TaskState.SUCCEEDED
    assert result.values["run_child"]["state"] == "succeeded_with_failures"


def test_a_failed_run_flow_task_is_retried_with_a_new_child_run():
    retried = Flow("retried", params={"fail": "yes"})
    retried.run_flow("run_child", _child(), params={"fail": "{{job.parameters.fail}}"}, retries=1)

    result = retried.run(executor="local")

    assert result.tasks["run_child"].state is TaskState.FAILED
    assert result.tasks["run_child"].attempts == 2
    children = _children(result.run_id)
    assert len(children) == 2
    assert {run.state for run in children} == {RunState.FAILED}


def test_the_child_output_lands_in_the_attempt_log():
    result = _parent(_child()).run(executor="local")

    log = Path(result.tasks["run_child"].log_path).read_text()
    assert "[load] loading 2026-11-23" in log


def test_the_child_run_is_listed_by_runs(capsys):
    result = _parent(_child()).run(executor="inline")
    capsys.readouterr()

    assert main(["runs"]) == 0

    listing = capsys.readouterr().out
    assert result.values["run_child"]["run_id"][:8] in listing
    assert "child" in listing


# -- processes ----------------------------------------------------------------------


def _sleeper(marker: str, seconds: int) -> str:
    """A command line that starts a process with ``marker`` in its own command line."""
    return f"{sys.executable} -c 'import time; time.sleep({seconds})' {marker}"


def test_local_in_local_leaves_no_process(executor):
    marker = f"flowkit-subflow-{uuid.uuid4().hex}"
    child = Flow("sleeper")
    # Left running in the background: the child's attempt must not leave it behind.
    child.shell("sleepy", f"{_sleeper(marker, 30)} & echo started")
    parent = Flow("waits")
    parent.run_flow("run_child", child, executor="local")

    result = parent.run(executor=executor)

    assert result.tasks["run_child"].state is TaskState.SUCCEEDED
    assert wait_until_gone(marker) == []
    assert set(procs.children(os.getpid())) - cluster_pids() == set()


def test_a_timed_out_run_flow_task_kills_the_child_run_and_its_tasks():
    marker = f"flowkit-subflow-{uuid.uuid4().hex}"
    child = Flow("hangs")
    child.shell("hang", _sleeper(marker, 60))
    parent = Flow("times_out")
    parent.run_flow("run_child", child, executor="local", timeout=2)

    result = parent.run(executor="local")

    assert result.tasks["run_child"].state is TaskState.TIMED_OUT
    assert wait_until_gone(marker) == []
    assert processes_with(marker) == []
    assert set(procs.children(os.getpid())) - cluster_pids() == set()


# -- references and plan-time checks ------------------------------------------------


def test_param_references_may_read_upstream_task_values(executor):
    parent = Flow("values")

    @parent.task
    def pick_day():
        task_values.set(key="day", value="2027-01-02")

    parent.run_flow(
        "run_child",
        _child(),
        params={"day": "{{tasks.pick_day.values.day}}"},
        depends_on=[pick_day],
    )

    result = parent.run(executor=executor)

    child_run = open_store().get_run(result.values["run_child"]["run_id"])
    assert child_run.params["day"] == "2027-01-02"


def test_param_references_are_checked_at_plan_time():
    parent = Flow("checked")
    parent.run_flow(
        "run_child",
        _child(),
        params={"day": "{{job.parameters.nope}}", "fail": "{{tasks.ghost.values.x}}"},
    )

    with pytest.raises(DefinitionError) as raised:
        parent.plan()

    message = str(raised.value)
    assert "task 'run_child'" in message
    assert "undeclared parameter 'nope'" in message
    assert "task 'ghost', which is not upstream" in message


def test_non_string_params_pass_as_they_are():
    child = Flow("typed", params={"count": 1})
    seen = []

    @child.task
    def read():
        seen.append(params["count"])

    parent = Flow("typed_parent")
    parent.run_flow("run_child", child, params={"count": 7}, executor="inline")

    parent.run(executor="inline")

    assert seen == [7]


def test_text_params_convert_to_the_type_of_the_childs_default():
    child = Flow("converted", params={"count": 1, "ratio": 0.5, "dry_run": False})
    seen = []

    @child.task
    def read():
        seen.append((params["count"], params["ratio"], params["dry_run"]))

    parent = Flow("converts", params={"n": "7"})
    parent.run_flow(
        "run_child",
        child,
        params={"count": "{{job.parameters.n}}", "ratio": "0.25", "dry_run": "true"},
        executor="inline",
    )

    parent.run(executor="inline")

    assert seen == [(7, 0.25, True)]


def test_called_in_a_task_context_it_runs_the_child():
    parent = Flow("unit", params={"day": "x"})
    run_child = parent.run_flow(
        "run_child", _child(), params={"day": "{{job.parameters.day}}"}, executor="inline"
    )

    with task_context(params={"day": "2030-05-05"}, run_id="outer") as context:
        summary = run_child()

    assert summary["state"] == "succeeded"
    stored = open_store().get_run(summary["run_id"])
    assert stored.parent_run_id == "outer"
    assert stored.params["day"] == "2030-05-05"
    assert context.values_set == {"run_id": summary["run_id"], "state": "succeeded"}


def test_called_outside_a_run_with_references_it_says_how_to_test_it():
    function = RunFlow(
        flow_name="f", task_key="run_child", child=_child(), params={"day": "{{job.run_id}}"}
    )

    with pytest.raises(FlowkitError, match=r"outside a run.*task_context"):
        function()


# -- bad input ----------------------------------------------------------------------


def test_a_flow_cannot_run_itself():
    flow = Flow("selfish")

    with pytest.raises(DefinitionError) as raised:
        flow.run_flow("again", flow)

    message = str(raised.value)
    assert "flow 'selfish', task 'again'" in message
    assert "is the flow itself" in message
    assert flow.tasks == {}


def test_a_flow_cannot_run_a_flow_that_runs_it():
    outer = Flow("outer")
    middle = Flow("middle")
    inner = Flow("inner")
    middle.run_flow("run_inner", inner)
    inner.run_flow("run_outer", outer)

    with pytest.raises(DefinitionError, match=r"outer -> middle -> inner -> outer"):
        outer.run_flow("run_middle", middle)


def test_every_problem_is_reported_at_once():
    flow = Flow("bad")

    with pytest.raises(DefinitionError) as raised:
        flow.run_flow("run_child", _child(), params={"day": "x", "nope": 1}, executor="dask")

    problems = raised.value.problems
    assert len(problems) == 2
    assert "parameter(s) 'nope'" in problems[0]
    assert "allowed: day, fail" in problems[0]
    assert "executor='dask'" in problems[1]
    assert "allowed: 'inline', 'local'" in problems[1]


@pytest.mark.parametrize("child", ["child", None, _child])
def test_the_child_must_be_a_flow(child):
    with pytest.raises(DefinitionError, match=r"option child=.*allowed: a Flow"):
        Flow("bad_child").run_flow("run_child", child)


@pytest.mark.parametrize("given", [["day"], "day=1", {1: "x"}])
def test_params_must_be_a_mapping_of_names(given):
    with pytest.raises(DefinitionError, match=r"option params=.*allowed: a mapping"):
        Flow("bad_params").run_flow("run_child", _child(), params=given)


def test_task_options_pass_through():
    flow = Flow("options")

    task = flow.run_flow("run_child", _child(), retries=2, timeout=60)

    assert task.spec.retries == 2
    assert task.spec.timeout == 60
    assert isinstance(task.fn, RunFlow)
