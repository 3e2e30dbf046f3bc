"""Job settings as a flow: export -> load -> export is stable; what cannot run is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowkit._engine.loader import load_flow
from flowkit._engine.origin import flow_target
from flowkit._errors import DefinitionError
from flowkit._interop.jobs import job_settings
from flowkit._interop.load import flow_from_job

EXPORT = Path(__file__).parents[1] / "flows" / "export"


def test_export_load_export_gives_the_same_settings() -> None:
    flow = load_flow(f"{EXPORT / 'flow.py'}:flow")
    child = load_flow(f"{EXPORT / 'flow.py'}:child")
    target = flow_target(flow.plan())
    first = job_settings(flow.plan(), target=target, root=EXPORT).settings
    loaded = flow_from_job(first, root=EXPORT, jobs={"0": lambda: child})
    assert job_settings(loaded.plan(), target=target, root=EXPORT).settings == first


def test_a_loaded_job_runs_with_flowkits_semantics(tmp_path: Path) -> None:
    settings = {
        "name": "from json",
        "parameters": [{"name": "threshold", "default": "5"}],
        "tasks": [
            {
                "task_key": "gate",
                "condition_task": {
                    "op": "GREATER_THAN",
                    "left": "{{job.parameters.threshold}}",
                    "right": "3",
                },
            },
            {
                "task_key": "query",
                "depends_on": [{"task_key": "gate", "outcome": "true"}],
                "sql_task": {"file": {"path": "metrics.sql"}, "warehouse_id": "x"},
            },
            {
                "task_key": "skipped",
                "depends_on": [{"task_key": "gate", "outcome": "false"}],
                "spark_python_task": {"python_file": "train.py"},
            },
        ],
    }
    flow = flow_from_job(settings, root=EXPORT, where="job.json")
    assert flow.name == "from_json"
    result = flow.run(executor="inline", store=False)
    states = {name: task.state.value for name, task in result.tasks.items()}
    assert states == {"gate": "succeeded", "query": "succeeded", "skipped": "excluded"}


def test_every_unsupported_task_is_named_in_one_error() -> None:
    settings = {
        "name": "mixed",
        "tasks": [
            {"task_key": "ok", "spark_python_task": {"python_file": "train.py"}},
            {"task_key": "dlt", "pipeline_task": {"pipeline_id": "p"}},
            {"task_key": "jar", "spark_jar_task": {"main_class_name": "Main"}},
            {"task_key": "odd"},
        ],
    }
    with pytest.raises(DefinitionError) as caught:
        flow_from_job(settings, root=EXPORT, where="job.json")
    message = str(caught.value)
    assert "'dlt' (pipeline_task)" in message
    assert "'jar' (spark_jar_task)" in message
    assert "'odd' (no task type)" in message
    assert "'ok'" not in message
    assert message.startswith("job.json: job 'mixed'")


def test_a_workspace_path_is_looked_for_in_the_bundle_and_said_when_missing() -> None:
    found = {
        "name": "ws",
        "tasks": [
            {
                "task_key": "t",
                "spark_python_task": {
                    "python_file": "/Workspace/Users/me/.bundle/b/dev/files/train.py"
                },
            }
        ],
    }
    flow = flow_from_job(found, root=EXPORT)
    assert flow.spec().tasks[0].fn.path == str(EXPORT / "train.py")
    missing = json.loads(json.dumps(found).replace("files/train.py", "files/gone.py"))
    with pytest.raises(
        DefinitionError,
        match=r"workspace path .*gone\.py.* does not exist locally \(tried .*gone\.py",
    ):
        flow_from_job(missing, root=EXPORT)
