"""Task values, params and secrets from any process an attempt starts (DESIGN.md §7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from flowkit import Flow, RunState, TaskState, task_values
from flowkit._store import open_store
from flowkit.cli import main

FLOWS = Path(__file__).parent.parent / "flows"
PYTHON = sys.executable


def _shell_flow(command: str, name: str = "channel") -> Flow:
    flow = Flow(name, params={"day": "monday"})

    @flow.task
    def first():
        task_values.set("n", 41)

    flow.shell("step", command, depends_on=[first])

    @flow.task(depends_on=["step"])
    def last():
        return {key: task_values.get("step", key, default=None) for key in ("a", "b", "grand")}

    return flow


@pytest.fixture(autouse=True)
def _flowkit_on_path(monkeypatch):
    """Shell steps find this environment's flowkit and python."""
    monkeypatch.setenv("PATH", f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}")


def test_a_shell_step_gets_and_sets_values_and_a_grandchild_python_process_too(executor):
    command = (
        'n=$(flowkit values get first n) && flowkit values set a "$((n + 1))" && '
        "flowkit values set b '{\"ok\": [1, 2]}' && "
        "sh -c \"python -c 'from flowkit import task_values, params; "
        'task_values.set(\\"grand\\", '
        'params[\\"day\\"] + str(task_values.get(\\"first\\", \\"n\\")))\'"'
    )
    result = _shell_flow(command).run(executor=executor)

    assert result.state is RunState.SUCCEEDED, result.tasks["step"].error
    assert result.values["step"] == {"a": 42, "b": {"ok": [1, 2]}, "grand": "monday41"}
    assert result.results["last"] == {"a": 42, "b": {"ok": [1, 2]}, "grand": "monday41"}


def test_the_rules_hold_in_other_processes_too():
    too_big = "x" * (49 * 1024)
    flow = _shell_flow(f"flowkit values set a '\"{too_big}\"'", name="big")
    result = flow.run(executor="local")
    assert result.tasks["step"].state is TaskState.FAILED
    assert "49,152-byte limit" in Path(result.tasks["step"].log_path).read_text()

    not_upstream = _shell_flow("flowkit values get last a", name="sideways").run(executor="local")
    assert not_upstream.tasks["step"].state is TaskState.FAILED
    assert "not upstream" in Path(not_upstream.tasks["step"].log_path).read_text()


def test_values_set_in_a_child_of_a_failed_attempt_are_not_kept():
    flow = Flow("dropped")
    flow.shell("step", "flowkit values set a 1 && exit 3")
    result = flow.run(executor="local")
    assert result.tasks["step"].state is TaskState.FAILED
    assert result.values.get("step", {}) == {}


def test_flowkit_values_outside_a_task_says_where_it_works(capsys, monkeypatch):
    monkeypatch.delenv("FLOWKIT_ATTEMPT", raising=False)
    assert main(["values", "set", "a", "1"]) == 1
    assert "inside a running task" in capsys.readouterr().err
    assert main(["values", "get", "first", "n"]) == 1


def test_a_value_that_is_not_json_is_a_usage_error(capsys, monkeypatch, tmp_path):
    flow = Flow("notjson")
    flow.shell("step", "flowkit values set a not-json")
    result = flow.run(executor="local")
    assert result.tasks["step"].state is TaskState.FAILED
    assert "is not JSON" in Path(result.tasks["step"].log_path).read_text()


def test_a_killed_attempt_leaves_no_channel_folder_behind():
    flow = Flow("stopped")
    flow.shell("step", "sleep 30", timeout=0.5)
    result = flow.run(executor="local")
    assert result.tasks["step"].state is TaskState.TIMED_OUT
    leftovers = [
        p for p in Path(tempfile.gettempdir()).glob("flowkit-*-run-*") if result.run_id in p.name
    ]
    assert leftovers == []


def test_values_from_a_child_survive_a_killed_orchestrator_and_repair_keeps_them(tmp_path):
    home = tmp_path / "home"
    env = {
        **os.environ,
        "FLOWKIT_HOME": str(home),
        "FLOWKIT_TEST_DIR": str(tmp_path),
        "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}",
    }
    target = str(FLOWS / "channel_killable.py")
    orchestrator = subprocess.Popen(
        [PYTHON, "-m", "flowkit", "run", target],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "waiting").exists():
        assert time.monotonic() < deadline
        assert orchestrator.poll() is None
        time.sleep(0.05)
    os.killpg(orchestrator.pid, signal.SIGKILL)
    orchestrator.wait()

    with open_store(home) as store:
        (run,) = store.list_runs()
        tasks = store.get_tasks(run.run_id)
    assert run.state is RunState.INTERRUPTED
    assert tasks["child"].state is TaskState.SUCCEEDED
    assert dict(tasks["child"].values) == {"rows": 14520, "source": "shell"}

    repaired = subprocess.run(
        [PYTHON, "-m", "flowkit", "repair", run.run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert (tmp_path / "child.count").read_text().count("run") == 1  # not run again
    with open_store(home) as store:
        assert dict(store.get_tasks(run.run_id)["waits"].values) == {"seen": [14520, "shell"]}
