"""``flowkit-task``: one task of a flow run as a Databricks wheel task, values in dbutils."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowkit._engine.loader import load_flow
from flowkit._errors import FlowkitError, TaskValueError
from flowkit._interop.jobs import job_settings
from flowkit._interop.wheel import run_task

FLOW = Path(__file__).parents[1] / "flows" / "wheel_tasks.py"


class FakeTaskValues:
    """``dbutils.jobs.taskValues`` as Databricks keeps them: per task, per key, JSON."""

    def __init__(self) -> None:
        self.current_task = ""
        self.kept: dict[tuple[str, str], Any] = {}

    def set(self, key: str, value: Any) -> None:
        self.kept[(self.current_task, key)] = value

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:
        return self.kept.get((taskKey, key), default)


class FakeDbutils:
    def __init__(self) -> None:
        self.jobs = type("Jobs", (), {})()
        self.jobs.taskValues = FakeTaskValues()

    def run(self, task: str, *arguments: str) -> int:
        self.jobs.taskValues.current_task = task
        return run_task([f"--target={FLOW}:flow", f"--task={task}", *arguments], dbutils=self)


def test_tasks_pass_return_values_and_task_values_through_dbutils() -> None:
    dbutils = FakeDbutils()
    assert dbutils.run("extract") == 0
    assert dbutils.jobs.taskValues.kept == {
        ("extract", "rows"): 3,
        ("extract", "return_value"): [1, 2, 3],
    }
    assert dbutils.run("double", "--factor=3") == 0  # a job parameter, pushed down
    assert dbutils.jobs.taskValues.kept[("double", "return_value")] == [3, 6, 9]


def test_the_flows_default_parameters_apply_and_space_separated_values_work() -> None:
    dbutils = FakeDbutils()
    dbutils.run("extract")
    dbutils.jobs.taskValues.current_task = "double"
    assert run_task(["--target", f"{FLOW}:flow", "--task", "double"], dbutils=dbutils) == 0
    assert dbutils.jobs.taskValues.kept[("double", "return_value")] == [2, 4, 6]


def test_reading_a_task_that_is_not_upstream_fails_as_in_a_run() -> None:
    with pytest.raises(TaskValueError, match="'double' is not upstream of 'unrelated'"):
        FakeDbutils().run("unrelated")


def test_an_unknown_task_or_missing_names_is_a_clear_error() -> None:
    with pytest.raises(FlowkitError, match="has no task 'nope'"):
        FakeDbutils().run("nope")
    with pytest.raises(FlowkitError, match=r"needs --target=PATH\.py:FLOW"):
        run_task(["--task=extract"], dbutils=FakeDbutils())


def test_the_export_names_exactly_what_the_entry_point_takes() -> None:
    flow = load_flow(f"{FLOW}:flow")
    settings = job_settings(flow.plan(), target=f"{FLOW}:flow").settings
    wheel = next(t for t in settings["tasks"] if t["task_key"] == "extract")["python_wheel_task"]
    assert wheel["entry_point"] == "flowkit-task"
    dbutils = FakeDbutils()
    dbutils.jobs.taskValues.current_task = "extract"
    argv = [f"--{key}={value}" for key, value in wheel["named_parameters"].items()]
    assert run_task(argv, dbutils=dbutils) == 0
    assert dbutils.jobs.taskValues.kept[("extract", "return_value")] == [1, 2, 3]


def test_the_console_script_uses_the_clusters_dbutils_and_exits_with_the_outcome(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys
    import types

    from flowkit._interop.wheel import entry_point

    dbutils = FakeDbutils()
    dbutils.jobs.taskValues.current_task = "extract"
    runtime = types.ModuleType("databricks.sdk.runtime")
    runtime.dbutils = dbutils  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "databricks.sdk.runtime", runtime)
    monkeypatch.setattr(sys, "argv", ["flowkit-task", f"--target={FLOW}:flow", "--task=extract"])
    with pytest.raises(SystemExit) as exited:
        entry_point()
    assert exited.value.code == 0
    assert dbutils.jobs.taskValues.kept[("extract", "rows")] == 3
    monkeypatch.setattr(sys, "argv", ["flowkit-task", "--task=extract"])
    with pytest.raises(SystemExit) as exited:
        entry_point()
    assert exited.value.code == 2
    assert "flowkit-task: flowkit-task needs --target" in capsys.readouterr().err
