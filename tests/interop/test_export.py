"""``flowkit export``: every kind and option as Jobs API 2.2 fields, checked field by field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flowkit import Cron, FileArrival, Flow, Periodic
from flowkit._errors import DefinitionError
from flowkit._interop.jobs import job_settings, quartz
from flowkit.cli import main

FLOWS = Path(__file__).parents[1] / "flows"
EVERY_KIND = FLOWS / "export" / "flow.py"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def exported(capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    assert main(["export", f"{EVERY_KIND}:flow"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_the_job_options_map_onto_their_fields(exported: tuple[dict, str]) -> None:
    settings, _ = exported
    job = {key: value for key, value in settings.items() if key != "tasks"}
    assert job == {
        "name": "every_kind",
        "parameters": [
            {"name": "day", "default": "2026-11-28"},
            {"name": "limit", "default": "10"},
        ],
        "max_concurrent_runs": 2,
        "queue": {"enabled": False},
        "timeout_seconds": 3600,
        "schedule": {
            "quartz_cron_expression": "0 30 2 ? * 2-6",
            "timezone_id": "Europe/Amsterdam",
            "pause_status": "UNPAUSED",
        },
        "health": {
            "rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1800}]
        },
        "email_notifications": {
            "on_failure": ["oncall@example.com"],
            "on_duration_warning_threshold_exceeded": ["lead@example.org"],
        },
    }


def test_every_kind_becomes_its_task_type(exported: tuple[dict, str]) -> None:
    settings, _ = exported
    tasks = {task["task_key"]: task for task in settings["tasks"]}
    wheel = {
        "package_name": "flowkit_workflows",
        "entry_point": "flowkit-task",
        "named_parameters": {"target": "./flow.py:flow", "task": "ingest"},
    }
    assert tasks["ingest"] == {
        "task_key": "ingest",
        "run_if": "ALL_SUCCESS",
        "max_retries": 3,
        "min_retry_interval_millis": 30000,
        "retry_on_timeout": True,
        "timeout_seconds": 600,
        "python_wheel_task": wheel,
        "libraries": [{"pypi": {"package": "flowkit-workflows"}}],
    }
    assert tasks["check"]["condition_task"] == {
        "op": "GREATER_THAN",
        "left": "{{tasks.ingest.values.rows}}",
        "right": "0",
    }
    assert tasks["clean"]["depends_on"] == [{"task_key": "check", "outcome": "true"}]
    assert tasks["clean"]["notebook_task"] == {
        "notebook_path": "./clean.ipynb",
        "base_parameters": {"day": "{{job.parameters.day}}"},
    }
    assert tasks["dbt"]["depends_on"] == [{"task_key": "check", "outcome": "false"}]
    assert tasks["dbt"]["dbt_task"] == {
        "commands": ["dbt run"],
        "project_directory": "./dbt_project",
    }
    assert tasks["train"]["spark_python_task"] == {
        "python_file": "./train.py",
        "parameters": ["--day", "{{job.parameters.day}}"],
    }
    assert tasks["metrics"]["run_if"] == "ALL_DONE"
    assert tasks["metrics"]["sql_task"] == {
        "file": {"path": "./metrics.sql"},
        "warehouse_id": "WAREHOUSE_ID",
    }
    assert tasks["nested"]["run_job_task"] == {
        "job_id": 0,
        "job_parameters": {"day": "{{job.parameters.day}}"},
    }
    for_each = tasks["per_item"]["for_each_task"]
    assert (for_each["inputs"], for_each["concurrency"]) == ("[1, 2, 3]", 2)
    assert for_each["task"]["task_key"] == "per_item_iteration"
    assert for_each["task"]["python_wheel_task"]["named_parameters"]["task"] == "per_item"
    assert "python_wheel_task" in tasks["announce"]


def test_what_has_no_field_is_a_warning_naming_the_task(exported: tuple[dict, str]) -> None:
    _, err = exported
    warnings = [line for line in err.splitlines() if line.startswith("flowkit: warning:")]
    assert any("task 'ingest': retry_backoff=2 has no Databricks field" in w for w in warnings)
    assert any("task 'metrics': SQL written for DuckDB" in w for w in warnings)
    assert any("task 'nested': run_job_task needs the child job's id" in w for w in warnings)
    assert any("task 'announce': Databricks has no shell task" in w for w in warnings)
    assert any("on_failure destination is not an email: TODO" in w for w in warnings)
    assert "hooks.example.com" not in err  # a destination may hold a credential


def test_the_settings_round_trip_through_the_databricks_sdk(exported: tuple[dict, str]) -> None:
    jobs = pytest.importorskip("databricks.sdk.service.jobs", reason="the databricks extra")
    settings, _ = exported
    assert jobs.JobSettings.from_dict(settings).as_dict() == settings


def example_targets() -> list[str]:
    """Every example flow: a file's one flow, or each of a file's flows by name."""
    targets = []
    for path in [*sorted(EXAMPLES.glob("*.py")), EXAMPLES / "seed_lakehouse" / "flow.py"]:
        names = re.findall(r"^(\w+) = Flow\(", path.read_text(), flags=re.MULTILINE)
        targets += [f"{path}:{name}" for name in names] if len(names) > 1 else [str(path)]
    return targets


@pytest.mark.parametrize("example", example_targets())
def test_every_example_round_trips_through_the_databricks_sdk(
    example: str, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = pytest.importorskip("databricks.sdk.service.jobs", reason="the databricks extra")
    assert main(["export", example]) == 0
    settings = json.loads(capsys.readouterr().out)
    assert settings["tasks"]
    assert jobs.JobSettings.from_dict(settings).as_dict() == settings


def test_bundle_yaml_holds_the_same_settings_under_resources_jobs(
    exported: tuple[dict, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yaml = pytest.importorskip("yaml", reason="the databricks extra")
    settings, _ = exported
    target = tmp_path / "job.yml"
    assert main(["export", f"{EVERY_KIND}:flow", "--format", "bundle-yaml", "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert yaml.safe_load(target.read_text()) == {"resources": {"jobs": {"every_kind": settings}}}


@pytest.mark.parametrize(
    ("unix", "expected"),
    [
        ("0 3 * * *", "0 0 3 * * ?"),
        ("*/15 * * * *", "0 */15 * * * ?"),
        ("30 2 * * 1-5", "0 30 2 ? * 2-6"),
        ("0 9 * * 0,6", "0 0 9 ? * 1,7"),
        ("0 9 * * 7", "0 0 9 ? * 1"),
        ("0 9 * * 5-7", "0 0 9 ? * 6-7,1"),
        ("0 9 * * 1-5/2", "0 0 9 ? * 2-6/2"),
        ("0 9 * * */2", "0 0 9 ? * */2"),
        ("0 0 1 * *", "0 0 0 1 * ?"),
        ("0 9 * * MON-FRI", "0 0 9 ? * MON-FRI"),
        ("0 0 3 * * ?", "0 0 3 * * ?"),  # Quartz already: as it is
    ],
)
def test_unix_cron_becomes_quartz(unix: str, expected: str) -> None:
    assert quartz(unix) == expected


def test_a_cron_restricting_both_days_is_refused_with_the_fix() -> None:
    with pytest.raises(DefinitionError, match=r"both the day of the month and of the week"):
        quartz("0 9 1 * 1")


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (
            Periodic(hours=6),
            {"pause_status": "UNPAUSED", "periodic": {"interval": 6, "unit": "HOURS"}},
        ),
        (
            Periodic(days=14),
            {"pause_status": "UNPAUSED", "periodic": {"interval": 2, "unit": "WEEKS"}},
        ),
        (
            FileArrival(
                "/data/in", min_time_between_triggers=120, wait_after_last_change=30, paused=True
            ),
            {
                "pause_status": "PAUSED",
                "file_arrival": {
                    "url": "/data/in",
                    "min_time_between_triggers_seconds": 120,
                    "wait_after_last_change_seconds": 30,
                },
            },
        ),
    ],
)
def test_triggers_map_onto_their_fields(trigger: object, expected: dict, tmp_path: Path) -> None:
    flow = Flow("triggered", trigger=trigger)

    @flow.task
    def step() -> None:
        pass

    assert job_settings(flow.plan()).settings["trigger"] == expected


def test_a_periodic_trigger_of_minutes_is_rounded_to_hours_with_a_warning() -> None:
    flow = Flow("often", trigger=Periodic(minutes=90))

    @flow.task
    def step() -> None:
        pass

    exported = job_settings(flow.plan())
    assert exported.settings["trigger"]["periodic"] == {"interval": 2, "unit": "HOURS"}
    assert any("whole hours" in warning for warning in exported.warnings)


def test_a_paused_schedule_is_exported_paused() -> None:
    flow = Flow("held", schedule=Cron("0 0 3 * * ?", timezone="UTC", paused=True))

    @flow.task
    def step() -> None:
        pass

    assert job_settings(flow.plan()).settings["schedule"]["pause_status"] == "PAUSED"
