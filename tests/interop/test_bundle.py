"""Bundles and Jobs JSON run locally: variables and targets, includes, each task type, errors."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from flowkit._errors import DefinitionError
from flowkit._interop.targets import load_target
from flowkit.cli import main

pytest.importorskip("yaml", reason="the databricks extra")
EXAMPLE = Path(__file__).parents[2] / "examples" / "bundle" / "databricks.yml"
EXPORT = Path(__file__).parents[1] / "flows" / "export"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_variables_come_from_defaults_then_the_target(tmp_path: Path) -> None:
    write(tmp_path, "step.py", "print('step')\n")
    bundle = write(
        tmp_path,
        "databricks.yml",
        """\
        bundle: {name: vars}
        variables:
          day: {default: monday}
          retries: {default: 1}
        targets:
          dev: {default: true}
          prod:
            variables: {day: friday, retries: 3}
            resources:
              jobs:
                job:
                  tasks:
                    - task_key: step
                      timeout_seconds: 60
        resources:
          jobs:
            job:
              name: "${bundle.name} on ${bundle.target}"
              parameters: [{name: day, default: "${var.day}"}]
              tasks:
                - task_key: step
                  max_retries: ${var.retries}
                  spark_python_task: {python_file: ./step.py}
        """,
    )
    dev = load_target(str(bundle))
    prod = load_target(str(bundle), bundle_target="prod")
    assert (dev.name, prod.name) == ("job", "job")
    assert (dev.params, prod.params) == ({"day": "monday"}, {"day": "friday"})
    dev_step, prod_step = dev.spec().tasks[0], prod.spec().tasks[0]
    assert (dev_step.retries, prod_step.retries) == (1, 3)
    assert (dev_step.timeout, prod_step.timeout) == (None, 60)  # prod's override, merged by key
    with pytest.raises(DefinitionError, match=r"has no target 'staging'; its targets: dev, prod"):
        load_target(str(bundle), bundle_target="staging")


def test_a_variable_without_a_value_is_named(tmp_path: Path) -> None:
    bundle = write(
        tmp_path,
        "databricks.yml",
        """\
        resources:
          jobs:
            job:
              tasks:
                - task_key: step
                  spark_python_task: {python_file: "${var.missing}"}
        """,
    )
    with pytest.raises(DefinitionError, match=r"variable 'missing' has no value"):
        load_target(str(bundle))


def test_several_jobs_need_job_and_run_job_names_a_sibling(tmp_path: Path) -> None:
    write(tmp_path, "child.py", "print('child ran')\n")
    bundle = write(
        tmp_path,
        "databricks.yml",
        """\
        resources:
          jobs:
            child:
              tasks: [{task_key: work, spark_python_task: {python_file: ./child.py}}]
            parent:
              tasks:
                - task_key: call
                  run_job_task: {job_id: "${resources.jobs.child.id}"}
        """,
    )
    with pytest.raises(DefinitionError, match=r"has 2 jobs \(child, parent\); pick one with --job"):
        load_target(str(bundle))
    result = load_target(str(bundle), job="parent").run(executor="inline", store=False)
    assert result.tasks["call"].state.value == "succeeded"


def test_the_example_bundle_runs_green_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("nbclient", reason="the notebook extra")
    pytest.importorskip("duckdb", reason="the sql extra")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(EXAMPLE), "--job", "lakehouse"]) == 0
    out = capsys.readouterr().out
    for task in ("ingest", "clean", "metrics", "train"):
        assert any(line.split()[:2] == [task, "succeeded"] for line in out.splitlines()), task
    assert any(line.split()[:2] == ["alert", "excluded"] for line in out.splitlines())
    assert (tmp_path / "warehouse.duckdb").exists()  # the warehouse variable's default


def test_the_condition_and_for_each_types_run_from_a_bundle(tmp_path: Path) -> None:
    text = f"""\
    resources:
      jobs:
        kinds:
          parameters: [{{name: n, default: "5"}}]
          tasks:
            - task_key: gate
              condition_task: {{op: GREATER_THAN, left: "{{{{job.parameters.n}}}}", right: "3"}}
            - task_key: items
              depends_on: [{{task_key: gate, outcome: "true"}}]
              for_each_task:
                inputs: "[1, 2, 3]"
                concurrency: 2
                task:
                  task_key: items_iteration
                  python_wheel_task:
                    package_name: flowkit_workflows
                    entry_point: flowkit-task
                    named_parameters: {{target: "{EXPORT / "flow.py"}:flow", task: per_item}}
    """
    bundle_path = write(tmp_path, "databricks.yml", text)
    result = load_target(str(bundle_path)).run(executor="inline", store=False)
    assert result.tasks["gate"].state.value == "succeeded"
    assert result.tasks["items"].state.value == "succeeded"
    assert result.results["items"] == [1, 2, 3]  # the flow's per_item body, per input


def test_an_unsupported_type_from_the_command_line_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {
                "name": "pipelines",
                "tasks": [
                    {"task_key": "dlt", "pipeline_task": {"pipeline_id": "abc"}},
                    {"task_key": "jar", "spark_jar_task": {"main_class_name": "Main"}},
                ],
            }
        )
    )
    assert main(["run", str(job)]) == 2
    err = capsys.readouterr().err
    assert "'dlt' (pipeline_task), 'jar' (spark_jar_task)" in err
    assert "Traceback" not in err


def test_job_and_target_options_are_for_job_files_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXPORT / "flow.py") + ":flow", "--job", "x"]) == 2
    assert "--job and --target pick a job of a bundle or JSON file" in capsys.readouterr().err


def test_a_dbt_task_runs_from_a_bundle(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="the sql extra")
    pytest.importorskip("dbt", reason="the dbt extra")
    write(tmp_path, "dbt/dbt_project.yml", 'name: tiny\nversion: "1.0"\nprofile: tiny\n')
    write(
        tmp_path,
        "dbt/profiles.yml",
        "tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {tmp_path / 'warehouse.duckdb'}\n      threads: 1\n",
    )
    write(tmp_path, "dbt/models/orders.sql", "{{ config(materialized='table') }}\nselect 7 as id")
    bundle = write(
        tmp_path,
        "databricks.yml",
        """\
        resources:
          jobs:
            transform:
              tasks:
                - task_key: models
                  dbt_task:
                    commands: ["dbt run"]
                    project_directory: ./dbt
                    profiles_directory: ./dbt
        """,
    )
    result = load_target(str(bundle)).run(executor="local", store=False)
    assert result.tasks["models"].state.value == "succeeded", result.tasks["models"].error
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        assert connection.execute("select id from orders").fetchall() == [(7,)]


DOCS_EXAMPLE = Path(__file__).parent / "data" / "jobs_api_create_example.json"


def test_the_documentations_job_is_read_and_its_jar_tasks_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = pytest.importorskip("databricks.sdk.service.jobs", reason="the databricks extra")
    settings = json.loads(DOCS_EXAMPLE.read_text())
    assert jobs.JobSettings.from_dict(settings).as_dict()["tasks"][2]["task_key"] == "Match"
    assert main(["run", str(DOCS_EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert "job 'A_multitask_job' has tasks flowkit cannot run locally" in err
    assert "'Sessionize' (spark_jar_task), 'Orders_Ingest' (spark_jar_task)" in err
    assert "'Match'" not in err


def test_the_documentations_notebook_task_runs_with_its_options_once_its_notebook_is_here(
    tmp_path: Path,
) -> None:
    pytest.importorskip("nbclient", reason="the notebook extra")
    settings = json.loads(DOCS_EXAMPLE.read_text())
    match = next(task for task in settings["tasks"] if task["task_key"] == "Match")
    match.pop("depends_on")
    notebook = tmp_path / "Users" / "user.name@databricks.com" / "Match.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "metadata": {"tags": ["parameters"]},
                        "source": "name = ''\nage = ''",
                        "outputs": [],
                        "execution_count": None,
                    },
                    {
                        "cell_type": "code",
                        "metadata": {},
                        "source": "print(f'matched {name}, {age}')",
                        "outputs": [],
                        "execution_count": None,
                    },
                ],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    only_match = {**settings, "tasks": [match]}
    job = tmp_path / "job.json"
    job.write_text(json.dumps(only_match))
    flow = load_target(str(job))
    spec = flow.spec().tasks[0]
    assert (spec.retries, spec.retry_delay, spec.timeout) == (3, 2.0, 86400)
    assert flow.spec().schedule.paused
    result = flow.run(executor="local", store=False)
    assert result.tasks["Match"].state.value == "succeeded", result.tasks["Match"].error


def scheduled_bundle(folder: Path) -> Path:
    write(folder, "step.py", "import os, sys\nsys.exit(1 if os.path.exists('broken') else 0)\n")
    return write(
        folder,
        "databricks.yml",
        """\
        bundle: {name: ops}
        targets:
          dev: {default: true}
        resources:
          jobs:
            nightly:
              schedule: {quartz_cron_expression: "0 0 3 * * ?", timezone_id: UTC}
              tasks: [{task_key: step, spark_python_task: {python_file: ./step.py}}]
            adhoc:
              tasks: [{task_key: step, spark_python_task: {python_file: ./step.py}}]
        """,
    )


def test_serve_takes_a_bundle_and_launches_its_scheduled_jobs_by_key(tmp_path: Path) -> None:
    from flowkit._operations.targets import Sources

    bundle = scheduled_bundle(tmp_path)
    found = Sources([str(bundle)]).load()
    assert found.problems == ()
    assert [(item.flow.name, item.target) for item in found.served] == [
        ("nightly", f"{bundle}:nightly@dev")
    ]
    # What serve launches is what `flowkit run` loads again.
    assert load_target(found.served[0].target).name == "nightly"


def test_a_failed_bundle_run_is_repaired_from_the_target_it_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowkit._store import open_store

    bundle = scheduled_bundle(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken").write_text("")
    assert main(["run", str(bundle), "--job", "adhoc"]) == 1
    with open_store() as store:
        (run,) = store.list_runs()
    assert run.target == f"{bundle}:adhoc@dev"
    (tmp_path / "broken").unlink()
    assert main(["repair", run.run_id]) == 0
    capsys.readouterr()


def test_graph_and_export_take_a_bundles_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(EXAMPLE), "--job", "lakehouse", "--format", "dot"]) == 0
    drawn = capsys.readouterr().out
    edges = set(re.findall(r'"(\w+)" -> "(\w+)"', drawn))
    assert edges == {
        ("ingest", "clean"),
        ("clean", "metrics"),
        ("clean", "train"),
        ("metrics", "alert"),
        ("train", "alert"),
    }
    assert main(["export", str(EXAMPLE), "--job", "lakehouse"]) == 0
    settings = json.loads(capsys.readouterr().out)
    assert [task["task_key"] for task in settings["tasks"]] == [
        "ingest",
        "clean",
        "metrics",
        "train",
        "alert",
    ]
    assert settings["tasks"][2]["sql_task"]["warehouse_id"] == "{{job.parameters.warehouse}}"


def test_jobs_that_run_each_other_in_a_cycle_are_refused_with_the_cycle(tmp_path: Path) -> None:
    bundle = write(
        tmp_path,
        "databricks.yml",
        """\
        resources:
          jobs:
            a:
              tasks: [{task_key: call_b, run_job_task: {job_id: "${resources.jobs.b.id}"}}]
            b:
              tasks: [{task_key: call_a, run_job_task: {job_id: "${resources.jobs.a.id}"}}]
        """,
    )
    with pytest.raises(DefinitionError, match=r"in a cycle through run_job_task: a -> b -> a"):
        load_target(str(bundle), job="a")
