"""``run``: validate a flow, resolve its parameters, executor and store, and run it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from flowkit._clock import Clock, SystemClock
from flowkit._engine.listeners import EchoOutput
from flowkit._engine.loop import ActiveRun, new_run_id
from flowkit._engine.origin import flow_target
from flowkit._errors import DefinitionError
from flowkit._events import RunListener
from flowkit._planning.params import resolve_params
from flowkit._planning.plan import Plan, plan_of
from flowkit._state import KeptTask, RunResult, RunTrigger
from flowkit.executors import _machine as machine
from flowkit.executors import resolve

_default_stores: dict[str, Any] = {}


def _default_store() -> Any:
    """The default store of this process, opened once per location (``FLOWKIT_HOME``)."""
    from flowkit._home import store_file
    from flowkit._store import open_store  # sqlite3: loaded when a run needs it

    path = str(store_file())
    if path not in _default_stores:
        _default_stores[path] = open_store()
    return _default_stores[path]


def run(
    flow: Any,
    *,
    params: Mapping[str, Any] | None = None,
    executor: Any = None,
    max_parallel: int | None = None,
    clock: Clock | None = None,
    listeners: Sequence[RunListener] = (),
    run_id: str | None = None,
    params_from_text: bool = False,
    echo_output: bool = True,
    kept: Mapping[str, KeptTask] | None = None,
    repair_count: int = 0,
    store: Any = None,
    trigger: RunTrigger | None = None,
) -> RunResult:
    """Validate and run a flow to its end.

    Args:
        flow: a ``Flow``, its ``FlowSpec``, or an already built ``Plan``.
        params: overrides of the flow's declared parameters.
        executor: ``"inline"``, ``"local"``, ``"dask"``, an executor object, or None
            for the default.
        max_parallel: how many tasks at once; the flow's own setting when None.
        clock: where time comes from (tests pass ``FakeClock``).
        listeners: told of every state change.
        run_id: the run's id; a new one when None.
        params_from_text: convert text values to their defaults' types (the CLI's ``-p``).
        echo_output: print what isolated attempts print, as ``[task] line``, when no
            listener is given (the command line shows output itself).
        kept: final tasks of an earlier run to keep as they were, with their values
            and return values (a repair); the other tasks run.
        repair_count: which repair of ``run_id`` this is (0: the first run).
        store: where the run is recorded as it happens: a ``flowkit._store.RunStore``;
            None for the default store (``$FLOWKIT_HOME/flowkit.db``, ``FLOWKIT_HOME``
            defaulting to ``.flowkit``), unless a listener already is a ``StoreRecorder``;
            False to record nothing.
        trigger: what started the run (serve, backfill); a manual run when None.

    A run recorded in a store (and not a child run) first takes a slot of its
    flow's ``max_concurrent_runs`` (``admission``): it may wait ``queued``, or
    end ``skipped`` without starting.

    Raises:
        DefinitionError: the flow, its parameters or the executor are invalid;
            nothing has run.
    """
    plan = _with_target(plan_of(flow))
    resolved_params = resolve_params(plan.flow, params, from_text=params_from_text)
    if max_parallel is None:
        max_parallel = plan.flow.max_parallel or machine.cpus()
    elif not isinstance(max_parallel, int) or isinstance(max_parallel, bool) or max_parallel < 1:
        msg = (
            f"flow {plan.name!r}: max_parallel={max_parallel!r} is invalid; "
            "allowed: an integer >= 1"
        )
        raise DefinitionError(msg)
    listeners = list(listeners) or ([EchoOutput()] if echo_output else [])
    if store is not False:
        from flowkit._store import StoreRecorder

        # A caller that brings its own recorder (a repair, a test) has chosen the store.
        if store is not None or not any(isinstance(item, StoreRecorder) for item in listeners):
            listeners.insert(0, StoreRecorder(store if store is not None else _default_store()))
    executor = resolve(executor, flow_name=plan.name)
    clock = clock or SystemClock()
    trigger = trigger or RunTrigger()
    run_id = run_id or new_run_id()
    slot = _slot(listeners, plan, run_id, clock)
    notifier = _notifier(plan, listeners)
    if notifier is not None:
        listeners.append(notifier)
    if slot is not None:
        skipped = slot.acquire(
            params=resolved_params, trigger=trigger, target=plan.flow.origin, record=kept is None
        )
        if skipped is not None:
            if notifier is not None:
                notifier.run_skipped(skipped)
            return skipped
    try:
        active = ActiveRun(
            plan,
            executor=executor,
            params=resolved_params,
            max_parallel=max_parallel,
            clock=clock,
            listeners=listeners,
            run_id=run_id,
            kept=kept,
            repair_count=repair_count,
            trigger=trigger,
            claims=_task_slots(listeners, plan, run_id),
        )
        return active.execute()
    finally:
        if slot is not None:
            slot.release()


def _with_target(plan: Plan) -> Plan:
    """``plan``, with the target its flow can be loaded from found once (``FlowSpec.origin``).

    The run's slot and its record both ask for it, and finding it searches the
    loaded modules: once per run is enough.
    """
    if plan.flow.origin is not None:
        return plan
    target = flow_target(plan)
    if target is None:
        return plan
    return attrs.evolve(plan, flow=attrs.evolve(plan.flow, origin=target))


def _notifier(plan: Any, listeners: Sequence[RunListener]) -> Any:
    """A ``Notifier`` when the flow or a task notifies anyone; its tries recorded in the store."""
    task_notify = {name: spec.notify for name, spec in plan.tasks.items() if spec.notify}
    if plan.flow.notify is None and not task_notify:
        return None
    from flowkit._notify.notifier import Deliveries, Notifier
    from flowkit._store import StoreRecorder

    store = next((item.store for item in listeners if isinstance(item, StoreRecorder)), None)
    return Notifier(plan.flow.notify, task_notify, Deliveries(store))


def _task_slots(listeners: Sequence[RunListener], plan: Any, run_id: str) -> Any:
    """The home's slots of the flow's shared pools; None without any, or without a store."""
    from flowkit._store import StoreRecorder

    if not plan.flow.shared_pools:
        return None
    store = next((item.store for item in listeners if isinstance(item, StoreRecorder)), None)
    if store is None:
        return None
    from flowkit._engine.admission import TaskSlots

    return TaskSlots(store, run_id)


def _slot(listeners: Sequence[RunListener], plan: Any, run_id: str, clock: Clock) -> Any:
    """The run's claim on a slot of its flow, in the store that records it; None for none.

    A run recorded nowhere has no home to count runs in; a child run (for-each
    iterations, run-flow tasks) runs inside its parent's slot.
    """
    from flowkit._store import StoreRecorder

    for listener in listeners:
        if isinstance(listener, StoreRecorder):
            if listener.parent_run_id is not None:
                return None
            from flowkit._engine.admission import Slot

            return Slot(listener.store, plan, run_id, clock=clock)
    return None
