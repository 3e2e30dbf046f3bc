"""Python script tasks: the script in the attempt, its values and params, its exit code."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from proctools import processes_with, wait_until_gone

from flowkit import DefinitionError, Flow, RunState, TaskState, task_values

TRAIN = """
import sys
from flowkit import params, task_values
rows = task_values.get("ingest", "rows")
task_values.set("model", {"rows": rows, "args": sys.argv[1:], "date": params["date"]})
print("trained on", rows, "rows")
"""


def _flow(tmp_path: Path, script: str, **options) -> Flow:
    (tmp_path / "train.py").write_text(script)
    flow = Flow("scripted", params={"date": "2026-11-23"})
    flow.source_folder = tmp_path  # as if the flow file lived beside the script

    @flow.task
    def ingest():
        task_values.set("rows", 14520)

    flow.python_script(
        "train.py", args=["--date", "{{job.parameters.date}}"], depends_on=[ingest], **options
    )
    return flow


def test_a_script_reads_params_and_values_and_sets_values_read_downstream(tmp_path, executor):
    flow = _flow(tmp_path, TRAIN)

    @flow.task(depends_on=["train"])
    def report():
        return task_values.get("train", "model")

    result = flow.run(executor=executor)

    assert result.state is RunState.SUCCEEDED, result.tasks["train"].error
    expected = {"rows": 14520, "args": ["--date", "2026-11-23"], "date": "2026-11-23"}
    assert result.results["report"] == expected
    if executor != "inline":
        assert "trained on 14520 rows" in Path(result.tasks["train"].log_path).read_text()


def test_a_failing_script_names_itself_and_its_exit_code(tmp_path):
    result = _flow(tmp_path, "raise SystemExit(3)").run(executor="local")
    error = result.tasks["train"].error
    assert result.tasks["train"].state is TaskState.FAILED
    assert error.type_name == "ScriptFailed"
    assert "train.py exited with code 3" in error.message


def test_a_failing_script_is_retried(tmp_path):
    script = (
        "from pathlib import Path\n"
        "tries = Path(__file__).with_name('tries')\n"
        "tries.write_text(tries.read_text() + 'x' if tries.exists() else 'x')\n"
        "raise SystemExit(0 if len(tries.read_text()) == 2 else 1)\n"
    )
    result = _flow(tmp_path, script, retries=2).run(executor="local")
    assert result.tasks["train"].state is TaskState.SUCCEEDED
    assert result.tasks["train"].attempts == 2


def test_a_timed_out_script_leaves_no_process(tmp_path):
    marker = f"script-timeout-{os.getpid()}-{time.monotonic_ns()}"
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{marker}'])\n"
        "print('started a child', flush=True)\n"
        "time.sleep(60)\n"
    )
    result = _flow(tmp_path, script, timeout=1).run(executor="local")
    assert result.tasks["train"].state is TaskState.TIMED_OUT
    assert wait_until_gone(marker) == []
    assert processes_with(marker) == []


def test_a_missing_script_is_a_definition_error_naming_where_it_looked(tmp_path):
    flow = Flow("missing")
    with pytest.raises(DefinitionError, match="does not exist"):
        flow.python_script("no_such_script.py")
    (tmp_path / "s.py").write_text("")
    flow.source_folder = tmp_path
    with pytest.raises(DefinitionError, match="list of strings"):
        flow.python_script("s.py", args="--date 1")
