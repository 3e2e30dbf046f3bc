"""Databricks compatibility: ``dbutils.jobs.taskValues`` and ``dbutils.secrets``, Databricks' names.

Notebook code moved from Databricks runs unchanged::

    from flowkit.compat import dbutils

    dbutils.jobs.taskValues.set(key="row_count", value=14520)
    rows = dbutils.jobs.taskValues.get(taskKey="ingest", key="row_count", default=0)
    password = dbutils.secrets.get(scope="warehouse", key="password")

Behaviour is flowkit's ``task_values`` (DESIGN.md §3), which follows
Databricks: outside a run ``get`` returns ``debugValue`` and raises when none
is given, even if a ``default`` is.
"""

from __future__ import annotations

import json
from typing import Any

from flowkit._context import MISSING, params, task_values
from flowkit._errors import NotebookExit
from flowkit._secrets import secrets

__all__ = ["dbutils"]


class TaskValuesUtils:
    """``dbutils.jobs.taskValues``: set and get task values with Databricks' argument names."""

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value`` for downstream tasks; see ``flowkit.task_values.set``."""
        task_values.set(key=key, value=value)

    def get(
        self,
        # Databricks' camelCase argument names, so notebook code runs unchanged.
        taskKey: str,
        key: str,
        default: Any = MISSING,
        debugValue: Any = MISSING,
    ) -> Any:
        """Read ``key`` set by the upstream task ``taskKey``; see ``flowkit.task_values.get``.

        Raises:
            TaskValueError: ``taskKey`` is not upstream; the key is missing and no
                ``default`` is given; or, outside a run, no ``debugValue`` is given.
        """
        return task_values.get(task_key=taskKey, key=key, default=default, debug_value=debugValue)

    def __repr__(self) -> str:
        return "dbutils.jobs.taskValues"


class JobsUtils:
    """``dbutils.jobs``: only ``taskValues`` has a meaning outside Databricks."""

    def __init__(self) -> None:
        self.taskValues = TaskValuesUtils()

    def __repr__(self) -> str:
        return "dbutils.jobs"


class SecretsUtils:
    """``dbutils.secrets``: ``get(scope, key)``, read as ``flowkit.secrets.get`` reads it."""

    def get(self, scope: str, key: str) -> str:
        """The secret's value; see ``flowkit.secrets``."""
        return secrets.get(scope, key)

    def __repr__(self) -> str:
        return "dbutils.secrets"


class WidgetsUtils:
    """``dbutils.widgets``: a notebook's parameters (a notebook task's ``parameters``)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def _set(self, values: dict[str, Any]) -> None:
        """The notebook task sets the parameters it was given (before the first cell)."""
        self._values.update({name: str(value) for name, value in values.items()})

    def get(self, name: str) -> str:
        """The parameter ``name`` as text; else the flow parameter of that name.

        Raises:
            KeyError: no such widget or parameter (Databricks: InputWidgetNotDefined).
        """
        if name in self._values:
            return self._values[name]
        if name in params:
            return str(params[name])
        msg = f"dbutils.widgets.get({name!r}): no widget or parameter {name!r} is defined"
        raise KeyError(msg)

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        """Define a text widget: its value is the parameter given, else ``defaultValue``."""
        self._values.setdefault(name, str(defaultValue))

    def dropdown(
        self,
        name: str,
        defaultValue: str,
        choices: list[str],
        label: str | None = None,
    ) -> None:
        """Define a dropdown widget; a value given outside ``choices`` is refused."""
        self._values.setdefault(name, str(defaultValue))
        if self._values[name] not in [str(choice) for choice in choices]:
            msg = (
                f"dbutils.widgets.dropdown({name!r}): {self._values[name]!r} is not in {choices!r}"
            )
            raise ValueError(msg)

    def getAll(self) -> dict[str, str]:
        return dict(self._values)

    def __repr__(self) -> str:
        return "dbutils.widgets"


class NotebookUtils:
    """``dbutils.notebook``: ``exit(value)`` ends the notebook with its return value."""

    def exit(self, value: Any) -> None:
        """End the notebook here; ``value`` (JSON) is what the task returns downstream."""
        raise NotebookExit(json.dumps(value))

    def __repr__(self) -> str:
        return "dbutils.notebook"


class DBUtils:
    """The part of Databricks' ``dbutils`` flowkit provides: taskValues, secrets, widgets, exit."""

    def __init__(self) -> None:
        self.jobs = JobsUtils()
        self.secrets = SecretsUtils()
        self.widgets = WidgetsUtils()
        self.notebook = NotebookUtils()

    def __repr__(self) -> str:
        return "dbutils (flowkit.compat: jobs.taskValues, secrets, widgets, notebook.exit)"


dbutils = DBUtils()
