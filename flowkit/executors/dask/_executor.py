"""The dask executor: attempts on a ``distributed`` cluster, each in its own subprocess.

With an address (``address=``, ``--address`` or ``FLOWKIT_DASK_ADDRESS``) it
connects to a running scheduler at ``start``, so an unreachable one is an error
before any task runs. Without one it starts an ephemeral ``LocalCluster`` of
worker processes when the first attempt is submitted and closes it at
``shutdown``, whatever the run's end: the job cluster of Databricks Workflows.

Each attempt is one dask task, ``remote.run_on_worker``, which runs the
attempt in a supervised subprocess on the worker (see ``remote``). The task's
function travels by value: pickled once per run with cloudpickle. Output comes
back as it is printed, as dask events on a topic of the run; the outcome, the
full output and the exit status come back as the task's result. ``kill``
cancels the dask task; the worker thread sees it and stops the attempt's
process tree (SIGTERM, ``grace_period``, SIGKILL) before it says ``stopped``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import queue
import re
import signal
import sys
import threading
import time
import types
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import cloudpickle

from flowkit._errors import DefinitionError, ExecutorError
from flowkit._files import write_private_file
from flowkit._state import ClusterReport, ErrorInfo, TaskState
from flowkit.executors import _processes as procs
from flowkit.executors._base import AttemptOutcome, AttemptRequest, PumpedWait
from flowkit.executors._local import default_log_dir, unpicklable_arguments
from flowkit.executors.dask._worker import import_attribute, run_on_worker

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._planning.plan import Plan

OutputSink = Callable[[str, int, str], None]

ADDRESS_VARIABLE = "FLOWKIT_DASK_ADDRESS"
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


@attrs.define
class _Attempt:
    task_key: str
    attempt: int
    token: str
    future: Any
    submitted_at: float
    lines_seen: int = 0
    started: bool = False
    stopped: bool = False
    killed: bool = False


class DaskExecutor(PumpedWait):
    """Runs attempts on a dask cluster; see the module docstring.

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
        self._attempts: dict[str, _Attempt] = {}
        self._by_token: dict[str, _Attempt] = {}
        self._finished: list[AttemptOutcome] = []
        self._functions: dict[str, bytes] = {}
        self._run_id = ""
        self._home = ""
        self._repair_count = 0
        self._flow_name = ""
        self._run_log_dir: Path | None = None
        self._upstream: dict[str, tuple[str, ...]] = {}

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
        """Where this run's attempts register with the scheduler (``remote.run_on_worker``)."""
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
        self._run_id = run_id or uuid.uuid4().hex
        self._repair_count = repair_count
        self._flow_name = plan.name
        self._upstream = dict(plan.upstream)
        self.cluster_report = None
        self._check_options()
        self._functions = _pickle_functions(plan)
        # Child runs (run-flow, for-each) are recorded here when the worker sees this folder.
        self._home = str(Path(os.environ.get("FLOWKIT_HOME") or ".flowkit").absolute())
        base = self.log_dir if self.log_dir is not None else default_log_dir()
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
        fields = {
            field.name: getattr(request, field.name)
            for field in attrs.fields(AttemptRequest)
            if field.name != "fn"
        }
        fields["params"] = dict(request.params)
        fields["arguments"] = dict(request.arguments)
        fields["upstream_values"] = {k: dict(v) for k, v in request.upstream_values.items()}
        fields["upstream_edges"] = self._upstream
        try:
            payload = cloudpickle.dumps(
                (self._functions[request.task_key], fields, self._home),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        except Exception as error:  # the attempt fails; the run goes on per run_if
            self._finished.append(unpicklable_arguments(request, error))
            return
        token = uuid.uuid4().hex
        attempt_name = f"{request.task_key}-{request.attempt}"
        key = f"flowkit-{attempt_name}-{self._repair_count}-{token[:12]}"
        future = self._client.submit(
            run_on_worker,
            payload,
            token=token,
            topic=self.topic,
            claim=(*self._claims, token),
            timeout=request.timeout,
            grace_period=self.grace_period,
            key=key,
            pure=False,
            retries=0,
        )
        attempt = _Attempt(
            task_key=request.task_key,
            attempt=request.attempt,
            token=token,
            future=future,
            submitted_at=time.time(),
        )
        self._attempts[request.task_key] = attempt
        self._by_token[token] = attempt
        future.add_done_callback(lambda done, token=token: self._events.put(("done", token)))

    def kill(self, task_key: str) -> None:
        """Cancel the attempt's dask task and wait until the worker has stopped its processes."""
        attempt = self._attempts.pop(task_key, None)
        if attempt is None:
            return
        attempt.killed = True
        if self._client is None or self._client.status != "running":
            return  # no scheduler to tell: its workers stop what they run as they close
        with contextlib.suppress(Exception):
            self._client.cancel([attempt.future], reason="flowkit: attempt stopped")
        # A worker that had not started it will not; one that had, says when it has stopped.
        deadline = time.monotonic() + 1.0
        extended = False
        while not attempt.stopped:
            now = time.monotonic()
            if attempt.started and not extended:
                deadline, extended = now + self.grace_period + 15.0, True
            if now >= deadline:
                break
            self._pump(deadline - now)
        self._finished = [outcome for outcome in self._finished if outcome.task_key != task_key]

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
                _kill_workers(self._cluster)
            self._client = self._cluster = None
        finally:
            if held:
                signal.signal(signal.SIGINT, previous)

    def _shutdown(self) -> None:
        futures = [attempt.future for attempt in self._attempts.values()]
        client, cluster = self._client, self._cluster
        self._attempts.clear()
        if client is not None and client.status == "running":
            with contextlib.suppress(Exception):
                if futures:
                    client.cancel(futures, reason="flowkit: run over")
                client.unsubscribe_topic(self.topic)
                if cluster is None:  # a long-lived scheduler: leave no claims behind
                    client.set_metadata(list(self._claims), {})
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
                _kill_workers(cluster)
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
        where = f"flow {self._flow_name!r}, dask executor"
        problems = []
        if self.address is not None and not _ADDRESS.match(self.address):
            problems.append(
                f"{where}: scheduler address {self.address!r} ({self._address_source}) is "
                "invalid; give it as tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786"
            )
        if self.address is not None and self._workers is not None:
            problems.append(
                f"{where}: workers={self._workers!r} sizes an ephemeral cluster, but an address "
                f"({self.address}) is given; drop one of them"
            )
        for option, value in (
            ("workers", self._workers),
            ("threads_per_worker", self.threads_per_worker),
        ):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                problems.append(f"{where}: {option}={value!r} is invalid; give an int >= 1")
        if not isinstance(self.grace_period, (int, float)) or self.grace_period < 0:
            problems.append(f"{where}: grace_period={self.grace_period!r}; give seconds >= 0")
        if problems:
            raise DefinitionError("\n".join(problems), problems)

    # -- the cluster -----------------------------------------------------------------------
    def _connect(self) -> None:
        from distributed import Client

        started = time.monotonic()
        try:
            self._client = Client(
                self.address,
                timeout=self.connect_timeout,
                set_as_default=False,
                name=f"flowkit-{self._flow_name}",
            )
        except (OSError, TimeoutError) as error:
            msg = (
                f"flow {self._flow_name!r}: cannot reach the dask scheduler at {self.address} "
                f"within {self.connect_timeout:g}s ({type(error).__name__}: {error}). Check "
                f"--address / {ADDRESS_VARIABLE}, or start one with `dask scheduler`"
            )
            raise ExecutorError(msg) from error
        self._startup_seconds = time.monotonic() - started
        self._cluster_started = started
        nthreads = self._client.nthreads()
        self._worker_count = len(nthreads)
        self._capacity = max(1, sum(nthreads.values()))
        self._subscribe()

    def _start_cluster(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        started = time.monotonic()
        try:
            # Only our own claim decides what a lost worker means: no retry by dask.
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    dashboard_address=None,
                    # Its small HTTP server (health, metrics) on any free port, not 8787.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster, set_as_default=False)
        except Exception as error:
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close()
            self._cluster = None
            msg = f"flow {self._flow_name!r}: the ephemeral dask cluster did not start: {error}"
            raise ExecutorError(msg) from error
        self._cluster_started = started
        self._startup_seconds = time.monotonic() - started
        self._worker_count = self.workers
        self._subscribe()

    def _subscribe(self) -> None:
        self._client.subscribe_topic(self.topic, lambda event: self._events.put(("event", event)))

    # -- events ----------------------------------------------------------------------------
    def _pump(self, timeout: float | None) -> None:
        """Handle the events that come within ``timeout``: output, starts, stops, ends."""
        try:
            kind, data = self._events.get(timeout=0.5 if timeout is None else min(timeout, 0.5))
        except queue.Empty:
            self._check_scheduler()
            return
        while True:
            if kind == "event":
                self._on_event(data[1])
            else:
                self._on_done(data)
            try:
                kind, data = self._events.get_nowait()
            except queue.Empty:
                return

    def _check_scheduler(self) -> None:
        client = self._client
        if client is None or client.status in ("running", "connecting", "newly-created"):
            return
        raise ExecutorError(self._lost_message())

    def _lost_message(self) -> str:
        return (
            f"lost the connection to the dask scheduler at "
            f"{self.address or 'the ephemeral cluster'}; the run cannot go on"
        )

    def _on_event(self, message: Any) -> None:
        attempt = self._by_token.get(message.get("token")) if isinstance(message, dict) else None
        if attempt is None:
            return
        if message.get("started"):
            attempt.started = True
        if message.get("stopped"):
            attempt.stopped = True
            if attempt.killed:  # nothing more to hear about it
                self._by_token.pop(attempt.token, None)
        if "lines" in message and not attempt.killed:
            lines = message["lines"]
            first = message["first"]
            if first == attempt.lines_seen:  # in order; a gap is filled from the result
                self._emit(attempt, lines)

    def _emit(self, attempt: _Attempt, lines: list[str]) -> None:
        attempt.lines_seen += len(lines)
        if self.on_output is not None:
            for line in lines:
                self.on_output(attempt.task_key, attempt.attempt, line)

    def _on_done(self, token: str) -> None:
        attempt = self._by_token.get(token)
        if attempt is None:
            return
        if attempt.killed or self._attempts.get(attempt.task_key) is not attempt:
            # Cancelling a future ends it here at once; only the worker knows when its
            # processes are gone (the "stopped" event), unless the attempt really ended.
            if attempt.future.status in ("finished", "error"):
                attempt.stopped = True
            if attempt.stopped:
                del self._by_token[token]
            return
        del self._by_token[token]
        del self._attempts[attempt.task_key]
        self._finished.append(self._outcome(attempt))

    def _outcome(self, attempt: _Attempt) -> AttemptOutcome:
        future = attempt.future
        where = f"task {attempt.task_key!r} attempt {attempt.attempt}"
        if future.status == "finished":
            try:
                report = future.result()
            except Exception as error:
                return _failed(attempt, "WorkerError", f"{where}: {error}")
            return self._from_report(attempt, report)
        if future.status == "cancelled":
            if self._client is None or self._client.status != "running":
                raise ExecutorError(self._lost_message())
            return _failed(attempt, "Cancelled", f"{where} was cancelled by the dask scheduler")
        error = future.exception()
        if type(error).__name__ == "KilledWorker":
            message = f"{where}: the dask worker running it died ({error})"
            return _failed(attempt, "WorkerLost", message)
        if isinstance(error, ModuleNotFoundError):
            message = (
                f"{where} could not start on the dask worker: {error}. Install flowkit (and the "
                "flow's dependencies) on every worker"
            )
            return _failed(attempt, "WorkerSetupError", message)
        return _failed(attempt, type(error).__name__, f"{where}: {error}")

    def _from_report(self, attempt: _Attempt, report: dict[str, Any]) -> AttemptOutcome:
        where = f"task {attempt.task_key!r} attempt {attempt.attempt}"
        if "lost" in report:
            message = (
                f"{where}: the dask worker running it ({report['lost']}) died; "
                "flowkit retries it per its retries, dask does not run it again"
            )
            return _failed(attempt, "WorkerLost", message)
        output = report.get("output", b"")
        log_path = self._write_log(attempt, output)
        if output:
            lines = output.decode(errors="replace").split("\n")
            if lines and not lines[-1]:
                lines.pop()
            if len(lines) > attempt.lines_seen:
                self._emit(attempt, lines[attempt.lines_seen :])
        exit_code, signal_number = procs.exit_of(report.get("status"))
        if report.get("timed_out"):
            return _failed(
                attempt,
                "TimeoutError",
                f"{where} timed out on worker {report.get('worker')}; its process tree was killed",
                state=TaskState.TIMED_OUT,
                log_path=log_path,
            )
        if report.get("outcome"):
            try:
                outcome = pickle.loads(report["outcome"])
            except Exception as error:
                message = f"{where} sent an outcome that could not be read ({error})"
                return _failed(attempt, "ProcessCrashed", message, log_path=log_path)
            return attrs.evolve(
                outcome, log_path=log_path, exit_code=exit_code, signal=signal_number
            )
        status = report.get("status")
        described = procs.describe_status(status) if status is not None and status >= 0 else "ended"
        message = (
            f"the process of {where} on dask worker {report.get('worker')} {described} "
            "without reporting a result"
        )
        return _failed(
            attempt,
            "ProcessCrashed",
            message,
            log_path=log_path,
            exit_code=exit_code,
            signal=signal_number,
            started_at=report.get("started_at"),
            ended_at=report.get("ended_at"),
        )

    def _write_log(self, attempt: _Attempt, output: bytes) -> str | None:
        if not output or self._run_log_dir is None:
            return None
        path = self._run_log_dir / f"{attempt.task_key}.{attempt.attempt}.log"
        try:
            write_private_file(path, output)
        except OSError as error:  # a full disk: the log is lost, the attempt's outcome stands
            msg = (
                f"task {attempt.task_key!r}, attempt {attempt.attempt}: its log {path} cannot "
                f"be written ({error.strerror or error}); its output is not kept"
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=1)
            return None
        return str(path)


def _kill_workers(cluster: Any) -> None:
    """SIGKILL the worker processes of a LocalCluster, and everything below them."""
    for nanny in list(getattr(cluster, "workers", {}).values()):
        with contextlib.suppress(Exception):
            procs.kill_tree(nanny.process.process.pid)


def _pickle_functions(plan: Plan) -> dict[str, bytes]:
    """Every task's function, pickled by value once; all that cannot be, in one error."""
    pickled, problems = {}, []
    for name, task in plan.tasks.items():
        try:
            pickled[name] = _dumps_function(task.fn)
        except Exception as error:
            problems.append(
                f"flow {plan.name!r}, task {name!r}: its function cannot be pickled to ship it "
                f"to dask workers ({type(error).__name__}: {error}). Create such objects "
                "(locks, connections, open files, clients) inside the function, not around it"
            )
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    return pickled


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, with some objects sent as "import this name" rather than by value."""

    def __init__(self, file: io.BytesIO, references: dict[int, tuple[str, str]]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.references = references

    def reducer_override(self, obj: Any) -> Any:
        reference = self.references.get(id(obj))
        if reference is not None:
            return import_attribute, reference
        return super().reducer_override(obj)


def _dumps_function(fn: Callable[..., Any]) -> bytes:
    """Pickle a task's function by value, its globals too, but for importable singletons.

    A flow file's ``from loguru import logger`` (or any module-level object of an
    installed package) reaches the function as a global; by value, it would be a
    copy (or fail: a logger holds open streams). Such objects go by reference, as
    the package's own name, which workers import from their installation.
    """
    buffer = io.BytesIO()
    _Pickler(buffer, _importable_objects(fn)).dump(fn)
    return buffer.getvalue()


def _importable_objects(fn: Callable[..., Any]) -> dict[int, tuple[str, str]]:
    """Globals and closure values of ``fn`` that an installed module exposes by name."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    names = set(code.co_names)
    candidates = [(name, value) for name, value in fn.__globals__.items() if name in names]
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        with contextlib.suppress(ValueError):  # an empty cell
            candidates.append((name, cell.cell_contents))
    by_value = cloudpickle.list_registry_pickle_by_value()  # the flow files' modules
    found = {}
    for name, value in candidates:
        if isinstance(value, (type, types.ModuleType, types.FunctionType)):
            continue  # cloudpickle already sends these by reference when it can
        module_name = getattr(type(value), "__module__", "") or ""
        for candidate in (module_name.partition(".")[0], module_name):
            module = sys.modules.get(candidate)
            if module is None or candidate in ("builtins", "__main__", fn.__module__):
                continue
            if candidate in by_value:
                continue
            if getattr(module, name, None) is value:
                found[id(value)] = (candidate, name)
                break
    return found


def _failed(
    attempt: _Attempt,
    type_name: str,
    message: str,
    *,
    state: TaskState = TaskState.FAILED,
    log_path: str | None = None,
    exit_code: int | None = None,
    signal: int | None = None,
    started_at: float | None = None,
    ended_at: float | None = None,
) -> AttemptOutcome:
    return AttemptOutcome(
        task_key=attempt.task_key,
        attempt=attempt.attempt,
        state=state,
        started_at=started_at if started_at is not None else attempt.submitted_at,
        ended_at=ended_at if ended_at is not None else time.time(),
        error=ErrorInfo(type_name=type_name, message=message),
        log_path=log_path,
        exit_code=exit_code,
        signal=signal,
    )
