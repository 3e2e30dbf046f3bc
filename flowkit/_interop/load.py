"""Databricks job settings as a flow, to run locally: ``flow_from_job(settings, root=...)``.

The inverse of ``jobs.job_settings``: each task type becomes the flowkit kind
that runs it (notebook, spark_python, sql file, dbt, condition, run_job, and
a flowkit wheel task back to its Python function). A task type flowkit
cannot run locally (pipeline, JAR, spark_submit, SQL by id, ...) is collected,
and one ``DefinitionError`` names every such task and its type. A path is
read relative to ``root`` (the bundle's folder); a workspace path
(``/Workspace/...``) that does not exist locally says which local path was
tried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flowkit._definition.kinds.for_each import ForEach
from flowkit._definition.notify import Health, Notify
from flowkit._definition.schedules import Cron, FileArrival, Periodic
from flowkit._definition.spec import Dependency
from flowkit._errors import DefinitionError
from flowkit._flow import Flow
from flowkit._interop.jobs import CONDITION_OPS, WHEEL_ENTRY_POINT

#: The task types flowkit runs locally, and the field that says each.
SUPPORTED = (
    "notebook_task",
    "spark_python_task",
    "sql_task",
    "dbt_task",
    "condition_task",
    "run_job_task",
    "for_each_task",
    "python_wheel_task",
)
#: Task fields that name a task type (Jobs API 2.2).
TASK_TYPES = (
    *SUPPORTED,
    "pipeline_task",
    "spark_jar_task",
    "spark_submit_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)
_OPS = {value: key for key, value in CONDITION_OPS.items()}
_UNITS = {"HOURS": "hours", "DAYS": "days", "WEEKS": "weeks"}
_WORKSPACE = re.compile(r"^/Workspace/.*?/files/(.+)$")


def flow_from_job(
    settings: Mapping[str, Any],
    *,
    root: Path,
    jobs: Mapping[str, Callable[[], Flow]] | None = None,
    where: str = "job",
    name: str | None = None,
) -> Flow:
    """A flow that runs the job ``settings`` describes, its files read under ``root``.

    Args:
        settings: Jobs API 2.2 job settings (``name``, ``tasks``, ...).
        root: the folder relative paths start from.
        jobs: other jobs a ``run_job_task`` may name (a bundle's job keys), built on demand.
        where: what the settings came from, for messages.
        name: the flow's name (a bundle's job key); default: the job's name.

    Raises:
        DefinitionError: unsupported task types (all of them named), missing files, or
            options flowkit does not know.
    """
    name = _flow_name(name or str(settings.get("name") or "job"))
    unsupported = [
        f"{task.get('task_key')!r} ({_type_of(task) or 'no task type'})"
        for task in settings.get("tasks", ())
        if _type_of(task) not in SUPPORTED
    ]
    if unsupported:
        msg = (
            f"{where}: job {name!r} has tasks flowkit cannot run locally: "
            f"{', '.join(unsupported)}. flowkit runs {', '.join(SUPPORTED)}; remove those "
            "tasks or run the job on Databricks"
        )
        raise DefinitionError(msg)
    flow = Flow(name, params=_params(settings), **_job_options(settings, where))
    flow.source_folder = root
    for task in settings.get("tasks", ()):
        _add_task(flow, task, root, jobs or {}, where)
    return flow


def _type_of(task: Mapping[str, Any]) -> str | None:
    return next((field for field in TASK_TYPES if field in task), None)


def _flow_name(name: str) -> str:
    """A job name as a flow name: characters a flow name cannot hold become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "job"


def _params(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {str(p["name"]): p.get("default", "") for p in settings.get("parameters", ())}


def _job_options(settings: Mapping[str, Any], where: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "max_concurrent_runs" in settings:
        options["max_concurrent_runs"] = int(settings["max_concurrent_runs"])
    if "queue" in settings:
        options["queue"] = bool(settings["queue"].get("enabled", False))
    if settings.get("timeout_seconds"):
        options["timeout"] = float(settings["timeout_seconds"])
    schedule = settings.get("schedule")
    if schedule:
        options["schedule"] = Cron(
            str(schedule["quartz_cron_expression"]),
            timezone=str(schedule.get("timezone_id", "UTC")),
            paused=schedule.get("pause_status") == "PAUSED",
        )
    trigger = settings.get("trigger")
    if trigger:
        options["trigger"] = _trigger(trigger, where)
    emails = settings.get("email_notifications") or {}
    events = {
        "on_start": "on_start",
        "on_success": "on_success",
        "on_failure": "on_failure",
        "on_duration_warning_threshold_exceeded": "on_duration_warning",
    }
    destinations = {
        event: [f"mailto://{address}" for address in emails.get(field, ())]
        for field, event in events.items()
        if emails.get(field)
    }
    rules = (settings.get("health") or {}).get("rules", ())
    duration = next((r["value"] for r in rules if r.get("metric") == "RUN_DURATION_SECONDS"), None)
    if duration is not None and destinations.get("on_duration_warning"):
        options["health"] = Health(run_duration_over=float(duration))
    elif "on_duration_warning" in destinations:
        del destinations["on_duration_warning"]  # a warning with no rule warns nobody
    if destinations:
        options["notify"] = Notify(**destinations)
    return options


def _trigger(trigger: Mapping[str, Any], where: str) -> Periodic | FileArrival:
    paused = trigger.get("pause_status") == "PAUSED"
    if "periodic" in trigger:
        unit = _UNITS.get(str(trigger["periodic"].get("unit")))
        if unit is None:
            msg = f"{where}: periodic trigger unit {trigger['periodic'].get('unit')!r} is unknown"
            raise DefinitionError(msg)
        interval = float(trigger["periodic"]["interval"])
        if unit == "weeks":
            return Periodic(days=7 * interval, paused=paused)
        return Periodic(**{unit: interval}, paused=paused)
    if "file_arrival" in trigger:
        arrival = trigger["file_arrival"]
        return FileArrival(
            str(arrival["url"]),
            min_time_between_triggers=float(arrival.get("min_time_between_triggers_seconds", 0)),
            wait_after_last_change=float(arrival.get("wait_after_last_change_seconds", 0)),
            paused=paused,
        )
    msg = f"{where}: trigger {sorted(trigger)} is not one flowkit runs (periodic, file_arrival)"
    raise DefinitionError(msg)


def _options(task: Mapping[str, Any], flow_name: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "depends_on": [
            Dependency(
                str(edge["task_key"]),
                flow_name,
                None if edge.get("outcome") is None else str(edge["outcome"]).lower() == "true",
            )
            for edge in task.get("depends_on", ())
        ],
        "run_if": str(task.get("run_if", "ALL_SUCCESS")).lower(),
    }
    if task.get("max_retries"):
        options["retries"] = int(task["max_retries"])
    if task.get("min_retry_interval_millis"):
        options["retry_delay"] = int(task["min_retry_interval_millis"]) / 1000
    if task.get("retry_on_timeout"):
        options["retry_on_timeout"] = True
    if task.get("timeout_seconds"):
        options["timeout"] = float(task["timeout_seconds"])
    return options


def _add_task(
    flow: Flow,
    task: Mapping[str, Any],
    root: Path,
    jobs: Mapping[str, Callable[[], Flow]],
    where: str,
) -> None:
    key = str(task["task_key"])
    options = _options(task, flow.name)
    here = f"{where}: task {key!r}"
    if "notebook_task" in task:
        notebook = task["notebook_task"]
        path = _local(str(notebook["notebook_path"]), root, here, suffixes=(".ipynb", ".py"))
        flow.notebook(path, parameters=notebook.get("base_parameters") or {}, name=key, **options)
    elif "spark_python_task" in task:
        script = task["spark_python_task"]
        path = _local(str(script["python_file"]), root, here)
        flow.python_script(path, args=script.get("parameters") or [], name=key, **options)
    elif "sql_task" in task:
        sql = task["sql_task"]
        if "file" not in sql:
            msg = f"{here}: a sql_task runs locally from a file (sql_task.file), not by query id"
            raise DefinitionError(msg)
        path = _local(str(sql["file"]["path"]), root, here)
        flow.sql(
            file=path,
            database=_database(str(sql.get("warehouse_id", ""))),
            parameters=sql.get("parameters") or {},
            name=key,
            **options,
        )
    elif "dbt_task" in task:
        dbt = task["dbt_task"]
        project = _local(str(dbt.get("project_directory", ".")), root, here)
        profiles = dbt.get("profiles_directory")
        flow.dbt(
            list(dbt["commands"]),
            project_dir=project,
            profiles_dir=_local(str(profiles), root, here) if profiles else None,
            name=key,
            **options,
        )
    elif "condition_task" in task:
        condition = task["condition_task"]
        op = _OPS.get(str(condition["op"]))
        if op is None:
            msg = f"{here}: condition op {condition['op']!r} is unknown; allowed: {', '.join(_OPS)}"
            raise DefinitionError(msg)
        flow.compare(key, condition["left"], op, condition["right"], **options)
    elif "run_job_task" in task:
        run_job = task["run_job_task"]
        child = _child_job(run_job.get("job_id"), jobs, here)
        flow.run_flow(key, child, params=run_job.get("job_parameters") or {}, **options)
    elif "python_wheel_task" in task:
        flow.task(name=key, **options)(_wheel_function(task["python_wheel_task"], root, here))
    else:  # for_each_task
        _add_for_each(
            flow, key, for_each=task["for_each_task"], root=root, options=options, here=here
        )


def _database(warehouse_id: str) -> str | None:
    """The DuckDB database a SQL warehouse stands for: a path or a reference to one, else the
    home's default warehouse (a Databricks warehouse id names nothing local)."""
    if warehouse_id.startswith("{{") or warehouse_id.endswith(".duckdb") or "/" in warehouse_id:
        return warehouse_id
    return None


def _child_job(job_id: Any, jobs: Mapping[str, Callable[[], Flow]], here: str) -> Flow:
    """A run_job_task's child: a bundle job named by key (``${resources.jobs.KEY.id}``)."""
    key = str(job_id)
    match = re.fullmatch(r"\$\{resources\.jobs\.([\w-]+)\.id\}", key)
    if match:
        key = match[1]
    if key in jobs:
        return jobs[key]()
    msg = (
        f"{here}: run_job_task names job {job_id!r}, which is not a job of this bundle; "
        "locally a child job is named as ${resources.jobs.KEY.id}"
    )
    raise DefinitionError(msg)


def _wheel_function(wheel: Mapping[str, Any], root: Path, here: str) -> Callable[..., Any]:
    """A flowkit wheel task's function: the task of that name in the flow its target names."""
    from flowkit._engine.loader import load_flow

    parameters = wheel.get("named_parameters") or {}
    if wheel.get("entry_point") != WHEEL_ENTRY_POINT or "target" not in parameters:
        msg = (
            f"{here}: a python_wheel_task runs locally only when it is flowkit's own "
            f"(entry_point {WHEEL_ENTRY_POINT!r} with named_parameters target and task)"
        )
        raise DefinitionError(msg)
    source, _, attribute = str(parameters["target"]).rpartition(":")
    if source.endswith(".py") and not Path(source).is_absolute():
        source = str((root / source).resolve())
    flow = load_flow(f"{source}:{attribute}")
    task_name = str(parameters.get("task"))
    spec = next((spec for spec in flow.spec().tasks if spec.name == task_name), None)
    if spec is None:
        msg = f"{here}: flow {flow.name!r} ({parameters['target']}) has no task {task_name!r}"
        raise DefinitionError(msg)
    # A for-each task's iterations run its body; every other task, its function.
    return spec.fn.body if isinstance(spec.fn, ForEach) else spec.fn


def _add_for_each(
    flow: Flow,
    key: str,
    *,
    for_each: Mapping[str, Any],
    root: Path,
    options: dict[str, Any],
    here: str,
) -> None:
    inputs = for_each.get("inputs", "[]")
    over: Any = inputs
    if isinstance(inputs, str) and not inputs.strip().startswith("{{"):
        try:
            over = json.loads(inputs)
        except json.JSONDecodeError as error:
            msg = f"{here}: for_each_task inputs {inputs!r} is neither JSON nor a reference"
            raise DefinitionError(msg) from error
    nested = for_each.get("task") or {}
    if "python_wheel_task" not in nested:
        msg = (
            f"{here}: a for_each_task runs locally when its nested task is a flowkit wheel "
            f"task; this one is {_type_of(nested) or 'of no type'}"
        )
        raise DefinitionError(msg)
    body = _wheel_function(nested["python_wheel_task"], root, here)
    concurrency = int(for_each.get("concurrency", 1))
    flow.for_each(over=over, name=key, concurrency=concurrency, **options)(body)


def _local(path: str, root: Path, here: str, suffixes: tuple[str, ...] = ()) -> str:
    """A job's path as a local file: relative ones under ``root``; a workspace path (absolute,
    as ``/Workspace/.../files/X``, ``/Users/...`` or ``/Shared/...``) looked for there too."""
    given = Path(path)
    if not given.is_absolute():
        candidates = [root / given]
    else:
        match = _WORKSPACE.match(path)
        candidates = [given, root / match[1]] if match else [given, root / path.lstrip("/")]
    tried = []
    for candidate in candidates:
        for each in (candidate, *(candidate.with_name(candidate.name + s) for s in suffixes)):
            tried.append(str(each))
            if each.exists():
                return str(each)
    if not given.is_absolute():
        return str(candidates[0])  # the kind says the file is missing, and where it looked
    msg = (
        f"{here}: workspace path {path!r} does not exist locally (tried "
        f"{', '.join(tried)}); put the file in the bundle's folder"
    )
    raise DefinitionError(msg)
