"""The run store contract: the records it keeps and the operations every back end offers.

A store is a small protocol with two back ends (httpx's ``BaseTransport`` and
``MockTransport``): ``SqliteStore``, the default, and ``MemoryStore``, its
in-memory twin for tests. Records are plain frozen data; a store never hands
out anything live. Times are seconds since the epoch, as ``time.time()`` gives.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from flowkit._errors import StoreError
from flowkit._state import ClusterReport, ErrorInfo, RunState, RunTrigger, TaskState

#: How many candidates an ambiguous run id prefix lists.
MAX_CANDIDATES = 10


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _task_state(value: object) -> TaskState:
    # A record is made with every change of a run: skip the enum's lookup when it can.
    return value if isinstance(value, TaskState) else TaskState(value)


@attrs.frozen
class RunRecord:
    """One run as stored: who runs it, where, and how it stands."""

    run_id: str = attrs.field(validator=attrs.validators.min_len(1))
    flow_name: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    state: RunState = attrs.field(default=RunState.RUNNING, converter=RunState)
    started_at: float = attrs.field(default=0.0, converter=float)
    ended_at: float | None = attrs.field(default=None, converter=_optional_float)
    repair_count: int = 0
    #: The orchestrator: the process that runs the scheduler, and its host.
    pid: int | None = None
    hostname: str | None = None
    #: The orchestrator's last sign of life (wall time, whatever clock the run used).
    heartbeat_at: float | None = attrs.field(default=None, converter=_optional_float)
    parent_run_id: str | None = None
    #: The executor's name (``local``, ``dask``, ...) of the latest pass (run or repair).
    executor: str | None = None
    #: The cluster that pass's executor held, once the pass has ended (dask), else None.
    cluster: ClusterReport | None = None
    #: What the latest pass was started from, as ``flowkit run`` takes it: ``/abs/path.py:ATTR``
    #: or ``MODULE:ATTR``; None when nothing usable was known. ``flowkit repair`` loads it.
    target: str | None = None
    #: What started the run (manual, cron, ...), its scheduled time, its backfill.
    trigger: RunTrigger = attrs.field(factory=RunTrigger)

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@attrs.frozen
class TaskRecord:
    """One task of one run: its latest state, attempts, times, error, values.

    ``record_task`` writes every field but ``values`` and ``result_ref``, which
    ``set_task_values`` (or ``record_task``'s ``values``) and ``set_result`` own; a
    record read back has all.
    ``result_ref`` says where the store keeps the task's return value (a file of
    the SQLite store), None when it keeps none.
    """

    run_id: str
    task_key: str
    state: TaskState = attrs.field(default=TaskState.PENDING, converter=_task_state)
    attempts: int = 0
    started_at: float | None = attrs.field(default=None, converter=_optional_float)
    ended_at: float | None = attrs.field(default=None, converter=_optional_float)
    error: ErrorInfo | None = None
    values: Mapping[str, Any] = attrs.field(factory=dict)
    result_ref: str | None = None
    #: Why a queued task waits: a full pool, the memory or CPUs it declared.
    waiting_for: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


@attrs.frozen
class AttemptRecord:
    """One attempt of one task: how it ended and where its output went.

    An attempt is recorded ``running`` when it starts and again when it ends,
    so an orchestrator killed mid-attempt leaves the attempt visible. It is
    keyed by run, task, ``repair`` and ``attempt``: a repair pass adds attempts,
    never overwrites those of an earlier pass.
    """

    run_id: str
    task_key: str
    attempt: int = attrs.field(validator=attrs.validators.ge(1))
    state: TaskState = attrs.field(default=TaskState.RUNNING, converter=_task_state)
    started_at: float | None = attrs.field(default=None, converter=_optional_float)
    ended_at: float | None = attrs.field(default=None, converter=_optional_float)
    #: How the attempt's process ended, when the executor knows.
    exit_code: int | None = None
    signal: int | None = None
    error: ErrorInfo | None = None
    log_path: str | None = None
    #: Which pass made the attempt: 0 the original run, n the n-th repair.
    repair: int = 0

    @property
    def duration(self) -> float | None:
        """Its wall seconds (its compute seconds), once it has ended; None before."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


class Admission(str, enum.Enum):
    """What ``acquire_slot`` answered."""

    HELD = "held"
    WAITING = "waiting"
    REFUSED = "refused"


@attrs.frozen
class DeliveryRecord:
    """One try to deliver one notification: to whom (masked), for what, and how it went."""

    run_id: str
    event: str
    destination: str
    attempt: int
    ok: bool
    at: float
    task_key: str | None = None
    error: str | None = None


class RunStore(Protocol):
    """What the runtime, the recorder and the command line need from a run store.

    Every write is committed before it returns. Reads of runs first settle any
    run whose orchestrator is gone (``mark_interrupted_runs``), so a run killed
    with SIGKILL shows as ``interrupted``, never as ``running`` forever.
    """

    def create_run(self, run: RunRecord, task_keys: Sequence[str] = ()) -> None:
        """Record a new run and its tasks as ``pending``; a known run id is an error."""
        ...

    def update_run_state(
        self,
        run_id: str,
        state: RunState,
        *,
        ended_at: float | None = None,
        cluster: ClusterReport | None = None,
        started_at: float | None = None,
    ) -> None:
        """Set the run's state and end; ``cluster`` and ``started_at``, when given, too.

        A queued run that gets its slot moves to ``running`` with its real start.
        """
        ...

    def acquire_slot(
        self, resource: str, run_id: str, *, limit: int, queue: bool, pid: int
    ) -> Admission:
        """Take one of ``limit`` slots of ``resource`` for ``run_id``, or queue for one.

        A slot is held by a live process (``pid``): the slot of a process that is
        gone is free again. Waiting runs are served first come, first served: a
        run is admitted only when fewer runs wait before it than slots are free.
        Asked again by a waiting run, it answers again (HELD once its turn came).

        Returns:
            HELD, WAITING (queued: ask again later) or REFUSED (full, ``queue`` false;
            nothing is kept).
        """
        ...

    def release_slot(self, resource: str, run_id: str) -> None:
        """Give ``run_id``'s slot (or its place in the queue) of ``resource`` back."""
        ...

    def heartbeat(self, run_id: str, *, at: float | None = None) -> None:
        """The orchestrator is alive at ``at`` (now by default); an interrupted run resumes."""
        ...

    def increment_repair_count(
        self,
        run_id: str,
        *,
        pid: int,
        hostname: str,
        params: Mapping[str, Any] | None = None,
        executor: str | None = None,
        target: str | None = None,
    ) -> RunRecord:
        """Take a finished or interrupted run over for a repair: count + 1, state running.

        ``pid`` and ``hostname`` name the repairing orchestrator; ``params``, when
        given, replace the run's parameters (``repair -p KEY=VALUE``), ``executor``
        the executor's name, and ``target`` what the flow was loaded from. The
        earlier pass's cluster is forgotten: the run's cluster is the one its
        latest pass held.

        Raises:
            StoreError: the run is unknown, or its orchestrator is still alive.
        """
        ...

    def record_task(self, task: TaskRecord, *, values: Mapping[str, Any] | None = None) -> None:
        """Insert or update a task's state, attempts, times and error.

        ``values``, when given, are written with them, as ``set_task_values`` writes
        them: a task that succeeds is one write, not two.
        """
        ...

    def record_attempt(self, attempt: AttemptRecord) -> None:
        """Insert or update one attempt."""
        ...

    def set_task_values(self, run_id: str, task_key: str, values: Mapping[str, Any]) -> None: ...
    def set_result(self, run_id: str, task_key: str, data: bytes | None) -> None:
        """Keep a task's return value, pickled, for a later repair; None forgets it."""
        ...

    def get_result(self, run_id: str, task_key: str) -> bytes | None:
        """The pickled return value ``set_result`` kept, or None.

        Raises:
            StoreError: it was kept but cannot be read back.
        """
        ...

    def get_run(self, run_id: str) -> RunRecord | None: ...
    def resolve_run_id(self, prefix: str) -> str:
        """The one run id starting with ``prefix`` (like git).

        Raises:
            StoreError: no run matches, or several do (the message lists them).
        """
        ...

    def list_runs(
        self,
        *,
        flow: str | None = None,
        state: RunState | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs newest first, of one flow and in one state when given; skip ``offset``."""
        ...

    def get_tasks(self, run_id: str) -> dict[str, TaskRecord]:
        """Every task of the run by task key, in the order they were first recorded."""
        ...

    def get_attempts(self, run_id: str, task_key: str | None = None) -> list[AttemptRecord]:
        """Attempts by task (in first-recorded order), then repair pass, then number."""
        ...

    def get_values(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The task values of every task that set any."""
        ...

    def set_shape(self, run_id: str, shape: Mapping[str, Any]) -> None:
        """Keep the shape of the flow the run runs (``_planning.shape``), JSON data."""
        ...

    def get_shape(self, run_id: str) -> dict[str, Any] | None:
        """The shape ``set_shape`` kept; None for a run recorded without one."""
        ...

    def mark_interrupted_runs(self) -> list[str]:
        """Mark ``interrupted`` every running run whose orchestrator is gone; return their ids."""
        ...

    def record_delivery(self, delivery: DeliveryRecord) -> None:
        """Keep one try to deliver a notification (any thread may call it)."""
        ...

    def get_deliveries(self, run_id: str) -> list[DeliveryRecord]:
        """The run's notification tries, in the order they were made."""
        ...

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """A block whose writes are committed together, at its end."""
        ...

    def close(self) -> None: ...


# -- helpers both back ends share ------------------------------------------------------
def compute_by_task(attempts: Iterable[AttemptRecord]) -> dict[str, float]:
    """Each task's compute seconds: its ended attempts' wall seconds, summed.

    An attempt still running, or left running by an orchestrator that died, has
    no end and counts for nothing.
    """
    compute: dict[str, float] = {}
    for attempt in attempts:
        duration = attempt.duration
        if duration is not None:
            compute[attempt.task_key] = compute.get(attempt.task_key, 0.0) + duration
    return compute


def json_safe(params: Any) -> dict[str, Any]:
    """Params as JSON data; a value JSON cannot hold is stored as its repr."""
    return json.loads(json.dumps(dict(params), default=repr))


def to_json(value: Any, *, what: str) -> str:
    """``value`` as JSON text, or a StoreError naming ``what`` would not serialise."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        msg = f"cannot store {what}: it is not JSON-serialisable ({error})"
        raise StoreError(msg) from error


def check_limit(limit: int | None, offset: int = 0) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        msg = f"limit={limit!r} is invalid; allowed: an integer >= 1, or None for every run"
        raise StoreError(msg)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        msg = f"offset={offset!r} is invalid; allowed: an integer >= 0"
        raise StoreError(msg)


def pick_run_id(prefix: str, matches: Sequence[RunRecord], *, where: str) -> str:
    """The run id ``prefix`` names among ``matches`` (runs whose id starts with it).

    Raises:
        StoreError: no match, or several (their ids, flows and start times listed).
    """
    exact = [run for run in matches if run.run_id == prefix]
    if exact:
        return exact[0].run_id
    if len(matches) == 1:
        return matches[0].run_id
    if not matches:
        msg = (
            f"no run with id or id prefix {prefix!r} in {where}; "
            "`flowkit runs` lists the recorded runs"
        )
        raise StoreError(msg)
    listed = "\n".join(f"  {run.run_id}  {run.flow_name}" for run in matches[:MAX_CANDIDATES])
    more = len(matches) - MAX_CANDIDATES
    tail = f"\n  ... and {more} more" if more > 0 else ""
    msg = (
        f"run id prefix {prefix!r} is ambiguous: it matches {len(matches)} runs in {where}:\n"
        f"{listed}{tail}\nGive more characters of the id."
    )
    raise StoreError(msg)


def check_prefix(prefix: str) -> None:
    if not isinstance(prefix, str) or not prefix.strip():
        msg = f"run id {prefix!r} is invalid; give a run id or a unique prefix of one"
        raise StoreError(msg)


def repair_refusal(run: RunRecord) -> str:
    """Why a run whose orchestrator is alive cannot be repaired."""
    return (
        f"run {run.run_id} of flow {run.flow_name!r} is still running: its orchestrator "
        f"(pid {run.pid} on {run.hostname}) is alive. Wait for it to end, or stop it, "
        "then repair"
    )
