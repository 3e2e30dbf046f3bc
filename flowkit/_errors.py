"""The exception tree: every error flowkit raises on purpose.

FlowkitError
├── DefinitionError     a flow, task, option, parameter or command line is invalid;
│                       raised before any task runs
├── TaskValueError      task_values.set/get misused inside (or outside) a task
├── ExecutorError       an executor could not start or lost its workers
├── RunError            a run could not go on (e.g. work left pending at the end)
├── StoreError          the run history store cannot be opened, read or written
│                       (corrupt, locked too long, read-only, unknown run id)
├── ServeRefused        another flowkit serve already serves this home
├── SecretError         a secret is missing, or the secrets file is not private
├── ReportError         a run's report cannot be written
└── TaskFailed          raised inside a task of a built-in kind, so the attempt fails
    ├── ShellCommandFailed  a shell task's command exited non-zero or was killed
    ├── ScriptFailed        a Python script task exited non-zero or was killed
    ├── SqlFailed           a SQL task's statement failed on DuckDB
    ├── NotebookFailed      a notebook task's cell raised (its number, first line, traceback)
    ├── DbtFailed           a dbt task's node failed, or dbt could not run
    ├── ComparisonError     a condition task's operand is not a number under an order operator
    ├── ForEachFailed       an iteration failed, or the inputs are not a list
    └── ChildRunFailed      a run-flow task's child run failed or was cancelled

KeyboardInterrupt
└── RunInterrupted      Ctrl-C (or SIGTERM) cancelled a run, which was recorded; carries
                        its result, so Flow.run stops a script as Ctrl-C should
"""

from __future__ import annotations

from typing import Any


class FlowkitError(Exception):
    """Base class of every error flowkit raises on purpose."""


class DefinitionError(FlowkitError, ValueError):
    """A flow definition, task option, parameter or command line is invalid.

    ``problems`` holds each problem as one line, so a caller can show or test
    them one by one; the message lists them all.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class TaskValueError(FlowkitError, ValueError):
    """``task_values`` was used against its rules (bad key, value, or task_key)."""


class ExecutorError(FlowkitError):
    """An executor failed to start, or lost what it needed to run attempts."""


class RunError(FlowkitError):
    """The scheduler reached a state it cannot go on from; names every bucket."""


class StoreError(FlowkitError):
    """The run store failed: the message names the file and says what to do."""


class ServeRefused(FlowkitError):
    """Another ``flowkit serve`` holds this home's lease: one serve per home."""


class SecretError(FlowkitError):
    """A secret is missing, or ``secrets.toml`` is readable by others or not TOML."""


class ReportError(FlowkitError):
    """A run's report file cannot be written (the message names the file and the fix)."""


class TaskFailed(FlowkitError):
    """A task of one of flowkit's kinds failed; its attempt records the subclass's name."""


class ShellCommandFailed(TaskFailed):
    """A shell task's command exited non-zero or was killed by a signal."""


class ScriptFailed(TaskFailed):
    """A Python script task exited non-zero or was killed by a signal."""


class SqlFailed(TaskFailed):
    """A SQL task's statement failed on DuckDB (its number and DuckDB's message say which)."""


class NotebookFailed(TaskFailed):
    """A notebook task's cell raised; the message names the cell and its first line."""


class DbtFailed(TaskFailed):
    """A dbt task's node failed (the message names it and dbt's message), or dbt could not run."""


class NotebookExit(Exception):
    """``dbutils.notebook.exit(value)``: ends the notebook, ``value`` is its return value."""


class ComparisonError(TaskFailed):
    """A condition task's operand is not a number under an order operator."""


class ForEachFailed(TaskFailed):
    """An iteration of a for-each task failed, or its inputs are not a list."""


class ChildRunFailed(TaskFailed):
    """A run-flow task's child run failed or was cancelled."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C cancelled a run: every attempt was stopped and the run recorded ``cancelled``.

    Raised by ``Flow.run`` and ``Flow.repair`` after the cancel, so the caller's next
    line does not run; ``result`` is the cancelled run's result.
    """

    def __init__(self, result: Any) -> None:
        super().__init__(f"run {getattr(result, 'run_id', '?')} was interrupted and cancelled")
        self.result = result
