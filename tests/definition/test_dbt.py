"""dbt tasks: dbt-core's dbtRunner on a tiny dbt-duckdb project, a success and a failing model."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from proctools import processes_with_environment as _processes_of

from flowkit import DefinitionError, Flow, RunState, TaskState, task_values


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "dbt"
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text('name: tiny\nversion: "1.0"\nprofile: tiny\n')
    (folder / "profiles.yml").write_text(
        "tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {tmp_path / 'warehouse.duckdb'}\n      threads: 1\n"
    )
    (folder / "models" / "daily_orders.sql").write_text(
        "{{ config(materialized='table') }}\nselect 1 as id, '{{ var(\"day\") }}' as day"
    )
    (folder / "models" / "broken.sql").write_text("select * from no_such_table")
    return folder


def _flow(project: Path, commands: list[str], **options) -> Flow:
    flow = Flow("transform", params={"day": "2026-11-23"})
    flow.source_folder = project.parent
    flow.dbt(commands, project_dir="dbt", profiles_dir="dbt", **options)

    @flow.task(depends_on=["dbt"], run_if="all_done")
    def report():
        return task_values.get("dbt", "dbt", default=None)

    return flow


def test_a_dbt_run_counts_its_nodes_and_builds_the_model(project, executor):
    command = 'dbt run --select daily_orders --vars \'{"day": "{{job.parameters.day}}"}\''
    result = _flow(project, [command]).run(executor=executor)

    assert result.state is RunState.SUCCEEDED, result.tasks["dbt"].error
    assert result.results["report"] == {"success": 1, "error": 0, "skipped": 0, "warn": 0}
    with duckdb.connect(str(project.parent / "warehouse.duckdb")) as connection:
        assert connection.execute("select id, day from daily_orders").fetchall() == [
            (1, "2026-11-23")
        ]
    if executor != "inline":
        kept = Path(result.tasks["dbt"].log_path).with_suffix(".dbt") / "run_results.json"
        assert json.loads(kept.read_text())["results"][0]["status"] == "success"


def test_a_failing_model_fails_the_task_naming_it_and_dbts_message(project):
    result = _flow(project, ['dbt run --vars \'{"day": "x"}\'']).run(executor="local")

    task = result.tasks["dbt"]
    assert task.state is TaskState.FAILED
    assert task.error.type_name == "DbtFailed"
    assert "broken:" in task.error.message
    assert "no_such_table" in task.error.message
    assert "report" not in result.results  # a failed task's values are not kept


def test_a_missing_project_or_commands_are_definition_errors(tmp_path):
    flow = Flow("nodbt")
    flow.source_folder = tmp_path
    with pytest.raises(DefinitionError, match=r"no dbt_project\.yml"):
        flow.dbt(["dbt run"], project_dir="missing")
    with pytest.raises(DefinitionError, match="a list of dbt commands"):
        flow.dbt("dbt run", project_dir="missing")


def test_a_dbt_run_past_its_timeout_leaves_no_process(project):
    (project / "models" / "slow.sql").write_text(
        "{{ config(materialized='table') }}\nselect count(*) as n from range(100000000000)"
    )
    result = _flow(project, ["dbt run --select slow"], timeout=6).run(executor="local")
    assert result.tasks["dbt"].state is TaskState.TIMED_OUT
    assert _processes_of(result.run_id) == []
