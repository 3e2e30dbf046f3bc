"""Databricks Asset Bundles and Jobs JSON files, read to run their jobs locally.

``read_bundle(path, target)`` reads ``databricks.yml``: its ``include`` globs,
its ``variables`` (defaults, then the target's values), the target's own
``resources`` merged over the bundle's (a job's tasks merged by ``task_key``,
as the Databricks CLI does), and substitutes ``${var.NAME}``,
``${bundle.name}`` and ``${bundle.target}``. ``${resources.jobs.KEY.id}`` is
kept: it names a job of the bundle for a ``run_job_task``. ``read_jobs_json``
reads job settings as the Jobs API takes them (or as ``jobs get`` answers,
under ``settings``). PyYAML (the ``databricks`` extra) is imported only here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from flowkit._errors import DefinitionError

_REFERENCE = re.compile(r"\$\{([\w.-]+)\}")


@attrs.frozen
class Bundle:
    """A bundle's jobs, each with the folder its relative paths start from."""

    name: str
    target: str | None
    #: job key -> (job settings, the folder of the file that defined the job)
    jobs: Mapping[str, tuple[dict[str, Any], Path]]
    path: Path


def read_bundle(path: Path, target: str | None = None) -> Bundle:
    """The bundle at ``path`` (``databricks.yml``) for ``target`` (default: the default one).

    Raises:
        DefinitionError: unreadable YAML, an unknown target or variable, no jobs.
    """
    document = _yaml(path)
    root = path.parent
    name = str((document.get("bundle") or {}).get("name") or root.name)
    jobs: dict[str, tuple[dict[str, Any], Path]] = {}
    _collect_jobs(document, path.parent, jobs)
    for pattern in document.get("include") or ():
        for included in sorted(root.glob(str(pattern))):
            _collect_jobs(_yaml(included), included.parent, jobs)
    targets = document.get("targets") or {}
    chosen = target or next(
        (key for key, value in targets.items() if (value or {}).get("default")), None
    )
    if chosen is not None and chosen not in targets:
        known = ", ".join(targets) or "none"
        msg = f"{path}: bundle {name!r} has no target {chosen!r}; its targets: {known}"
        raise DefinitionError(msg)
    target_settings = (targets.get(chosen) or {}) if chosen else {}
    _collect_jobs(target_settings, root, jobs, merge=True)
    values = _variables(document, target_settings, path)
    context = {"bundle.name": name, "bundle.target": chosen or "", **values}
    resolved = {
        key: (_substitute(settings, context, f"{path}: job {key!r}"), folder)
        for key, (settings, folder) in jobs.items()
    }
    return Bundle(name=name, target=chosen, jobs=resolved, path=path)


def read_jobs_json(path: Path) -> dict[str, Any]:
    """Job settings from a JSON file: the settings themselves, or ``{"settings": {...}}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        msg = f"cannot read job settings from {path}: {error}"
        raise DefinitionError(msg) from error
    if isinstance(data, dict) and isinstance(data.get("settings"), dict):
        data = data["settings"]
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        msg = f"{path} holds no job settings: expected an object with a tasks list"
        raise DefinitionError(msg)
    return data


def _yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError as error:
        msg = f"reading {path} needs PyYAML: pip install 'flowkit-workflows[databricks]'"
        raise DefinitionError(msg) from error
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        msg = f"cannot read the bundle file {path}: {error}"
        raise DefinitionError(msg) from error
    if not isinstance(data, dict):
        msg = f"{path} is not a bundle: its top level is not a mapping"
        raise DefinitionError(msg)
    return data


def _collect_jobs(
    document: Mapping[str, Any],
    folder: Path,
    jobs: dict[str, tuple[dict[str, Any], Path]],
    *,
    merge: bool = False,
) -> None:
    for key, settings in ((document.get("resources") or {}).get("jobs") or {}).items():
        if merge and key in jobs:
            jobs[key] = (_merge(jobs[key][0], settings or {}), jobs[key][1])
        else:
            jobs[key] = (dict(settings or {}), folder)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings deeply, ``tasks`` by task_key, the rest replaced."""
    merged = dict(base)
    for key, value in override.items():
        if key == "tasks" and isinstance(value, list):
            tasks = {task.get("task_key"): dict(task) for task in merged.get("tasks", ())}
            for task in value:
                tasks[task.get("task_key")] = _merge(tasks.get(task.get("task_key"), {}), task)
            merged["tasks"] = list(tasks.values())
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _variables(
    document: Mapping[str, Any], target: Mapping[str, Any], path: Path
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, declared in (document.get("variables") or {}).items():
        if isinstance(declared, Mapping) and "default" in declared:
            values[f"var.{name}"] = declared["default"]
    for name, value in (target.get("variables") or {}).items():
        if isinstance(value, Mapping):
            value = value.get("default", value.get("value"))  # noqa: PLW2901 - its value
        values[f"var.{name}"] = value
    return values


def _substitute(value: Any, context: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name in context:
                return str(context[name])
            if name.startswith("var."):
                msg = (
                    f"{where}: variable {name[4:]!r} has no value: give it a default under "
                    "variables, or a value in the target"
                )
                raise DefinitionError(msg)
            return match[0]  # resources.*, workspace.*: kept as written

        return _REFERENCE.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: _substitute(item, context, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, context, where) for item in value]
    return value
