"""The dask executor: attempts on a ``distributed`` cluster, each in its own subprocess.

With an address (``address=``, ``--address`` or ``FLOWKIT_DASK_ADDRESS``) it
connects to a running scheduler at ``start``, so an unreachable one is an error
before any task runs. Without one it starts an ephemeral ``LocalCluster`` of
worker processes when the first attempt is submitted and closes it at
``shutdown``, whatever the run's end: the job cluster of Databricks Workflows.

Each attempt is one dask task, ``_worker.run_on_worker``: on the worker, the
worker's zygote (``_zygote``) hands it a process forked ahead of need while
the attempt claims its token on the scheduler, in one round trip (``_claims``),
and the process runs the attempt as the local executor's do. The task's
function travels by value: pickled once per run with cloudpickle
(``_pickling``); ``_cluster`` checks the options and turns tasks' ``memory``,
``cpus`` and ``pool`` into worker resources. Output comes back as it is
printed, as dask events on a topic of the run; the outcome, the full output and
the exit status come back as the task's result or, when small, as an event
instead, which ends the attempt here at once (``_reports``).
``kill`` cancels the dask task and returns; the worker thread sees it and stops
the attempt's process tree (SIGTERM, ``grace_period``, SIGKILL) before it says
``stopped``, and ``wait`` reports the attempt then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import cloudpickle

from flowkit._errors import DefinitionError
from flowkit._home import home_folder, logs_folder
from flowkit._secrets import Redactor
from flowkit._state import ClusterReport
from flowkit.executors._base import AttemptOutcome, AttemptRequest
from flowkit.executors._wire import encode_request, unpicklable_arguments
from flowkit.executors.dask import _claims as claims
from flowkit.executors.dask._cluster import (
    ADDRESS_VARIABLE,
    connect,
    kill_workers,
    option_problems,
    quicken,
    start_local,
    task_resources,
    unmet_resources,
)
from flowkit.executors.dask._pickling import imported_modules, pickle_functions
from flowkit.executors.dask._reports import (
    HELD_FUTURES,
    STOP_REPORT_SECONDS,
    Attempt,
    Reports,
)
from flowkit.executors.dask._worker import run_on_worker

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._planning.plan import Plan

OutputSink = Callable[[str, int, str], None]


class DaskExecutor(Reports):
    """Runs attempts on a dask cluster; see the module docstring.

    Resources: a task's ``memory``, ``cpus`` and ``pool`` become dask worker
    resources (``resources=`` of ``client.submit``), sent only for a task that
    declares them: ``memory`` (bytes), ``cpus`` (CPUs), and ``pool-NAME`` (1 for
    a task of pool NAME). dask gives such a task only to a worker that declares
    at least as much, and holds it, waiting, until one that does exists; a
    worker runs at once only as many as its declaration covers. A worker
    declares them when started: ``dask worker ADDRESS --resources
    "memory=8e9,cpus=4,pool-warehouse=2"``, or ``LocalCluster(resources={...})``
    for each of its workers. Each worker of the ephemeral cluster declares this
    machine (its memory and CPUs as its cgroup allows, ``_machine``) and each of
    the flow's pools at its size, so a flow that fits this machine runs on it
    unchanged. A pool's cap within a run is the run's scheduler's, whatever the
    executor; a ``pool-NAME`` resource caps NAME's tasks per worker across every
    run sharing the cluster. A task's ``memory`` is also its limit: the worker's
    zygote samples the attempt's process tree and kills one over it, which fails
    ``MemoryLimitExceeded`` (retried like any failure).

    Args:
        address: ``tcp://HOST:PORT`` of a running scheduler; ``$FLOWKIT_DASK_ADDRESS``
            when None, else an ephemeral local cluster.
        workers: worker processes of the ephemeral cluster (default: one per core).
        threads_per_worker: attempts each of its workers runs at once.
        grace_period: seconds between SIGTERM and SIGKILL when an attempt is stopped.
        connect_timeout: how long to try to reach the scheduler at ``address``.
        log_dir: where per-attempt logs go (as the local executor's).
    """

    name: ClassVar[str] = "dask"
    can_preempt: ClassVar[bool] = True

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        threads_per_worker: int = 1,
        grace_period: float = 5.0,
        connect_timeout: float = 10.0,
        log_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._address_source = "as given" if address else f"from {ADDRESS_VARIABLE}"
        address = address or os.environ.get(ADDRESS_VARIABLE) or None
        self.address = address
        #: An ephemeral cluster's workers are this machine: the run admits memory and CPUs
        #: against it, as for the local executor. A scheduler's workers declare their own.
        self.runs_attempts_here = address is None
        self._workers = workers
        self.workers = workers if isinstance(workers, int) else os.cpu_count() or 1
        self.threads_per_worker = threads_per_worker
        self.grace_period = grace_period
        self.connect_timeout = connect_timeout
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.on_output: OutputSink | None = None
        #: The cluster of the last run, once it has ended (None before, or if none started).
        self.cluster_report: ClusterReport | None = None
        self._client: Any = None
        self._cluster: Any = None
        self._cluster_started: float | None = None
        self._startup_seconds = 0.0
        self._capacity: int | None = None
        self._worker_count = 0
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._attempts: dict[str, Attempt] = {}
        self._by_token: dict[str, Attempt] = {}
        self._reported: set[str] = set()
        self._freed = threading.Condition()
        self._spent: list[Any] = []
        self._finished: list[AttemptOutcome] = []
        self._functions: dict[str, bytes] = {}
        self._run_id = ""
        self._home = ""
        self._repair_count = 0
        self._flow_name = ""
        self._run_log_dir: Path | None = None
        self._redactor = Redactor()  # the run's, from start
        self._upstream: dict[str, tuple[str, ...]] = {}
        self._resources: dict[str, dict[str, float]] = {}
        self._memory: dict[str, int] = {}
        self._modules: dict[str, tuple[str, ...]] = {}
        self._pools: dict[str, int] = {}
        #: The scheduler's claim handler (``_claims``), None where it would not take it.
        self._claim_handler: str | None = None

    @property
    def capacity(self) -> int:
        if self._capacity is not None:
            return self._capacity
        return self.workers * self.threads_per_worker

    @property
    def topic(self) -> str:
        return f"flowkit-{self._run_id}-{self._repair_count}"

    @property
    def _claims(self) -> tuple[str, str]:
        """Where this run's attempts register with the scheduler (``_worker.run_on_worker``)."""
        return ("flowkit", f"{self._run_id}.{self._repair_count}")

    # -- lifecycle -------------------------------------------------------------------------
    def start(
        self,
        plan: Plan,
        clock: Clock,
        *,
        run_id: str,
        repair_count: int = 0,
        on_output: OutputSink | None = None,
    ) -> None:
        self.on_output = on_output
        self._redactor = Redactor.for_run()
        self._run_id = run_id or uuid.uuid4().hex
        self._repair_count = repair_count
        self._flow_name = plan.name
        self._upstream = dict(plan.upstream)
        self.cluster_report = None
        self._resources = task_resources(plan)
        self._memory = {name: spec.memory for name, spec in plan.tasks.items() if spec.memory}
        self._pools = dict(plan.flow.pools)
        self._check_options()
        self._functions = pickle_functions(plan)
        self._modules = {name: imported_modules(spec.fn) for name, spec in plan.tasks.items()}
        # Child runs (run-flow, for-each) are recorded here when the worker sees this folder.
        self._home = str(home_folder())
        base = self.log_dir if self.log_dir is not None else logs_folder()
        self._run_log_dir = base / self._run_id
        if repair_count:
            self._run_log_dir = self._run_log_dir / f"repair-{repair_count}"
        if self.address is not None:
            self._connect()

    def provision(self) -> None:
        """Start the ephemeral cluster, if there is to be one: the first task is ready."""
        if self._client is None:
            self._start_cluster()

    def submit(self, request: AttemptRequest) -> None:
        self.provision()
        try:
            fields, arguments = encode_request(request, with_edges=False)
            fields["upstream_edges"] = self._upstream  # plain dict, not the plan's mapping
            payload = cloudpickle.dumps(
                (self._functions[request.task_key], fields, arguments, self._home),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        except Exception as error:  # the attempt fails; the run goes on per run_if
            self._finished.append(unpicklable_arguments(request, error))
            return
        if len(self._spent) >= HELD_FUTURES:
            self._spent.clear()
        self._wait_for_a_thread(self.capacity)
        token = uuid.uuid4().hex
        attempt_name = f"{request.task_key}-{request.attempt}"
        key = f"flowkit-{attempt_name}-{self._repair_count}-{token[:12]}"
        future = self._client.submit(
            run_on_worker,
            payload,
            token=token,
            topic=self.topic,
            claim=(*self._claims, token),
            claim_handler=self._claim_handler,
            memory=self._memory.get(request.task_key),
            modules=self._modules.get(request.task_key, ()),
            timeout=request.timeout,
            grace_period=self.grace_period,
            key=key,
            pure=False,
            retries=0,
            resources=self._resources.get(request.task_key),  # None: any worker
        )
        attempt = Attempt(
            task_key=request.task_key,
            attempt=request.attempt,
            token=token,
            future=future,
            submitted_at=time.time(),
        )
        self._attempts[request.task_key] = attempt
        self._by_token[token] = attempt
        future.add_done_callback(lambda done, token=token: self._future_done(token))

    def kill(self, task_key: str) -> bool:
        """Cancel the attempt's dask task; returns at once, True.

        ``wait`` reports the attempt once its worker says its processes are gone (or, for
        an attempt no worker had started, a second later).
        """
        attempt = self._attempts.get(task_key)
        if attempt is None:
            return False
        if attempt.killed:
            return True
        attempt.killed = True
        attempt.stop_deadline = time.monotonic() + (
            self.grace_period + STOP_REPORT_SECONDS if attempt.started else 1.0
        )
        if self._client is None or self._client.status != "running":
            attempt.stopped = True  # no scheduler to tell: its workers stop what they run
            return True
        with contextlib.suppress(Exception):
            self._client.cancel([attempt.future], reason="flowkit: attempt stopped")
        # Whether a worker has its processes to stop comes back as a "started" event.
        keys = [*self._claims, attempt.token]
        claims.watch(self._client, keys, self.topic, handler=self._claim_handler)
        return True

    def shutdown(self) -> None:
        """Cancel what still runs, close the client, and close an ephemeral cluster.

        Ctrl-C is held off meanwhile (each step has a time limit): an interrupted
        close would leave the cluster half closed, and dask's exit handler waiting
        on it. Should one land anyway, the cluster's workers are killed at once.
        """
        held = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if held else None
        try:
            self._shutdown()
        except KeyboardInterrupt:
            if self._cluster is not None:
                kill_workers(self._cluster)
            self._client = self._cluster = None
        finally:
            if held:
                signal.signal(signal.SIGINT, previous)

    def _shutdown(self) -> None:
        futures = [attempt.future for attempt in self._attempts.values()]
        client, cluster = self._client, self._cluster
        self._attempts.clear()
        with self._freed:
            self._reported.clear()
        if client is not None and client.status == "running":
            with contextlib.suppress(Exception):
                if futures:
                    client.cancel(futures, reason="flowkit: run over")
                if cluster is None:  # a long-lived scheduler: leave no claims, no topic
                    claims.release(
                        client, list(self._claims), self.topic, handler=self._claim_handler
                    )
        if client is not None:
            lost = client.status != "running"
            if lost:  # it would try to reconnect, then log the failure at length
                logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
            with contextlib.suppress(Exception):
                client.close(timeout=1 if lost else 10)
        if cluster is not None:
            try:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=30)
            except KeyboardInterrupt:  # Ctrl-C again: no more grace for the workers
                kill_workers(cluster)
        self._spent.clear()  # let go of once the client is closed: nothing more to tell
        self._client = self._cluster = None
        if self._cluster_started is not None:
            self.cluster_report = ClusterReport(
                address=self.address or "ephemeral",
                ephemeral=cluster is not None,
                workers=self._worker_count,
                startup_seconds=self._startup_seconds,
                lifetime_seconds=time.monotonic() - self._cluster_started,
            )
            self._cluster_started = None

    def _check_options(self) -> None:
        """Every problem with the options, at once, before anything starts."""
        problems = option_problems(
            f"flow {self._flow_name!r}, dask executor",
            address=self.address,
            address_source=self._address_source,
            workers=self._workers,
            threads_per_worker=self.threads_per_worker,
            grace_period=self.grace_period,
        )
        if problems:
            raise DefinitionError("\n".join(problems), problems)

    # -- the cluster -----------------------------------------------------------------------
    def _connect(self) -> None:
        started = time.monotonic()
        self._client = connect(self.address, self.connect_timeout, self._flow_name)
        self._startup_seconds = time.monotonic() - started
        self._cluster_started = started
        nthreads = self._client.nthreads()
        self._worker_count = len(nthreads)
        self._capacity = max(1, sum(nthreads.values()))
        self._subscribe()
        if self._resources:  # dask holds a task no worker can run until one that can joins
            where = f"flow {self._flow_name!r}, dask executor"
            for problem in unmet_resources(self._client, where, self._resources, self.address):
                warnings.warn(f"{problem}; it waits until one that does joins", RuntimeWarning, 2)

    def _start_cluster(self) -> None:
        started = time.monotonic()
        self._cluster, self._client = start_local(
            self.workers, self.threads_per_worker, self._pools, self._flow_name
        )
        self._cluster_started = started
        self._startup_seconds = time.monotonic() - started
        self._worker_count = self.workers
        self._subscribe()

    def _subscribe(self) -> None:
        self._client.subscribe_topic(self.topic, lambda event: self._events.put(("event", event)))
        self._claim_handler = claims.install(self._client)
        quicken(self._client)

    # -- events ----------------------------------------------------------------------------
