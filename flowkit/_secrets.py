"""Secrets: ``flowkit.secrets.get(scope, key)``, and the redaction of their values.

A secret is read from the environment, ``FLOWKIT_SECRET_<SCOPE>_<KEY>`` (upper
case, every other character ``_``), else from the home's ``secrets.toml``::

    [warehouse]
    password = "..."

which must be private (mode 0600: no access for group or others), or it is
refused. A secret's value is never written anywhere by flowkit: the
orchestrator knows every value a run can read (``known_values``) and a
``Redactor`` replaces each with ``[REDACTED]`` in task output and logs, errors,
task values and notification payloads, as Databricks redacts notebook output.
Values shorter than ``MIN_REDACTED_LENGTH`` are not redacted (replacing every
``1`` in a log would hide everything and protect nothing).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flowkit._errors import SecretError
from flowkit._home import home_folder

ENV_PREFIX = "FLOWKIT_SECRET_"
FILE_NAME = "secrets.toml"
REDACTED = "[REDACTED]"
MIN_REDACTED_LENGTH = 3
#: The longest unfinished line held back for redaction, in bytes.
LONGEST_HELD_LINE = 64 * 1024
_NOT_NAME = re.compile(r"[^A-Z0-9]")


def variable_name(scope: str, key: str) -> str:
    """The environment variable that holds secret ``scope``/``key``."""
    return ENV_PREFIX + _NOT_NAME.sub("_", f"{scope}_{key}".upper())


def secrets_file() -> Path:
    return home_folder() / FILE_NAME


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    with path.open("rb") as handle:
        return tomllib.load(handle)


def read_file(path: Path) -> dict[str, dict[str, str]]:
    """The secrets in ``path`` by scope and key; empty when there is no such file.

    Raises:
        SecretError: the file is readable by others than its owner, or is not TOML
            of ``[scope]`` tables of string values.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        msg = (
            f"secrets file {path} has mode {stat.S_IMODE(mode):04o}: others than its owner "
            f"can read it, so flowkit refuses to use it. Make it private: chmod 600 {path}"
        )
        raise SecretError(msg)
    try:
        data = _load_toml(path)
    except (OSError, ValueError) as error:  # tomllib.TOMLDecodeError is a ValueError
        msg = f"secrets file {path} cannot be read as TOML: {error}"
        raise SecretError(msg) from None
    secrets: dict[str, dict[str, str]] = {}
    for scope, table in data.items():
        if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
            msg = (
                f"secrets file {path}: [{scope}] must be a table of text values, "
                'e.g. [warehouse] then password = "..."'
            )
            raise SecretError(msg)
        secrets[scope] = dict(table)
    return secrets


class Secrets:
    """``flowkit.secrets``: read a secret by scope and key (Databricks' ``dbutils.secrets``)."""

    def get(self, scope: str, key: str) -> str:
        """The value of secret ``scope``/``key``.

        Raises:
            SecretError: no such secret (the message names scope, key and where it was
                looked for, never a value), or the secrets file is not private.
        """
        for name, value in (("scope", scope), ("key", key)):
            if not isinstance(value, str) or not value:
                msg = f"secrets.get: {name}={value!r} is invalid; give a non-empty string"
                raise SecretError(msg)
        variable = variable_name(scope, key)
        if variable in os.environ:
            return os.environ[variable]
        path = secrets_file()
        found = read_file(path).get(scope, {})
        if key in found:
            return found[key]
        msg = (
            f"no secret {key!r} in scope {scope!r}: set the environment variable {variable}, "
            f"or add it to {path} under [{scope}] (a file of mode 0600)"
        )
        raise SecretError(msg)

    def __repr__(self) -> str:
        return "<flowkit.secrets: get(scope, key)>"


secrets = Secrets()


def known_values(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every secret value a run can read: the environment's, and a private file's."""
    environ = os.environ if environ is None else environ
    values = {value for name, value in environ.items() if name.startswith(ENV_PREFIX)}
    try:
        for table in read_file(secrets_file()).values():
            values.update(table.values())
    except SecretError:
        pass  # a file flowkit refuses gives no secrets; reading one says why
    return frozenset(value for value in values if len(value) >= MIN_REDACTED_LENGTH)


class Redactor:
    """Replaces every one of ``values`` with ``[REDACTED]``, in text, bytes and JSON data."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        ordered = sorted(set(values), key=len, reverse=True)  # the longest first
        self.active = bool(ordered)
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        encoded = [re.escape(value.encode()) for value in ordered]
        self._bytes = re.compile(b"|".join(encoded)) if ordered else None

    @classmethod
    def for_run(cls) -> Redactor:
        return cls(known_values())

    def text(self, text: str) -> str:
        return self._text.sub(REDACTED, text) if self._text is not None else text

    def bytes(self, data: bytes) -> bytes:
        return self._bytes.sub(REDACTED.encode(), data) if self._bytes is not None else data

    def error(self, error: Any) -> Any:
        """An ``ErrorInfo`` with its message and traceback redacted (None stays None)."""
        if error is None or not self.active:
            return error
        return type(error)(
            type_name=error.type_name,
            message=self.text(error.message),
            traceback=self.text(error.traceback),
        )

    def whole_lines(self, held: bytes, data: bytes) -> tuple[bytes, bytes]:
        """Output read in pieces: its complete lines redacted, and the rest held back.

        A secret printed in two writes is redacted whole once its line ends; a line
        longer than ``LONGEST_HELD_LINE`` is let through in pieces.
        """
        if not self.active:
            return data, b""
        data = held + data
        end = data.rfind(b"\n") + 1
        if len(data) - end > LONGEST_HELD_LINE:
            end = len(data)
        return self.bytes(data[:end]), data[end:]

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like data) with every string in it redacted."""
        if not self.active:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.data(key): self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value
