"""flowkit: workflow DAGs in plain Python, from a laptop to a Dask cluster.

General layout, lowest layer first (a module imports only from layers below it;
the modules above ``runtime`` are imported lazily by the ``Flow`` methods that use them):

    errors      the exception tree
    spec        frozen data describing tasks and flows; every option's validator
    clock       injectable time
    dsl         Flow, @task, the active-flow context
    refs        {{...}} dynamic value references: checked at plan time, filled at run time
    plan        validation and the topological plan
    state       task and run states, errors as text, results
    rules       run_if and the run state: pure functions
    context     the running attempt's task_values and params
    executors/  where attempts run: inline, local (fork server, process trees)
    store/      run history: SQLite, its in-memory twin, the recorder
    listeners   how the command line, the store and tests follow a run
    runtime     the scheduler loop
    repair      repair runs of a stored run
    shell, conditions, foreach, subflow
                shell, condition, for-each and run-flow tasks
    testing     task_context, simulate; pytest_plugin: the flowkit_run fixture
    compat      dbutils.jobs.taskValues for code moved from Databricks
    loader, graph, progress, history, cli
                python -m flowkit

Importing flowkit configures no logging sinks; the command line does.
"""

from loguru import logger

from flowkit._clock import FakeClock
from flowkit._context import params, task_values
from flowkit._definition.spec import RunIf
from flowkit._engine.runtime import RunListener
from flowkit._errors import (
    DefinitionError,
    ExecutorError,
    FlowkitError,
    RunError,
    TaskValueError,
)
from flowkit._flow import Flow, Task, task
from flowkit._state import ErrorInfo, RunResult, RunState, TaskRun, TaskState

__version__ = "0.1.0"

# Library etiquette (loguru's advice for libraries): silent until an application,
# such as flowkit's own command line, calls logger.enable("flowkit").
logger.disable("flowkit")

__all__ = [
    "DefinitionError",
    "ErrorInfo",
    "ExecutorError",
    "FakeClock",
    "Flow",
    "FlowkitError",
    "RunError",
    "RunIf",
    "RunListener",
    "RunResult",
    "RunState",
    "Task",
    "TaskRun",
    "TaskState",
    "TaskValueError",
    "params",
    "task",
    "task_values",
]
