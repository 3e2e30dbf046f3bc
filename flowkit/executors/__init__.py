"""Executors: where attempts run. ``resolve`` turns a name into an executor.

inline   this process, one attempt at a time (tests, debuggers)
local    an isolated subprocess per attempt, forked from a pre-warmed server (default)
dask     a distributed cluster
"""

from __future__ import annotations

from typing import Any

from flowkit._errors import DefinitionError
from flowkit.executors._base import AttemptOutcome, AttemptRequest, Executor
from flowkit.executors._inline import InlineExecutor

__all__ = [
    "EXECUTOR_NAMES",
    "AttemptOutcome",
    "AttemptRequest",
    "Executor",
    "InlineExecutor",
    "dask_executor",
    "resolve",
]

EXECUTOR_NAMES = ("inline", "local", "dask")
DEFAULT_EXECUTOR = "local"


def resolve(executor: Any, *, flow_name: str) -> Executor:
    """An executor instance from a name, an instance, or None for the default.

    Raises:
        DefinitionError: an unknown name; the message lists the valid ones.
    """
    if executor is None:
        executor = DEFAULT_EXECUTOR
    if isinstance(executor, str):
        if executor == "inline":
            return InlineExecutor()
        if executor == "local":
            from flowkit.executors._local import LocalExecutor

            return LocalExecutor()
        if executor == "dask":
            return dask_executor(flow_name=flow_name)
        msg = (
            f"flow {flow_name!r}: unknown executor {executor!r}; "
            f"valid executors: {', '.join(EXECUTOR_NAMES)}"
        )
        raise DefinitionError(msg)
    required = ("start", "submit", "wait", "kill", "shutdown")
    missing = [method for method in required if not callable(getattr(executor, method, None))]
    if missing:
        msg = (
            f"flow {flow_name!r}: executor {executor!r} lacks {', '.join(missing)}; "
            f"pass one of {', '.join(EXECUTOR_NAMES)} or an object implementing "
            "flowkit.executors.Executor"
        )
        raise DefinitionError(msg)
    return executor


def dask_executor(*, flow_name: str | None = None, **options: Any) -> Executor:
    """A ``DaskExecutor`` with ``options``; a clear error when ``distributed`` is missing.

    Raises:
        DefinitionError: the ``distributed`` package is not installed.
    """
    try:
        import distributed  # noqa: F401 - only to tell whether it is there
    except ImportError as error:
        where = f"flow {flow_name!r}: " if flow_name else ""
        msg = (
            f"{where}the dask executor needs the distributed package, which is not installed "
            f"({error}); install it with: pip install 'flowkit-workflows[dask]'"
        )
        raise DefinitionError(msg) from error
    from flowkit.executors.dask import DaskExecutor

    return DaskExecutor(**options)
