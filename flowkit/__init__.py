"""flowkit: workflow DAGs in plain Python, from a laptop to a Dask cluster.

General layout, lowest layer first (DESIGN.md §4). A module imports only from
layers below it; ``lint-imports`` (the contract in pyproject.toml) checks it,
type-only imports included. Modules with a leading underscore are private.

    _errors         every exception class of flowkit
    _clock, _state, _text, _home
                    injectable time; task and run states, errors as text, results;
                    escaping what tasks and users supply before a terminal sees it;
                    the home folder (FLOWKIT_HOME: store, logs), its files private
    _context        the running attempt's task_values and params; the ChildRuns protocol
    _events         immutable run events, and RunListener that consumes them
    _definition/    spec (TaskSpec, FlowSpec, options), refs ({{...}}), and kinds/
                    (shell, compare, for_each, run_flow): each builds its task's
                    function and never imports Flow
    _planning/      plan, rules (run_if, run state: pure), simulate
    _flow           Flow, Task, task: thin registration into _definition
    executors/      the protocol, the attempt entry point shared by all, inline,
                    local (fork server, process trees), dask/
    _store/         run history: SQLite, its in-memory twin, the recorder
    _engine/        the scheduler loop, run, repair, child runs, listeners, loader
    testing, compat, pytest_plugin, cli/ (python -m flowkit; _render/ for text)

Flow.run and Flow.repair are the one import of the engine from below it, as a
facade (Dagster's execute_in_process). Importing flowkit configures no logging
sinks; the command line does.
"""

from loguru import logger

# The engine provides child runs (for-each and run-flow tasks) to the definition
# layer when it is imported: flowkit loaded means the engine loaded, in every
# process that runs attempts.
from flowkit import _engine  # noqa: F401
from flowkit._clock import FakeClock
from flowkit._context import params, task_values
from flowkit._definition.notify import Health, Notify
from flowkit._definition.pools import Pool
from flowkit._definition.schedules import Cron, FileArrival, Periodic
from flowkit._definition.spec import RunIf
from flowkit._errors import (
    ChildRunFailed,
    ComparisonError,
    DbtFailed,
    DefinitionError,
    ExecutorError,
    FlowkitError,
    ForEachFailed,
    NotebookFailed,
    RunError,
    ScriptFailed,
    SecretError,
    ShellCommandFailed,
    SqlFailed,
    StoreError,
    TaskFailed,
    TaskValueError,
)
from flowkit._events import RunListener
from flowkit._flow import Flow, Task, task
from flowkit._secrets import secrets
from flowkit._state import (
    ClusterReport,
    ErrorInfo,
    RunResult,
    RunState,
    RunTrigger,
    TaskRun,
    TaskState,
)

__version__ = "0.1.0"

# Library etiquette (loguru's advice for libraries): silent until an application,
# such as flowkit's own command line, calls logger.enable("flowkit").
logger.disable("flowkit")

__all__ = [
    "ChildRunFailed",
    "ClusterReport",
    "ComparisonError",
    "Cron",
    "DbtFailed",
    "DefinitionError",
    "ErrorInfo",
    "ExecutorError",
    "FakeClock",
    "FileArrival",
    "Flow",
    "FlowkitError",
    "ForEachFailed",
    "Health",
    "NotebookFailed",
    "Notify",
    "Periodic",
    "Pool",
    "RunError",
    "RunIf",
    "RunListener",
    "RunResult",
    "RunState",
    "RunTrigger",
    "ScriptFailed",
    "SecretError",
    "ShellCommandFailed",
    "SqlFailed",
    "StoreError",
    "Task",
    "TaskFailed",
    "TaskRun",
    "TaskState",
    "TaskValueError",
    "params",
    "secrets",
    "task",
    "task_values",
]
