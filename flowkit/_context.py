"""The task context of the running attempt: task_values, params and child runs (DESIGN.md §3).

A context is plain data (``TaskContext``) installed in a contextvar for the
duration of one attempt, in whatever process runs it; ``task_values`` and
``params`` read it. A process the attempt started (a script, a notebook
kernel) has none installed: it loads the context the attempt exported
(``_channel``), and the values it sets go back to the attempt. Outside a run
there is no context, and both say so.

For-each and run-flow tasks start child runs from inside an attempt. They sit
in the definition layer, below the engine, so they reach it through the
``ChildRuns`` protocol declared here: the engine provides its implementation
when it is imported (``provide_child_runs``), and ``child_runs()`` returns it.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from flowkit import _channel
from flowkit._errors import FlowkitError, TaskValueError
from flowkit._state import RunTrigger

if TYPE_CHECKING:
    from flowkit._state import RunResult

#: The most a task value may take, as UTF-8 JSON (Databricks' limit).
MAX_VALUE_BYTES = 48 * 1024


class ChildRuns(Protocol):
    """How a task starts, repairs and finds child runs: the engine's side of it."""

    def run(
        self,
        flow: Any,
        *,
        parent_run_id: str | None,
        executor: str,
        params: Mapping[str, Any] | None = None,
        params_from_text: bool = False,
    ) -> RunResult:
        """Run ``flow`` (a ``Flow`` or ``FlowSpec``) to its end, recorded as a child run."""
        ...

    def repair(self, flow: Any, run_id: str, *, executor: str) -> RunResult:
        """Repair the child run ``run_id`` of ``flow``: only what did not succeed runs."""
        ...

    def failed_child_run(self, flow_name: str, parent_run_id: str) -> str | None:
        """The latest child run of ``flow_name`` in ``parent_run_id``, if it did not succeed."""
        ...


_child_runs: ChildRuns | None = None


def provide_child_runs(provider: ChildRuns) -> None:
    """Install the engine's ``ChildRuns``; the engine calls it when it is imported."""
    global _child_runs
    _child_runs = provider


def child_runs() -> ChildRuns:
    """The installed ``ChildRuns``.

    Raises:
        FlowkitError: no engine is loaded in this process (it is whenever flowkit is).
    """
    if _child_runs is None:
        msg = "no flowkit engine is loaded in this process to start a child run; import flowkit"
        raise FlowkitError(msg)
    return _child_runs


@attrs.define
class TaskContext:
    """What one attempt may see: its run, its params and its upstream tasks' values."""

    run_id: str
    flow_name: str
    task_key: str
    attempt: int = 1
    params: Mapping[str, Any] = attrs.field(factory=dict)
    #: task_key -> {key: value} for the upstream tasks (direct or transitive) that set any.
    upstream_values: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    #: Every task's direct dependencies; None when only ``upstream_values`` are upstream.
    upstream_edges: Mapping[str, tuple[str, ...]] | None = None
    #: Which repair of the run this is (0: the first run), and when the run started.
    repair_count: int = 0
    run_started_at: float = 0.0
    #: What started the run, for ``{{job.trigger.*}}``.
    trigger: RunTrigger = attrs.field(factory=RunTrigger)
    #: Values this attempt has set, in the order set.
    values_set: dict[str, Any] = attrs.field(factory=dict)
    #: In a process the attempt started: the attempt's channel folder, where values go.
    channel: Any = None
    _ancestors: set[str] | None = attrs.field(default=None, init=False, repr=False)

    def missing_task(self, task_key: str) -> str | None:
        """What to say when the flow has no task ``task_key``; None if it has, or if unknown.

        Only a run knows every task of the flow (``upstream_edges``); a test's
        context without them cannot tell a missing task from one that is not upstream.
        """
        if self.upstream_edges is None or task_key in self.upstream_edges:
            return None
        close = difflib.get_close_matches(str(task_key), list(self.upstream_edges), n=3)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        return f"flow {self.flow_name!r} has no task {task_key!r}{hint}"

    def is_upstream(self, task_key: str) -> bool:
        """Whether ``task_key`` is a direct or transitive dependency of this task."""
        if task_key in self.upstream_values:
            return True
        if self.upstream_edges is None:
            return False
        if self._ancestors is None:  # walked once, on the first read that needs it
            seen: set[str] = set()
            stack = list(self.upstream_edges.get(self.task_key, ()))
            while stack:
                name = stack.pop()
                if name not in seen:
                    seen.add(name)
                    stack.extend(self.upstream_edges.get(name, ()))
            self._ancestors = seen
        return task_key in self._ancestors


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "flowkit_task_context", default=None
)


def current_context() -> TaskContext | None:
    """The context of the attempt running in this thread (or that started this process)."""
    context = _current.get()
    if context is None and (folder := _channel.exported_folder()) is not None:
        return _exported_context(folder)
    return context


_exported: dict[str, TaskContext] = {}


def _exported_context(folder: Any) -> TaskContext:
    """The context an attempt exported to ``folder``, loaded once per process."""
    key = str(folder)
    if key not in _exported:
        data = _channel.load(folder)
        _exported[key] = TaskContext(
            run_id=data["run_id"],
            flow_name=data["flow_name"],
            task_key=data["task_key"],
            attempt=data["attempt"],
            params=data["params"],
            upstream_values=data["upstream_values"],
            upstream_edges=_channel.load_edges(folder, data),
            repair_count=data["repair_count"],
            run_started_at=data["run_started_at"],
            trigger=RunTrigger(**data["trigger"]),
            channel=folder,
        )
    return _exported[key]


#: A parameter JSON cannot hold reaches other processes as its repr. One encoder for
#: every attempt: json.dumps with an option builds a new one each call.
_CONTEXT_ENCODER = json.JSONEncoder(default=repr)


def exported(context: TaskContext) -> str:
    """``context`` as the JSON the attempt's other processes load (``_channel``).

    Its edges are not in it: they are the run's (``_channel.export`` adds them).
    """
    return _CONTEXT_ENCODER.encode(
        {
            "run_id": context.run_id,
            "flow_name": context.flow_name,
            "task_key": context.task_key,
            "attempt": context.attempt,
            "params": dict(context.params),
            "upstream_values": {key: dict(value) for key, value in context.upstream_values.items()},
            "repair_count": context.repair_count,
            "run_started_at": context.run_started_at,
            "trigger": {
                "type": context.trigger.type,
                "time": context.trigger.time,
                "file_arrival_location": context.trigger.file_arrival_location,
                "backfill_id": context.trigger.backfill_id,
            },
        }
    )


@contextlib.contextmanager
def installed(context: TaskContext) -> Iterator[TaskContext]:
    """Make ``context`` current for the body of the ``with``."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def encode_value(key: Any, value: Any, *, where: str) -> Any:
    """Check a task value against the rules and return it as JSON gives it back.

    Returning the decoded JSON (a tuple becomes a list) makes every executor
    hand downstream tasks exactly the same value.
    """
    if not isinstance(key, str) or not key:
        msg = f"{where}: task value key {key!r} is invalid; use a non-empty string"
        raise TaskValueError(msg)
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        msg = (
            f"{where}: task value {key!r} is not JSON-serialisable ({error}); "
            "set a str, int, float, bool, None, or a list/dict of those"
        )
        raise TaskValueError(msg) from None
    size = len(text.encode())
    if size > MAX_VALUE_BYTES:
        msg = (
            f"{where}: task value {key!r} takes {size:,} bytes as JSON, over the "
            f"{MAX_VALUE_BYTES:,}-byte limit; store the data elsewhere and pass its path"
        )
        raise TaskValueError(msg)
    return json.loads(text)


class TaskValues:
    """Small JSON values passed between tasks, like Databricks' ``dbutils.jobs.taskValues``."""

    def __init__(self) -> None:
        #: What ``set`` kept when called outside a run, for inspection in tests.
        self.set_outside_run: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value`` for downstream tasks to read.

        Raises:
            TaskValueError: the key is not a non-empty string, or the value is
                not JSON-serialisable or is over 48 KiB as JSON.
        """
        context = current_context()
        if context is None:
            self.set_outside_run[key] = encode_value(key, value, where="task_values.set")
            return
        where = f"flow {context.flow_name!r}, task {context.task_key!r}: task_values.set"
        context.values_set[key] = encode_value(key, value, where=where)
        if context.channel is not None:  # a process the attempt started: tell the attempt
            _channel.append_value(context.channel, key, context.values_set[key])

    def get(
        self,
        task_key: str,
        key: str,
        default: Any = MISSING,
        debug_value: Any = MISSING,
    ) -> Any:
        """Read the value ``key`` set by the upstream task ``task_key``.

        Outside a run returns ``debug_value`` (a test should say what it expects).

        Raises:
            TaskValueError: ``task_key`` is not upstream of the calling task; the
                key is missing and no default is given; or, outside a run, no
                debug_value is given.
        """
        context = current_context()
        if context is None:
            if debug_value is MISSING:
                msg = (
                    f"task_values.get(task_key={task_key!r}, key={key!r}) was called outside "
                    "a run and has no debug_value; pass debug_value=... to say what a test "
                    "expects, or use flowkit.testing.task_context(values=...)"
                )
                raise TaskValueError(msg)
            return debug_value
        where = f"flow {context.flow_name!r}, task {context.task_key!r}: task_values.get"
        if not context.is_upstream(task_key):
            missing = context.missing_task(task_key)
            if missing is not None:
                msg = (
                    f"{where}(task_key={task_key!r}): {missing}; task_key names an upstream "
                    f"task of {context.task_key!r} whose value it reads"
                )
                raise TaskValueError(msg)
            msg = (
                f"{where}(task_key={task_key!r}): {task_key!r} is not upstream of "
                f"{context.task_key!r}; only a direct or transitive dependency can be read. "
                f"Add {task_key!r} to depends_on of {context.task_key!r}"
            )
            raise TaskValueError(msg)
        values = context.upstream_values.get(task_key, {})
        if key in values:
            return values[key]
        if default is MISSING:
            known = ", ".join(sorted(values)) or "none"
            msg = (
                f"{where}(task_key={task_key!r}, key={key!r}): task {task_key!r} set no "
                f"value {key!r} (it set: {known}); pass default=... to allow that"
            )
            raise TaskValueError(msg)
        return default


class Params(Mapping[str, Any]):
    """The running flow's parameters, read-only; empty outside a run."""

    def _params(self) -> Mapping[str, Any]:
        context = current_context()
        return context.params if context is not None else {}

    def __getitem__(self, key: str) -> Any:
        params = self._params()
        if key in params:
            return params[key]
        context = current_context()
        if context is None:
            msg = (
                f"params[{key!r}] was read outside a run; run the flow, or use "
                "flowkit.testing.task_context(params=...) in a test"
            )
        else:
            known = ", ".join(sorted(params)) or "none"
            msg = (
                f"flow {context.flow_name!r}, task {context.task_key!r}: no parameter "
                f"{key!r}; declared: {known}. Declare it in Flow(..., params={{...}})"
            )
        raise KeyError(msg)

    def __iter__(self) -> Iterator[str]:
        return iter(self._params())

    def __len__(self) -> int:
        return len(self._params())

    def __repr__(self) -> str:
        return f"params({dict(self._params())!r})"


task_values = TaskValues()
params = Params()
