"""Child runs: the engine's side of for-each and run-flow tasks (``_context.ChildRuns``).

A child run is recorded in the default store with its parent's run id, and what
its tasks print reaches the parent attempt's log as ``[task] line``. Importing
this module provides it to the definition layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowkit._context import provide_child_runs
from flowkit._engine.listeners import EchoOutput
from flowkit._state import RunResult, RunState

#: A child run in one of these states is continued by a repair of its parent task.
_UNSUCCESSFUL = (RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)


class EngineChildRuns:
    """Runs and repairs child runs in this process, recorded in the default store.

    The scheduler and the store (and sqlite3) are imported when a child run starts,
    not with flowkit.
    """

    def run(
        self,
        flow: Any,
        *,
        parent_run_id: str | None,
        executor: str,
        params: Mapping[str, Any] | None = None,
        params_from_text: bool = False,
    ) -> RunResult:
        from flowkit._engine.run import run
        from flowkit._store import StoreRecorder, open_store

        store = open_store()
        try:
            recorder = StoreRecorder(store, parent_run_id=parent_run_id)
            return run(
                flow,
                params=params,
                executor=executor,
                params_from_text=params_from_text,
                store=False,  # the recorder records the run, with its parent
                listeners=[recorder, EchoOutput()],
            )
        finally:
            store.close()

    def repair(self, flow: Any, run_id: str, *, executor: str) -> RunResult:
        from flowkit._engine.repair import repair
        from flowkit._store import open_store

        store = open_store()
        try:
            return repair(flow, run_id, store=store, executor=executor, listeners=[EchoOutput()])
        finally:
            store.close()

    def failed_child_run(self, flow_name: str, parent_run_id: str) -> str | None:
        from flowkit._store import open_store

        store = open_store()
        try:
            for record in store.list_runs(flow=flow_name):
                if record.parent_run_id == parent_run_id:
                    return record.run_id if record.state in _UNSUCCESSFUL else None
        finally:
            store.close()
        return None


provide_child_runs(EngineChildRuns())
