"""Helpers for unit-testing tasks and flows: a task context, a flow runner, and simulate.

``task_context`` runs one task in-process against the upstream values and
params a test gives; ``FlowRunner`` (the ``flowkit_run`` pytest fixture) runs a
whole flow inline against a temporary store; ``simulate`` works out every
task's final state from the ``run_if`` wiring alone, without running anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowkit import _engine
from flowkit._context import TaskContext, encode_value, installed
from flowkit._definition.spec import FlowSpec
from flowkit._errors import TaskValueError
from flowkit._planning.simulate import simulate

if TYPE_CHECKING:
    from flowkit._flow import Flow
    from flowkit._planning.plan import Plan
    from flowkit._state import RunResult
    from flowkit._store import SqliteStore

__all__ = ["FlowRunner", "simulate", "task_context"]


# -- one task ------------------------------------------------------------------------------


@contextlib.contextmanager
def task_context(
    values: Mapping[str, Mapping[str, Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    task_key: str = "under_test",
    flow_name: str = "test",
    run_id: str = "test-run",
    attempt: int = 1,
) -> Iterator[TaskContext]:
    """Run the body as if it were an attempt of task ``task_key``.

    Inside, calling a task (or its ``.fn``) reads ``values`` through
    ``task_values.get`` and ``params`` through ``flowkit.params``; what it sets
    is in the yielded context's ``values_set``. Only the tasks listed in
    ``values`` count as upstream: reading any other raises the usual
    ``TaskValueError``. Values go through the same JSON round trip as in a real
    run, so a tuple comes back as a list.

    Args:
        values: upstream task key -> {value key: value}.
        params: the flow parameters the task sees.
        task_key: the name of the task under test, as error messages show it.
        flow_name: the flow's name, as error messages show it.
        run_id: the run id the task sees.
        attempt: the attempt number the task sees.

    Raises:
        TaskValueError: ``values`` is not a mapping of mappings, or a value is
            not JSON-serialisable or is over the size limit.
    """
    upstream_values = _encoded_values(values or {})
    context = TaskContext(
        run_id=run_id,
        flow_name=flow_name,
        task_key=task_key,
        attempt=attempt,
        params=dict(params or {}),
        upstream_values=upstream_values,
        upstream_edges=None,
    )
    with installed(context):
        yield context


def _encoded_values(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    if not isinstance(values, Mapping):
        msg = (
            f"task_context(values={values!r}): values must be a mapping of upstream task key "
            'to its values, e.g. values={"ingest": {"row_count": 5}}'
        )
        raise TaskValueError(msg)
    encoded: dict[str, dict[str, Any]] = {}
    for upstream, task_values in values.items():
        if not isinstance(task_values, Mapping):
            msg = (
                f"task_context(values=...): the values of task {upstream!r} are "
                f"{task_values!r}, not a mapping; give {{key: value, ...}}"
            )
            raise TaskValueError(msg)
        where = f"task_context(values=...), task {upstream!r}"
        encoded[upstream] = {
            key: encode_value(key, value, where=where) for key, value in task_values.items()
        }
    return encoded


# -- a whole flow, inline ------------------------------------------------------------------


class FlowRunner:
    """Runs flows inline, recording them in a SQLite store under ``home``.

    The ``flowkit_run`` pytest fixture is one of these, with ``home`` in the
    test's ``tmp_path``.
    """

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self._store: SqliteStore | None = None

    @property
    def store(self) -> SqliteStore:
        """The store the runs are recorded in (opened on first use)."""
        if self._store is None:
            from flowkit._store import SqliteStore

            self.home.mkdir(parents=True, exist_ok=True)
            self._store = SqliteStore(self.home / "flowkit.db")
        return self._store

    def __call__(
        self, flow: Flow | FlowSpec | Plan, params: Mapping[str, Any] | None = None, **options: Any
    ) -> RunResult:
        """Run ``flow`` to its end, inline unless ``executor=`` says otherwise.

        ``options`` are those of ``Flow.run`` (``clock=``, ``max_parallel=``, ...).
        """
        options.setdefault("executor", "inline")
        options.setdefault("echo_output", False)
        return _engine.run_flow(flow, store=self.store, params=params, **options)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
