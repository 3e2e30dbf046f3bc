"""A run's parameters: the flow's declared defaults, overridden by the caller, checked."""

from __future__ import annotations

import json
from collections.abc import Mapping

from flowkit._definition.spec import FlowSpec
from flowkit._errors import DefinitionError


def resolve_params(
    flow: FlowSpec, overrides: Mapping[str, object] | None, *, from_text: bool = False
) -> dict[str, object]:
    """The run's parameters: the declared defaults, overridden by ``overrides``.

    With ``from_text`` (values from ``-p KEY=VALUE``), a value is converted to
    the type of its default when that is a bool, int or float, and read as
    JSON when the default is a list or a dict (it must then be one too).

    Raises:
        DefinitionError: an undeclared key (the message lists the declared ones),
            or a text value that does not convert to its default's type.
    """
    resolved = dict(flow.params)
    problems = []
    declared = ", ".join(sorted(flow.params)) or "none"
    for key, value in (overrides or {}).items():
        if key not in flow.params:
            problems.append(
                f"flow {flow.name!r}: unknown parameter {key!r}; declared parameters: "
                f"{declared}. Declare it in Flow({flow.name!r}, params={{...}})"
            )
            continue
        converted = value
        if from_text and isinstance(value, str):
            try:
                converted = _convert_text(value, flow.params[key], key)
            except ValueError as error:
                default = flow.params[key]
                kind = type(default).__name__
                why = f": {error}" if isinstance(default, list | dict) else ""
                problems.append(
                    f"flow {flow.name!r}: parameter {key!r}={value!r} is not a valid {kind}"
                    f"{why} (its default is {default!r})"
                )
                continue
        resolved[key] = converted
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    return resolved


def _convert_text(text: str, default: object, key: str) -> object:
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(text)
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, list | dict):
        return _json_of_kind(text, type(default), key)
    return text


_JSON_EXAMPLES = {list: '["a", 2]', dict: '{"a": 1}'}


def _json_of_kind(text: str, kind: type, key: str) -> object:
    """``text`` read as JSON, which must be a ``kind`` (list or dict), as its default is."""
    example = f"-p {key}='{_JSON_EXAMPLES[kind]}'"
    try:
        value = json.loads(text)
    except ValueError as error:
        msg = f"expected a JSON {kind.__name__} such as {example}, and this is not JSON ({error})"
        raise ValueError(msg) from None
    if not isinstance(value, kind):
        msg = (
            f"expected a JSON {kind.__name__} such as {example}, "
            f"and this is a JSON {_json_kind(value)}"
        )
        raise ValueError(msg)  # noqa: TRY004 - the caller turns every ValueError into one problem
    return value


def _json_kind(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "list"}
    return "null" if value is None else names.get(type(value), "object")
