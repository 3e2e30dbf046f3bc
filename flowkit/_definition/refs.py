"""Dynamic value references (``{{job.run_id}}``...): checked at plan time, filled at run time.

The Databricks syntax, for the string arguments of shell and condition tasks:

- ``{{job.run_id}}``, ``{{job.name}}``, ``{{job.repair_count}}``;
- ``{{job.start_time.ARGUMENT}}``, the run's start in UTC: ``iso_date``
  (``2026-11-23``), ``iso_datetime`` (``2026-11-23T09:30:00.000Z``),
  ``timestamp_ms``, ``year``, ``month``, ``day``, ``hour``, ``minute``,
  ``second``, ``iso_weekday`` (1 = Monday) and ``is_weekday``;
- ``{{job.trigger.type}}`` (``manual``, ``cron``, ``periodic``, ``file_arrival`` or
  ``backfill``), ``{{job.trigger.time.ARGUMENT}}`` (the run's scheduled time, as
  ``start_time``; a manual run's is its start) and
  ``{{job.trigger.file_arrival.location}}`` (the watched folder; empty otherwise);
- ``{{job.parameters.NAME}}``, a declared flow parameter;
- ``{{tasks.NAME.values.KEY}}``, a task value set by an upstream task;
- ``{{secrets/SCOPE/KEY}}``, a secret (``flowkit.secrets``), read when the attempt
  starts; its value is redacted from everything flowkit shows or keeps.

Whitespace inside the braces is allowed (``{{ job.run_id }}``) and a name with
other characters than letters, digits and ``_`` may be written in backticks
(``{{job.parameters.`run-date`}}``). As in Databricks, text between double
braces that is not shaped like a reference (``{{.State.Status}}``, a Go
template in a ``docker`` command) is left alone; one that is, but names an
unknown namespace or field, is a plan-time problem.

A value is substituted as text; a shell command substitutes each as one quoted
shell word (``kinds.shell``), so that no value is read as shell syntax.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from flowkit._context import TaskContext, current_context
from flowkit._errors import DefinitionError, FlowkitError, TaskValueError
from flowkit._secrets import secrets

_BRACES = re.compile(r"\{\{(?P<inner>[^{}]*)\}\}")
#: A dotted path of identifiers or backticked names: what makes ``{{...}}`` a reference.
_SEGMENT = r"(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)"
_REFERENCE = re.compile(rf"{_SEGMENT}(?:\.(?:[A-Za-z0-9_\-]+|`[^`]+`))*")
#: ``{{secrets/scope/key}}``, Databricks' secret reference.
SECRET_REFERENCE = re.compile(r"secrets/(?P<scope>[^/\s{}]+)/(?P<key>[^/\s{}]+)")

NAMESPACES = ("job", "tasks")
JOB_FIELDS = ("run_id", "name", "repair_count")
START_TIME_ARGUMENTS = (
    "iso_date",
    "iso_datetime",
    "timestamp_ms",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "iso_weekday",
    "is_weekday",
)
ALLOWED = (
    "{{job.run_id}}, {{job.name}}, {{job.repair_count}}, "
    f"{{{{job.start_time.ARGUMENT}}}} (ARGUMENT: {', '.join(START_TIME_ARGUMENTS)}), "
    "{{job.trigger.type}}, {{job.trigger.time.ARGUMENT}}, "
    "{{job.trigger.file_arrival.location}}, "
    "{{job.parameters.NAME}}, {{tasks.NAME.values.KEY}}"
)


def _segments(reference: str) -> list[str]:
    """Split a dotted reference, keeping backticked names whole and unquoted."""
    return [part.strip("`") for part in re.findall(r"`[^`]+`|[^.`]+", reference) if part.strip()]


def find_references(text: str) -> list[str]:
    """The references in ``text``, in order, without braces: ``{{ job.run_id }}`` -> ``job.run_id``.

    Text between double braces that is not shaped like a dotted name is not a
    reference (Databricks leaves such text as it is), so it is not listed.
    """
    found = (match.group("inner").strip() for match in _BRACES.finditer(text))
    return [inner for inner in found if _REFERENCE.fullmatch(inner)]


@attrs.frozen
class _Parsed:
    """A reference taken apart: its namespace and the names after it."""

    namespace: str
    field: str = ""
    #: The parameter name, start_time argument, or (for tasks) the task key.
    name: str = ""
    key: str = ""


def _parse(reference: str) -> _Parsed | str:
    """A well-formed reference taken apart, or what is wrong with its shape."""
    parts = _segments(reference)
    shown = f"{{{{{reference}}}}}"
    namespace, rest = parts[0], parts[1:]
    if namespace == "job":
        if len(rest) == 1 and rest[0] in JOB_FIELDS:
            return _Parsed("job", rest[0])
        if len(rest) == 2 and rest[0] == "start_time" and rest[1] in START_TIME_ARGUMENTS:
            return _Parsed("job", "start_time", rest[1])
        if rest in (["trigger", "type"], ["trigger", "file_arrival", "location"]):
            return _Parsed("job", "trigger", rest[-1])
        if len(rest) == 3 and rest[:2] == ["trigger", "time"] and rest[2] in START_TIME_ARGUMENTS:
            return _Parsed("job", "trigger_time", rest[2])
        if len(rest) >= 2 and rest[0] == "parameters":
            # A parameter's name may itself hold dots: "run.date".
            return _Parsed("job", "parameters", ".".join(rest[1:]))
        return f"reference {shown} names an unknown job field; allowed: {ALLOWED}"
    if namespace == "tasks":
        # A task key may hold dots too: the first "values" after it ends it.
        if "values" in rest[1:-1]:
            split = rest.index("values", 1)
            return _Parsed("tasks", "values", ".".join(rest[:split]), ".".join(rest[split + 1 :]))
        return f"reference {shown} is not of the form {{{{tasks.NAME.values.KEY}}}}"
    return (
        f"reference {shown} has unknown namespace {namespace!r}; allowed namespaces: "
        f"{', '.join(NAMESPACES)} ({ALLOWED})"
    )


def _problem(reference: str, *, params: Mapping[str, Any], upstream: set[str]) -> str | None:
    """What is wrong with one reference, or None; without the flow and task prefix."""
    parsed = _parse(reference)
    if isinstance(parsed, str):
        return parsed
    shown = f"{{{{{reference}}}}}"
    if parsed.field == "parameters" and parsed.name not in params:
        declared = ", ".join(sorted(params)) or "none"
        return (
            f"reference {shown} names undeclared parameter {parsed.name!r}; declared "
            f"parameters: {declared}. Declare it in Flow(..., params={{...}})"
        )
    if parsed.namespace == "tasks" and parsed.name not in upstream:
        known = ", ".join(sorted(upstream)) or "none"
        return (
            f"reference {shown} reads a value of task {parsed.name!r}, which is not upstream "
            f"(upstream tasks: {known}); add {parsed.name!r} to depends_on"
        )
    return None


def validate_references(
    text: str,
    *,
    flow_name: str,
    task_key: str,
    params: Mapping[str, Any],
    upstream: set[str],
) -> list[str]:
    """Every problem with the references in ``text``, one line each, for a plan's report.

    Args:
        text: a string argument of the task (a command, an env value, a cwd).
        flow_name, task_key: where the text belongs, for the messages.
        params: the flow's declared parameters.
        upstream: the task's direct and transitive dependencies.
    """
    problems = []
    for reference in find_references(text):
        problem = _problem(reference, params=params, upstream=upstream)
        if problem is not None:
            problems.append(f"flow {flow_name!r}, task {task_key!r}: {problem}")
    return problems


def render(value: Any) -> str:
    """A value as it appears in text: JSON for a dict or list, ``str`` otherwise."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _start_time(argument: str, started_at: float) -> Any:
    moment = datetime.datetime.fromtimestamp(started_at, tz=datetime.timezone.utc)
    if argument == "iso_date":
        return moment.date().isoformat()
    if argument == "iso_datetime":
        return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z"
    if argument == "timestamp_ms":
        return round(started_at * 1000)
    if argument == "iso_weekday":
        return moment.isoweekday()
    if argument == "is_weekday":
        return str(moment.isoweekday() <= 5).lower()
    return getattr(moment, argument)  # year, month, day, hour, minute, second


def _value(reference: str, context: TaskContext) -> Any:
    where = f"flow {context.flow_name!r}, task {context.task_key!r}"
    shown = f"{{{{{reference}}}}}"
    parsed = _parse(reference)
    if isinstance(parsed, str):
        msg = f"{where}: {parsed}"
        raise DefinitionError(msg)
    if parsed.namespace == "tasks":
        if not context.is_upstream(parsed.name):
            missing = context.missing_task(parsed.name)
            if missing is not None:
                msg = f"{where}: reference {shown} reads a value of a task: {missing}"
                raise TaskValueError(msg)
            msg = (
                f"{where}: reference {shown} reads a value of task {parsed.name!r}, which is "
                f"not upstream of {context.task_key!r}; add {parsed.name!r} to depends_on"
            )
            raise TaskValueError(msg)
        values = context.upstream_values.get(parsed.name, {})
        if parsed.key not in values:
            known = ", ".join(sorted(values)) or "none"
            msg = (
                f"{where}: reference {shown}: task {parsed.name!r} set no value "
                f"{parsed.key!r} (it set: {known}); set it with "
                f"task_values.set({parsed.key!r}, ...) in {parsed.name!r}"
            )
            raise TaskValueError(msg)
        return values[parsed.key]
    if parsed.field == "parameters":
        if parsed.name not in context.params:
            declared = ", ".join(sorted(context.params)) or "none"
            msg = (
                f"{where}: reference {shown} names undeclared parameter {parsed.name!r}; "
                f"declared parameters: {declared}. Declare it in Flow(..., params={{...}})"
            )
            raise DefinitionError(msg)
        return context.params[parsed.name]
    if parsed.field == "start_time":
        return _start_time(parsed.name, context.run_started_at)
    if parsed.field == "trigger_time":
        trigger_time = context.trigger.time
        return _start_time(
            parsed.name, context.run_started_at if trigger_time is None else trigger_time
        )
    if parsed.field == "trigger":
        if parsed.name == "type":
            return context.trigger.type
        return context.trigger.file_arrival_location or ""
    if parsed.field == "name":
        return context.flow_name
    return getattr(context, parsed.field)  # run_id, repair_count


def resolve(text: str, context: TaskContext, *, word: Callable[[str], str] | None = None) -> str:
    """``text`` with every reference replaced by its value in the running attempt.

    A substituted value is not searched again for references.

    Args:
        text: the text holding references.
        context: the running attempt's context.
        word: applied to each rendered value before it is substituted: a shell
            command passes ``shlex.quote``, so every value is one shell word.

    Raises:
        TaskValueError: a ``{{tasks.NAME.values.KEY}}`` whose task is not upstream
            or did not set that key.
        DefinitionError: any other reference that does not resolve (unknown
            namespace or field, undeclared parameter).
    """

    def substitute(match: re.Match[str]) -> str:
        inner = match.group("inner").strip()
        if secret := SECRET_REFERENCE.fullmatch(inner):
            value = secrets.get(secret.group("scope"), secret.group("key"))
            return value if word is None else word(value)
        if not _REFERENCE.fullmatch(inner):
            return match.group(0)
        rendered = render(_value(inner, context))
        return rendered if word is None else word(rendered)

    return _BRACES.sub(substitute, text)


def fill_values(values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """``values`` with the references in each text value filled (a task's ``parameters``)."""
    return {
        name: fill(value, where=where, what=f"parameter {name}")
        if isinstance(value, str)
        else value
        for name, value in values.items()
    }


def fill_secrets(text: str) -> str:
    """``text`` with its ``{{secrets/scope/key}}`` references filled (a destination's URL).

    Raises:
        SecretError: a secret it names is missing.
    """

    def substitute(match: re.Match[str]) -> str:
        secret = SECRET_REFERENCE.fullmatch(match.group("inner").strip())
        if secret is None:
            return match.group(0)
        return secrets.get(secret.group("scope"), secret.group("key"))

    return _BRACES.sub(substitute, text)


def reference_spans(text: str) -> list[tuple[int, str]]:
    """Where each reference in ``text`` starts, with the reference (as ``find_references``)."""
    found = ((match.start(), match.group("inner").strip()) for match in _BRACES.finditer(text))
    return [(start, inner) for start, inner in found if _REFERENCE.fullmatch(inner)]


def fill(text: str, *, where: str, what: str, word: Callable[[str], str] | None = None) -> str:
    """``text`` with its references filled in from the running attempt's context.

    Outside a run, text without references comes back as it is. ``word`` is
    applied to each substituted value (see ``resolve``).

    Raises:
        FlowkitError: outside a run, ``text`` has references: they have no value there.
    """
    context = current_context()
    if context is not None:
        return resolve(text, context, word=word)
    if find_references(text):
        msg = (
            f"{where}: {what} has references ({{{{...}}}}) and was called outside a run, "
            "where they have no value; run the flow, or call it inside "
            "flowkit.testing.task_context(values=..., params=...)"
        )
        raise FlowkitError(msg)
    return text
