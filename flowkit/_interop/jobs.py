"""A flow as Databricks Jobs API 2.2 job settings (DESIGN.md §8): ``job_settings(plan)``.

Each option maps onto the field Databricks names for it; what Databricks has
no field for (a retry backoff, a webhook without a destination id, a shell
command) is said in ``warnings``, never dropped silently. References
(``{{job.parameters.x}}``, ``{{tasks.X.values.K}}``) are kept as written: both
sides read the same syntax.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

import attrs

from flowkit._definition.kinds.compare import Comparison
from flowkit._definition.kinds.dbt import DbtTask
from flowkit._definition.kinds.for_each import ForEach
from flowkit._definition.kinds.notebook import NotebookTask
from flowkit._definition.kinds.run_flow import RunFlow
from flowkit._definition.kinds.script import PythonScript
from flowkit._definition.kinds.shell import ShellCommand
from flowkit._definition.kinds.sql import SqlTask
from flowkit._definition.schedules import Cron, FileArrival, Periodic
from flowkit._definition.spec import TaskSpec
from flowkit._errors import DefinitionError
from flowkit._planning.plan import Plan

#: flowkit's comparison operators as a condition_task's ``op``.
CONDITION_OPS = {
    "==": "EQUAL_TO",
    "!=": "NOT_EQUAL",
    ">": "GREATER_THAN",
    ">=": "GREATER_THAN_OR_EQUAL",
    "<": "LESS_THAN",
    "<=": "LESS_THAN_OR_EQUAL",
}
#: The wheel entry point a Python function task runs on a cluster.
WHEEL_PACKAGE = "flowkit_workflows"
WHEEL_ENTRY_POINT = "flowkit-task"
WHEEL_DISTRIBUTION = "flowkit-workflows"


@attrs.frozen
class _Files:
    """Paths as the job names them: relative to ``root`` when under it, else as they are."""

    root: Path | None

    def path(self, path: str | os.PathLike[str]) -> str:
        given = Path(path)
        if self.root is None or not given.is_absolute() or not given.is_relative_to(self.root):
            return str(path)
        return f"./{given.relative_to(self.root).as_posix()}"

    def target(self, target: str | None) -> str | None:
        if target is None or not target.startswith("/"):
            return target
        source, _, attribute = target.rpartition(":")
        return f"{self.path(source)}:{attribute}"


@attrs.frozen
class Exported:
    """Job settings as Jobs API 2.2 JSON data, and what did not map exactly."""

    settings: dict[str, Any]
    warnings: tuple[str, ...] = ()


def job_settings(plan: Plan, *, target: str | None = None, root: Path | None = None) -> Exported:
    """The flow of ``plan`` as job settings.

    Args:
        plan: the flow.
        target: where a cluster loads the flow from (``PATH.py:ATTR`` or ``MODULE:ATTR``).
        root: the folder the job's files are relative to (a bundle's root: the flow
            file's folder); files and the target under it are written relative to it.
    """
    warnings: list[str] = []
    files = _Files(root)
    target = files.target(target)

    flow = plan.flow
    settings: dict[str, Any] = {"name": flow.name}
    settings["tasks"] = [_task(plan.tasks[name], target, files, warnings) for name in plan.order]
    if flow.params:
        settings["parameters"] = [
            {"name": name, "default": _text(value)} for name, value in flow.params.items()
        ]
    settings["max_concurrent_runs"] = flow.max_concurrent_runs
    settings["queue"] = {"enabled": flow.queue}
    if flow.timeout is not None:
        settings["timeout_seconds"] = _whole(flow.timeout, "the flow's timeout", warnings)
    if isinstance(flow.schedule, Cron):
        settings["schedule"] = {
            "quartz_cron_expression": quartz(flow.schedule.expression),
            "timezone_id": flow.schedule.timezone,
            "pause_status": "PAUSED" if flow.schedule.paused else "UNPAUSED",
        }
    if flow.trigger is not None:
        settings["trigger"] = _trigger(flow.trigger, warnings)
    if flow.health is not None:
        settings["health"] = {
            "rules": [
                {
                    "metric": "RUN_DURATION_SECONDS",
                    "op": "GREATER_THAN",
                    "value": _whole(flow.health.run_duration_over, "health", warnings),
                }
            ]
        }
    if flow.notify is not None:
        emails = _emails(flow.notify, f"flow {flow.name!r}", warnings)
        if emails:
            settings["email_notifications"] = emails
    return Exported(settings=settings, warnings=tuple(warnings))


def _task(spec: TaskSpec, target: str | None, files: _Files, warnings: list[str]) -> dict[str, Any]:
    where = f"task {spec.name!r}"
    task: dict[str, Any] = {"task_key": spec.name}
    if spec.depends_on:
        task["depends_on"] = [
            {"task_key": dependency.task_key}
            if dependency.outcome is None
            else {"task_key": dependency.task_key, "outcome": str(dependency.outcome).lower()}
            for dependency in spec.depends_on
        ]
    task["run_if"] = spec.run_if.value.upper()
    if spec.retries:
        task["max_retries"] = spec.retries
    if spec.retry_delay:
        task["min_retry_interval_millis"] = round(spec.retry_delay * 1000)
    if spec.retry_backoff != 1.0:
        warnings.append(
            f"{where}: retry_backoff={spec.retry_backoff:g} has no Databricks field; every retry "
            "waits min_retry_interval_millis"
        )
    if spec.pool is not None:
        warnings.append(
            f"{where}: pool={spec.pool!r} has no Databricks field; the job's tasks are not capped"
        )
    for option in ("memory", "cpus"):
        if getattr(spec, option) is not None:
            warnings.append(
                f"{where}: {option}= has no per-task Databricks field; size the job's cluster "
                "for it (job_clusters, node_type_id)"
            )
    if spec.retry_on_timeout:
        task["retry_on_timeout"] = True
    if spec.timeout is not None:
        task["timeout_seconds"] = _whole(spec.timeout, where, warnings)
    task.update(_kind(spec, target, files, warnings))
    if spec.notify is not None:
        emails = _emails(spec.notify, where, warnings)
        if emails:
            task["email_notifications"] = emails
    return task


def _kind(spec: TaskSpec, target: str | None, files: _Files, warnings: list[str]) -> dict[str, Any]:
    """The task's type field: notebook_task, condition_task, ..., python_wheel_task."""
    fn, where = spec.fn, f"task {spec.name!r}"
    if isinstance(fn, Comparison):
        return {
            "condition_task": {
                "op": CONDITION_OPS[fn.op],
                "left": _text(fn.left),
                "right": _text(fn.right),
            }
        }
    if isinstance(fn, NotebookTask):
        notebook: dict[str, Any] = {"notebook_path": files.path(fn.path)}
        if fn.parameters:
            notebook["base_parameters"] = {k: _text(v) for k, v in fn.parameters.items()}
        return {"notebook_task": notebook}
    if isinstance(fn, PythonScript):
        script: dict[str, Any] = {"python_file": files.path(fn.path)}
        if fn.args:
            script["parameters"] = list(fn.args)
        return {"spark_python_task": script}
    if isinstance(fn, SqlTask):
        warnings.append(f"{where}: SQL written for DuckDB may need changes for Databricks SQL")
        if fn.database is None:
            warnings.append(f"{where}: warehouse_id is a placeholder: fill in the SQL warehouse")
        if fn.file is None:
            warnings.append(
                f"{where}: an inline query is exported as a file task; put it in a file"
            )
        path = files.path(fn.file) if fn.file else f"{spec.name}.sql"
        # The SQL warehouse is what a DuckDB database is locally: the one names the other.
        sql = {"file": {"path": path}, "warehouse_id": fn.database or "WAREHOUSE_ID"}
        if fn.parameters:
            sql["parameters"] = {k: _text(v) for k, v in fn.parameters.items()}
        return {"sql_task": sql}
    if isinstance(fn, DbtTask):
        dbt: dict[str, Any] = {
            "commands": list(fn.commands),
            "project_directory": files.path(fn.project_dir),
        }
        if fn.profiles_dir is not None:
            dbt["profiles_directory"] = files.path(fn.profiles_dir)
        return {"dbt_task": dbt}
    if isinstance(fn, RunFlow):
        warnings.append(
            f"{where}: run_job_task needs the child job's id: replace job_id 0 with the id of "
            f"the job exported from flow {fn.child.name!r}"
        )
        run_job: dict[str, Any] = {"job_id": 0}
        if fn.params:
            run_job["job_parameters"] = {k: _text(v) for k, v in fn.params.items()}
        return {"run_job_task": run_job}
    if isinstance(fn, ForEach):
        inputs = fn.over if isinstance(fn.over, str) else json.dumps(fn.over)
        if fn.source_task is not None:
            inputs = f"{{{{tasks.{fn.source_task}.values.return_value}}}}"
        body = {"task_key": f"{spec.name}_iteration", **_python(spec, target, warnings)}
        return {"for_each_task": {"inputs": inputs, "concurrency": fn.concurrency, "task": body}}
    if isinstance(fn, ShellCommand):
        warnings.append(
            f"{where}: Databricks has no shell task; it runs as a Python wheel task that runs "
            "the command with flowkit on the cluster"
        )
    return _python(spec, target, warnings)


def _python(spec: TaskSpec, target: str | None, warnings: list[str]) -> dict[str, Any]:
    """A task flowkit runs on the cluster: the wheel's entry point runs that one task."""
    if target is None:
        warnings.append(
            f"task {spec.name!r}: the flow's module is unknown, so the wheel task names none; "
            "export from a file or module"
        )
    parameters = {"target": target or "", "task": spec.name}
    return {
        "python_wheel_task": {
            "package_name": WHEEL_PACKAGE,
            "entry_point": WHEEL_ENTRY_POINT,
            "named_parameters": parameters,
        },
        # flowkit on the cluster; the flow's own package goes beside it (README "Databricks").
        "libraries": [{"pypi": {"package": WHEEL_DISTRIBUTION}}],
    }


def _trigger(trigger: Periodic | FileArrival, warnings: list[str]) -> dict[str, Any]:
    pause = "PAUSED" if trigger.paused else "UNPAUSED"
    if isinstance(trigger, FileArrival):
        return {
            "pause_status": pause,
            "file_arrival": {
                "url": trigger.folder,
                "min_time_between_triggers_seconds": round(trigger.min_time_between_triggers),
                "wait_after_last_change_seconds": round(trigger.wait_after_last_change),
            },
        }
    seconds = trigger.interval
    for unit, size in (("WEEKS", 604800), ("DAYS", 86400), ("HOURS", 3600)):
        if seconds % size == 0:
            return {
                "pause_status": pause,
                "periodic": {"interval": int(seconds // size), "unit": unit},
            }
    hours = max(1, round(seconds / 3600))
    warnings.append(
        f"Periodic every {seconds:g}s: Databricks counts periodic triggers in whole hours; "
        f"exported as every {hours} hour(s)"
    )
    return {"pause_status": pause, "periodic": {"interval": hours, "unit": "HOURS"}}


def _emails(notify: Any, where: str, warnings: list[str]) -> dict[str, list[str]]:
    events = {
        "on_start": "on_start",
        "on_success": "on_success",
        "on_failure": "on_failure",
        "on_duration_warning": "on_duration_warning_threshold_exceeded",
    }
    emails: dict[str, list[str]] = {}
    for event, field in events.items():
        for destination in notify.destinations(event):
            address = _email_address(destination)
            if address is not None:
                emails.setdefault(field, []).append(address)
            else:
                warnings.append(
                    f"{where}: {event} destination is not an email: TODO add it as a Databricks "
                    "notification destination and list its id in webhook_notifications"
                )
    return emails


def _email_address(destination: Any) -> str | None:
    """The address an Apprise ``mailto://`` URL sends to (``?to=``, else its user at its host)."""
    if not isinstance(destination, str) or not destination.startswith(("mailto:", "mailtos:")):
        return None
    url = urllib.parse.urlsplit(destination)
    recipients = urllib.parse.parse_qs(url.query).get("to")
    if recipients:
        return recipients[0].split(",")[0]
    if url.username and url.hostname:
        return f"{url.username}@{url.hostname}"
    return url.path or None


def quartz(expression: str) -> str:
    """A Unix cron expression (five fields) as Quartz; a Quartz one as it is."""
    fields = expression.split()
    if len(fields) != 5:
        return expression
    minute, hour, day, month, weekday = fields
    if weekday in ("*", "?"):
        weekday = "?"
    else:
        weekday = ",".join(_quartz_weekdays(part) for part in weekday.split(","))
        if day not in ("*", "?"):
            msg = (
                f"cron {expression!r} restricts both the day of the month and of the week; "
                "Quartz (Databricks) allows one of them: give the other as *"
            )
            raise DefinitionError(msg)
        day = "?"
    return f"0 {minute} {hour} {day} {month} {weekday}"


def _quartz_weekdays(part: str) -> str:
    """One list item of a Unix day-of-week field in Quartz's numbering (SUN is 1, not 0 or 7)."""
    days, _, step = part.partition("/")
    if re.fullmatch(r"\d+-7", days):  # up to Sunday as 7: Quartz's week ends on Saturday
        return f"{int(days.split('-')[0]) + 1}-7,1"
    if days != "*":
        days = re.sub(r"\d+", lambda match: str(int(match.group()) % 7 + 1), days)
    return f"{days}/{step}" if step else days


def _whole(seconds: float, where: str, warnings: list[str]) -> int:
    whole = round(seconds)
    if whole != seconds:
        warnings.append(
            f"{where}: {seconds:g} seconds rounded to {whole}: Databricks counts whole seconds"
        )
    return whole


def _text(value: Any) -> str:
    """A value as the text Databricks keeps parameters in (JSON for what is not a string)."""
    return value if isinstance(value, str) else json.dumps(value)
