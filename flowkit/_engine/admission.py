"""Admission: a run starts only when its flow has a free slot (``max_concurrent_runs``).

The slots live in the store, so they count every live run of the flow in the
home, however it was started (``flowkit run``, ``Flow.run``, serve), and a slot
of an orchestrator that died is free again (``_store.slots``). At the limit a
run waits its turn, recorded ``queued`` (FIFO), or, when the flow does not
queue, is recorded ``skipped`` and never starts a task.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from loguru import logger

from flowkit._clock import Clock
from flowkit._errors import RunInterrupted
from flowkit._planning.plan import Plan
from flowkit._state import RunResult, RunState, RunTrigger, TaskRun
from flowkit._store import RunRecord, RunStore
from flowkit._store.base import Admission, json_safe
from flowkit._store.liveness import this_host

#: How often a queued run asks again for a slot, in seconds.
QUEUE_POLL_INTERVAL = 0.25


def resource_of(flow_name: str) -> str:
    """The slots' resource name of a flow's runs."""
    return f"flow:{flow_name}"


class TaskSlots:
    """A run's tasks' slots in the home's shared pools (``Pool(N, shared=True)``).

    The same table as the runs' slots: a pool's resource is ``pool:NAME`` and its
    holder ``RUN_ID/TASK``; a slot of an orchestrator that died is free again.
    """

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def acquire(self, pool: str, task_key: str, size: int) -> bool:
        holder = f"{self.run_id}/{task_key}"
        admission = self.store.acquire_slot(
            f"pool:{pool}", holder, limit=size, queue=True, pid=os.getpid()
        )
        return admission is Admission.HELD

    def release(self, pool: str, task_key: str) -> None:
        self.store.release_slot(f"pool:{pool}", f"{self.run_id}/{task_key}")


class Slot:
    """One run's claim on a slot of its flow: taken by ``acquire``, given back by ``release``."""

    def __init__(self, store: RunStore, plan: Plan, run_id: str, *, clock: Clock) -> None:
        self.store = store
        self.plan = plan
        self.run_id = run_id
        self.clock = clock
        self.resource = resource_of(plan.name)

    def _ask(self, *, queue: bool) -> Admission:
        return self.store.acquire_slot(
            self.resource,
            self.run_id,
            limit=self.plan.flow.max_concurrent_runs,
            queue=queue,
            pid=os.getpid(),
        )

    def acquire(
        self,
        *,
        params: Mapping[str, Any],
        trigger: RunTrigger,
        target: str | None,
        record: bool,
    ) -> RunResult | None:
        """Wait for a slot; None once held, else the ``skipped`` run's result.

        Args:
            params, trigger, target: what the run records if it queues or is skipped.
            record: record the run while it waits (``queued``) or when it is skipped;
                a repair's run is recorded already and just waits.

        Raises:
            RunInterrupted: Ctrl-C while queued; the run is recorded ``cancelled``.
        """
        flow = self.plan.flow
        admission = self._ask(queue=flow.queue or not record)
        if admission is Admission.HELD:
            return None
        now = self.clock.time()
        if admission is Admission.REFUSED:
            reason = (
                f"flow {self.plan.name!r} already has {flow.max_concurrent_runs} live run(s), "
                "its max_concurrent_runs, and does not queue (queue=False); nothing ran"
            )
            self._record(RunState.SKIPPED, params, trigger, target, started_at=now, ended_at=now)
            return self._result(RunState.SKIPPED, params, trigger, now, reason=reason)
        if record:
            self._record(RunState.QUEUED, params, trigger, target, started_at=now)
        logger.info(
            "run {} of flow {!r} queued: the flow has {} live run(s), its max_concurrent_runs",
            self.run_id,
            self.plan.name,
            flow.max_concurrent_runs,
        )
        try:
            while self._ask(queue=True) is not Admission.HELD:
                self.clock.sleep(QUEUE_POLL_INTERVAL)
        except KeyboardInterrupt:
            self.release()
            if record:
                self.store.update_run_state(
                    self.run_id, RunState.CANCELLED, ended_at=self.clock.time()
                )
            raise RunInterrupted(self._result(RunState.CANCELLED, params, trigger, now)) from None
        return None

    def release(self) -> None:
        self.store.release_slot(self.resource, self.run_id)

    def _record(
        self,
        state: RunState,
        params: Mapping[str, Any],
        trigger: RunTrigger,
        target: str | None,
        *,
        started_at: float,
        ended_at: float | None = None,
    ) -> None:
        self.store.create_run(
            RunRecord(
                run_id=self.run_id,
                flow_name=self.plan.name,
                params=json_safe(params),
                state=state,
                started_at=started_at,
                ended_at=ended_at,
                pid=os.getpid(),
                hostname=this_host(),
                target=target,
                trigger=trigger,
            ),
            task_keys=list(self.plan.tasks),
        )

    def _result(
        self,
        state: RunState,
        params: Mapping[str, Any],
        trigger: RunTrigger,
        at: float,
        *,
        reason: str | None = None,
    ) -> RunResult:
        return RunResult(
            run_id=self.run_id,
            flow_name=self.plan.name,
            state=state,
            tasks={name: TaskRun(name) for name in self.plan.tasks},
            values={},
            params=dict(params),
            started_at=at,
            ended_at=self.clock.time(),
            trigger=trigger,
            cancel_reason=reason,
        )
