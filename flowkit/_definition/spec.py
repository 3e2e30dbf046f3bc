"""Frozen data that describes a flow: TaskSpec, FlowSpec, RetryPolicy, RunIf, Dependency.

Every task option is declared once, here, as an attrs field with its validator;
the decorators in ``dsl`` only collect keyword arguments and hand them over.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from flowkit._definition.notify import Health, Notify
from flowkit._definition.schedules import Cron, FileArrival, Periodic
from flowkit._definition.sizes import SIZE_HELP, parse_size
from flowkit._errors import DefinitionError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+")


class RunIf(str, enum.Enum):
    """When a task runs, judged once every dependency is final (DESIGN.md §2)."""

    ALL_SUCCESS = "all_success"
    AT_LEAST_ONE_SUCCESS = "at_least_one_success"
    NONE_FAILED = "none_failed"
    ALL_DONE = "all_done"
    AT_LEAST_ONE_FAILED = "at_least_one_failed"
    ALL_FAILED = "all_failed"

    def __str__(self) -> str:
        return self.value


RUN_IF_VALUES = ", ".join(member.value for member in RunIf)


def _where(flow_name: str | None, task_name: str | None) -> str:
    flow_part = f"flow {flow_name!r}" if flow_name else "no flow"
    return f"{flow_part}, task {task_name!r}" if task_name else flow_part


def option_error(instance: Any, option: str, given: Any, allowed: str) -> DefinitionError:
    """Build the one message shape every invalid option gets."""
    where = _where(getattr(instance, "flow_name", None), getattr(instance, "name", None))
    msg = f"{where}: option {option}={given!r} is invalid; allowed: {allowed}"
    return DefinitionError(msg)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@attrs.frozen
class Dependency:
    """An edge into a task: the upstream task's key, its flow, and a condition's outcome.

    With ``outcome`` (True or False) the upstream task is a condition task and the
    edge is followed only when the condition came out that way; otherwise the
    dependent sees it as ``excluded`` (the branch not taken).
    """

    task_key: str
    flow_name: str | None = None
    outcome: bool | None = None

    def __str__(self) -> str:
        if self.outcome is None:
            return self.task_key
        return f"{self.task_key}.{'if_true' if self.outcome else 'if_false'}"


def _convert_run_if(value: Any) -> Any:
    if isinstance(value, RunIf):
        return value
    try:
        return RunIf(value)
    except ValueError:
        return value  # left for the validator, which names flow and task


def _validate_run_if(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, RunIf):
        raise option_error(instance, "run_if", value, RUN_IF_VALUES)


def _validate_retries(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise option_error(instance, "retries", value, "an integer >= 0, or -1 for unlimited")


def _validate_non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not _is_number(value) or value < 0:
        raise option_error(instance, attribute.name, value, "a finite number of seconds >= 0")


def _validate_backoff(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not _is_number(value) or value < 1:
        raise option_error(instance, "retry_backoff", value, "a finite number >= 1.0")


def _validate_timeout(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not _is_number(value) or value <= 0):
        raise option_error(instance, "timeout", value, "None, or a number of seconds > 0")


def _validate_bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise option_error(instance, attribute.name, value, "True or False")


def _validate_name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise option_error(instance, "name", value, "a non-empty string of [A-Za-z0-9_.-]")


def _validate_pool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise option_error(instance, "pool", value, "a pool's name (a non-empty string) or None")


def _validate_memory(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and parse_size(value) is None:
        raise option_error(instance, "memory", value, f"None, or {SIZE_HELP}")


def _validate_cpus(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not _is_number(value) or value <= 0):
        raise option_error(instance, "cpus", value, "None, or a number of CPUs > 0 (0.5, 1, 4)")


def _validate_callable(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not callable(value):
        where = _where(instance.flow_name, instance.name)
        msg = (
            f"{where}: @task decorates {value!r} of type {type(value).__name__}, "
            "which is not callable; decorate a function (def ...)"
        )
        raise DefinitionError(msg)


def _validate_task_notify(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Notify):
        raise option_error(instance, "notify", value, "Notify(on_failure=[...], ...) or None")
    if value.on_duration_warning:
        raise option_error(
            instance,
            "notify",
            value,
            "on_start, on_success and on_failure for a task; on_duration_warning belongs "
            "to the flow, with its health=Health(run_duration_over=...)",
        )


@attrs.frozen
class TaskSpec:
    """One task: its function and every option of ``@task`` (DESIGN.md §1)."""

    flow_name: str | None
    fn: Callable[..., Any] = attrs.field(validator=_validate_callable)
    name: str = attrs.field(validator=_validate_name)
    depends_on: tuple[Dependency, ...] = ()
    run_if: RunIf = attrs.field(
        default=RunIf.ALL_SUCCESS, converter=_convert_run_if, validator=_validate_run_if
    )
    retries: int = attrs.field(default=0, validator=_validate_retries)
    retry_delay: float = attrs.field(default=0, validator=_validate_non_negative)
    retry_backoff: float = attrs.field(default=1.0, validator=_validate_backoff)
    retry_on_timeout: bool = attrs.field(default=False, validator=_validate_bool)
    timeout: float | None = attrs.field(default=None, validator=_validate_timeout)
    #: A condition task returns a bool; dependents may follow ``.if_true`` or ``.if_false``.
    condition: bool = attrs.field(default=False, validator=_validate_bool)
    #: Who is told when the task starts, succeeds, or fails after its last attempt.
    notify: Notify | None = attrs.field(default=None, validator=_validate_task_notify)
    #: The flow's pool (``Flow(pools={...})``) whose slots the task's attempts take.
    pool: str | None = attrs.field(default=None, validator=_validate_pool)
    #: The most memory the attempt's whole process tree may hold, in bytes (given as
    #: "2GiB", "512MB" or a number); over it the tree is killed. Also what the
    #: scheduler waits to have free before it starts the task (DESIGN.md §9).
    memory: int | None = attrs.field(default=None, validator=_validate_memory)
    #: How many CPUs the task uses: it starts only when that many are not declared
    #: by tasks already running (a Dask worker resource on the dask executor).
    cpus: float | None = attrs.field(default=None, validator=_validate_cpus)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.memory, str):  # validated above: one form from here on
            object.__setattr__(self, "memory", parse_size(self.memory))

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            delay=self.retry_delay,
            backoff=self.retry_backoff,
            on_timeout=self.retry_on_timeout,
        )


#: The options ``@task`` accepts, in the order they are documented.
TASK_OPTIONS = tuple(
    field.name for field in attrs.fields(TaskSpec) if field.name not in ("flow_name", "fn")
)


@attrs.frozen
class RetryPolicy:
    """How often and after how long a failed attempt is tried again."""

    retries: int = 0
    delay: float = 0.0
    backoff: float = 1.0
    on_timeout: bool = False

    def allows(self, attempts_made: int, *, timed_out: bool) -> bool:
        """Whether another attempt may follow ``attempts_made`` attempts, the last failed."""
        if timed_out and not self.on_timeout:
            return False
        return self.retries == -1 or attempts_made <= self.retries

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        return self.delay * self.backoff ** (retry_number - 1)


def _validate_max_parallel(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = (
            f"flow {instance.name!r}: max_parallel={value!r} is invalid; allowed: an integer "
            ">= 1, or None for as many as this machine has CPUs"
        )
        raise DefinitionError(msg)


def _flow_option_error(instance: Any, option: str, value: Any, allowed: str) -> DefinitionError:
    msg = f"flow {instance.name!r}: option {option}={value!r} is invalid; allowed: {allowed}"
    return DefinitionError(msg)


def _validate_schedule(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not isinstance(value, Cron):
        allowed = "a Cron(...), e.g. schedule=Cron('0 0 3 * * ?', timezone='Europe/Amsterdam')"
        raise _flow_option_error(instance, "schedule", value, allowed)


def _validate_trigger(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not isinstance(value, Periodic | FileArrival):
        allowed = "Periodic(...) or FileArrival(...); a Cron goes in schedule="
        raise _flow_option_error(instance, "trigger", value, allowed)
    if value is not None and instance.schedule is not None:
        msg = (
            f"flow {instance.name!r}: options schedule={instance.schedule!r} and "
            f"trigger={value!r} are both given; allowed: one of them (a flow is started "
            "by a schedule or by a trigger, as a Databricks job)"
        )
        raise DefinitionError(msg)


def _validate_max_concurrent_runs(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _flow_option_error(instance, "max_concurrent_runs", value, "an integer >= 1")


def _validate_queue(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        allowed = "True (a run at the limit waits its turn) or False (it is skipped)"
        raise _flow_option_error(instance, "queue", value, allowed)


def _validate_run_timeout(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not _is_number(value) or value <= 0):
        allowed = "a number of seconds > 0 for the whole run, or None for no limit"
        raise _flow_option_error(instance, "timeout", value, allowed)


def _validate_flow_notify(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not isinstance(value, Notify):
        raise _flow_option_error(instance, "notify", value, "Notify(on_failure=[...], ...)")


def _validate_pools(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str)
        and name
        and isinstance(size, int)
        and not isinstance(size, bool)
        and size >= 1
        for name, size in value.items()
    ):
        allowed = (
            "a mapping of pool names to how many of their tasks may run at once (>= 1), "
            "or to Pool(N, shared=True) for a pool every run of the home shares"
        )
        raise _flow_option_error(instance, "pools", value, allowed)


def _validate_health(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not isinstance(value, Health):
        raise _flow_option_error(instance, "health", value, "Health(run_duration_over=SECONDS)")
    if value is not None and (instance.notify is None or not instance.notify.on_duration_warning):
        msg = (
            f"flow {instance.name!r}: option health={value!r} warns nobody: add "
            "notify=Notify(on_duration_warning=[...]) to the flow"
        )
        raise DefinitionError(msg)


def validate_flow_name(name: Any) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        msg = f"Flow name {name!r} is invalid; allowed: a non-empty string of [A-Za-z0-9_.-]"
        raise DefinitionError(msg)


def validate_params(flow_name: str, params: Any) -> dict[str, Any]:
    """Check declared parameters: a mapping of [A-Za-z0-9_.-] keys."""
    if not isinstance(params, Mapping):
        msg = (
            f"flow {flow_name!r}: params={params!r} is invalid; "
            "allowed: a mapping of parameter name to default value"
        )
        raise DefinitionError(msg)
    bad = [key for key in params if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key)]
    if bad:
        msg = (
            f"flow {flow_name!r}: parameter names {bad!r} are invalid; "
            "allowed: letters, digits, '_', '-' and '.'"
        )
        raise DefinitionError(msg)
    return dict(params)


@attrs.frozen
class FlowSpec:
    """A whole flow: its name, declared parameters, concurrency and tasks in definition order.

    ``tasks`` may hold two specs of one name: the plan reports duplicates
    together with every other problem instead of failing at the first.
    """

    name: str
    tasks: tuple[TaskSpec, ...] = ()
    #: How many tasks may run at once; None: as many as the machine has CPUs, counted
    #: from its cgroup's CPU quota and the process's affinity (not ``os.cpu_count()``).
    max_parallel: int | None = attrs.field(default=None, validator=_validate_max_parallel)
    params: Mapping[str, Any] = attrs.field(factory=dict)
    #: When the flow runs by itself (DESIGN.md §5): a ``Cron`` schedule or a trigger.
    schedule: Cron | None = attrs.field(default=None, validator=_validate_schedule)
    trigger: Periodic | FileArrival | None = attrs.field(default=None, validator=_validate_trigger)
    #: How many runs of the flow may be live in the home at once, and what a run at the
    #: limit does: wait its turn (``queue=True``) or end ``skipped``.
    max_concurrent_runs: int = attrs.field(default=1, validator=_validate_max_concurrent_runs)
    queue: bool = attrs.field(default=True, validator=_validate_queue)
    #: Seconds the whole run may take; past it the run is cancelled and ends ``timed_out``.
    timeout: float | None = attrs.field(default=None, validator=_validate_run_timeout)
    #: Who is told of the flow's runs, and when a run is too long (DESIGN.md §5).
    notify: Notify | None = attrs.field(default=None, validator=_validate_flow_notify)
    health: Health | None = attrs.field(default=None, validator=_validate_health)
    #: Pools by name, each with how many of its tasks may run at once (DESIGN.md §9).
    pools: Mapping[str, int] = attrs.field(factory=dict, validator=_validate_pools)
    #: The pools whose slots every run of the home shares (``Pool(N, shared=True)``).
    shared_pools: frozenset[str] = frozenset()
    #: What loads a flow that is not a Python module's again (``databricks.yml:JOB``): the
    #: target a run records for a repair and serve launches. None: found from its module.
    origin: str | None = None

    @property
    def fires(self) -> Cron | Periodic | FileArrival | None:
        """The schedule or trigger that starts the flow's runs, if any."""
        return self.schedule if self.schedule is not None else self.trigger
