"""``Notify`` and ``Health``: who is told when a run or a task starts, ends, fails or runs long.

A destination is an ``http://`` or ``https://`` URL (flowkit POSTs its JSON
payload), any other Apprise URL (``mailto://``, ``slack://``, ``msteams://``,
...: extra ``flowkit[notify]``), or a Python callable, called in the
orchestrator with the payload. A URL may hold ``{{secrets/scope/key}}``
references, filled when it is sent, and ``{{job.parameters.NAME}}`` ones,
filled with the run's parameters (a URL given with ``-p``). Its shape is checked when ``Notify`` is
built; whether Apprise is installed and knows the scheme, when the flow is
planned (``destination_problems``), so a flow file does not import Apprise.
"""

from __future__ import annotations

import importlib.util
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from flowkit._errors import DefinitionError

EVENTS = ("on_start", "on_success", "on_failure", "on_duration_warning")
HTTP_SCHEMES = ("http", "https")
NOTIFY_EXTRA = "pip install 'flowkit-workflows[notify]'"
_SECRET = re.compile(r"\{\{\s*secrets/[^/\s{}]+/[^/\s{}]+\s*\}\}")
_PARAMETER = re.compile(r"\{\{\s*job\.parameters\.(?P<name>[A-Za-z0-9_.\-]+)\s*\}\}")

Destination = str | Callable[[dict[str, Any]], Any]


def masked(destination: Any) -> str:
    """A destination as it may be shown and kept: no credentials, tokens or paths.

    ``https://hooks.example.com/T1/B2`` -> ``https://hooks.example.com/***``;
    ``slack://T1/B2/C3`` -> ``slack://***``; a callable -> its qualified name.
    """
    if callable(destination):
        module = getattr(destination, "__module__", "") or ""
        name = getattr(destination, "__qualname__", type(destination).__name__)
        return f"callable {module}.{name}" if module else f"callable {name}"
    parsed = urllib.parse.urlsplit(str(destination))
    if not parsed.scheme:
        return "***"
    if parsed.scheme in HTTP_SCHEMES:
        host = parsed.hostname or ""
        try:
            port = f":{parsed.port}" if parsed.port else ""
        except ValueError:  # a bad port: shown as nothing, refused by the shape check
            port = ""
        rest = "/***" if parsed.path.strip("/") or parsed.query else ""
        return f"{parsed.scheme}://{host}{port}{rest}"
    return f"{parsed.scheme}://***"


def fill_parameters(destination: Any, params: Any) -> Any:
    """``destination`` with its ``{{job.parameters.NAME}}`` references filled from ``params``."""
    if not isinstance(destination, str):
        return destination
    return _PARAMETER.sub(lambda match: str(params.get(match.group("name"), "")), destination)


def shape_problem(destination: Any) -> str | None:
    """What is wrong with a destination's shape, or None (a parameter's URL: when sent)."""
    if callable(destination):
        return None
    if not isinstance(destination, str) or not destination.strip():
        return "is neither a URL nor a callable"
    if _PARAMETER.search(destination):
        return None
    text = _SECRET.sub("secret", destination)
    try:
        parsed = urllib.parse.urlsplit(text)
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError as error:
        return f"does not parse as a URL ({error})"
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", parsed.scheme or ""):
        return "has no scheme (give https://..., mailto://..., slack://..., or a callable)"
    if parsed.scheme in HTTP_SCHEMES and not parsed.hostname:
        return "has no host"
    return None


def _destinations(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or callable(value):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(value)
    return (value,)


def _check_destinations(instance: Any, attribute: attrs.Attribute, value: tuple[Any, ...]) -> None:
    for destination in value:
        problem = shape_problem(destination)
        if problem is not None:
            msg = (
                f"Notify({attribute.name}=...): destination {masked(destination)!r} {problem}; "
                "allowed: an http(s):// URL, an Apprise URL (mailto://, slack://, ...) or a "
                "callable"
            )
            raise DefinitionError(msg)


def _boolean(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        msg = f"Notify: {attribute.name}={value!r} is invalid; allowed: True or False"
        raise DefinitionError(msg)


def _events_field() -> Any:
    return attrs.field(default=(), converter=_destinations, validator=_check_destinations)


@attrs.frozen
class Notify:
    """Destinations per event, for a flow's runs or one task (Databricks' notifications).

    A task's ``on_failure`` is sent after its last attempt only, never for an
    attempt that is retried. A run's ``on_failure`` covers ``failed``,
    ``timed_out``, ``interrupted``, ``cancelled`` and ``skipped`` runs, less
    what the ``no_alert_for_*`` switches leave out.
    """

    on_start: tuple[Destination, ...] = _events_field()
    on_success: tuple[Destination, ...] = _events_field()
    on_failure: tuple[Destination, ...] = _events_field()
    on_duration_warning: tuple[Destination, ...] = _events_field()
    no_alert_for_skipped_runs: bool = attrs.field(default=False, validator=_boolean)
    no_alert_for_canceled_runs: bool = attrs.field(default=False, validator=_boolean)

    def destinations(self, event: str) -> tuple[Destination, ...]:
        return getattr(self, event)

    @property
    def all_destinations(self) -> tuple[Destination, ...]:
        return tuple(d for event in EVENTS for d in self.destinations(event))


def _seconds(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        ok = False
    else:
        ok = value > 0
    if not ok:
        msg = f"Health: run_duration_over={value!r} is invalid; allowed: a number of seconds > 0"
        raise DefinitionError(msg)


@attrs.frozen
class Health:
    """A flow's health rule: ``on_duration_warning`` once a run passes ``run_duration_over``."""

    run_duration_over: float = attrs.field(validator=_seconds)


def needs_apprise(destination: Any) -> bool:
    if callable(destination):
        return False
    return urllib.parse.urlsplit(str(destination)).scheme not in HTTP_SCHEMES


def destination_problems(where: str, notify: Notify | None, params: Any = None) -> list[str]:
    """What is wrong with ``notify``'s destinations: an undeclared parameter, Apprise missing,
    a scheme Apprise does not know.

    Imports Apprise only when a destination needs it.
    """
    if notify is None:
        return []
    problems = []
    for destination in notify.all_destinations:
        for match in _PARAMETER.finditer(destination if isinstance(destination, str) else ""):
            if params is not None and match.group("name") not in params:
                problems.append(
                    f"{where}: destination {{{{job.parameters.{match.group('name')}}}}} names "
                    "an undeclared parameter; declare it in Flow(..., params={...})"
                )
    wanted = [
        d for d in notify.all_destinations if needs_apprise(d) and not _PARAMETER.search(str(d))
    ]
    if not wanted:
        return problems
    if importlib.util.find_spec("apprise") is None:
        shown = ", ".join(masked(d) for d in wanted)
        return [
            *problems,
            f"{where}: destination(s) {shown} are sent through Apprise, which is not "
            f"installed; install the notify extra: {NOTIFY_EXTRA}",
        ]
    import apprise

    for destination in wanted:
        if apprise.Apprise.instantiate(_SECRET.sub("secret", str(destination))) is None:
            problems.append(
                f"{where}: destination {masked(destination)} is not a URL Apprise knows "
                "(see https://github.com/caronc/apprise/wiki for its schemes)"
            )
    return problems
