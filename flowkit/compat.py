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

from typing import Any

from flowkit._context import MISSING, task_values
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


class DBUtils:
    """The part of Databricks' ``dbutils`` flowkit provides: ``jobs.taskValues`` and ``secrets``."""

    def __init__(self) -> None:
        self.jobs = JobsUtils()
        self.secrets = SecretsUtils()

    def __repr__(self) -> str:
        return "dbutils (flowkit.compat: jobs.taskValues and secrets)"


dbutils = DBUtils()
