"""Shell tasks: a command line run as a task, with dynamic value references filled in.

``flow.shell("dbt_run", "dbt run --select {{job.parameters.model}}")`` registers
a task whose function is a ``ShellCommand`` (built and checked by
``shell_command``): when the attempt runs it resolves the references in the
command, the ``env`` values and ``cwd`` (``refs``), then runs the command
through ``/bin/sh``. The command inherits the attempt's stdout and stderr, so
its output lands in the attempt's log like any task's print; a non-zero exit fails the attempt with
``ShellCommandFailed``. A timeout needs nothing here: the executor kills the
attempt's whole process group, the shell and whatever it started included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from flowkit._definition import refs
from flowkit._errors import DefinitionError, ShellCommandFailed


@attrs.frozen
class ShellCommand:
    """The function of a shell task: calling it runs the command in this process's context.

    Plain data, so it pickles by reference to this class on every executor.
    """

    flow_name: str
    task_key: str
    command: str
    env: Mapping[str, str] = attrs.field(factory=dict)
    cwd: str | None = None

    @property
    def __name__(self) -> str:
        return self.task_key

    @property
    def __flowkit_references__(self) -> list[str]:
        """Every string argument that may hold references, for the plan to check."""
        texts = [self.command, *self.env.values()]
        return texts if self.cwd is None else [*texts, self.cwd]

    def __call__(self) -> None:
        """Resolve the references, run the command, and raise if it did not exit 0.

        Raises:
            ShellCommandFailed: the command exited non-zero or was killed by a signal.
            FlowkitError: called outside a run with references to fill.
        """
        where = f"flow {self.flow_name!r}, task {self.task_key!r}"
        command = refs.fill(self.command, where=where, what="the shell command")
        env = {
            name: refs.fill(value, where=where, what=f"env {name}")
            for name, value in self.env.items()
        }
        cwd = None if self.cwd is None else refs.fill(self.cwd, where=where, what="cwd")
        # Whatever Python printed first must reach the log before the command's output.
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        completed = subprocess.run(
            command, shell=True, env={**os.environ, **env}, cwd=cwd, check=False
        )
        if completed.returncode != 0:
            msg = f"{where}: shell command {_ending(completed.returncode)}: {command}"
            raise ShellCommandFailed(msg)

    def __repr__(self) -> str:
        return f"<ShellCommand {self.flow_name}.{self.task_key}: {self.command!r}>"


def _ending(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (signal {-returncode})"
    return f"exited with code {returncode}"


def _option_error(flow_name: str, task_key: Any, option: str, given: Any, allowed: str) -> None:
    msg = (
        f"flow {flow_name!r}, task {task_key!r}: option {option}={given!r} is invalid; "
        f"allowed: {allowed}"
    )
    raise DefinitionError(msg)


def shell_command(
    flow_name: str,
    name: str,
    command: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    task_options: Mapping[str, Any],
) -> ShellCommand:
    """The function of a shell task that runs ``command``; ``Flow.shell`` registers it.

    Args:
        flow_name: the flow the task belongs to.
        name: the task key.
        command: a shell command line; may hold dynamic value references.
        env: extra environment variables (values may hold references), on top of
            the attempt's environment.
        cwd: the working directory (may hold references); the attempt's by default.
        task_options: the task's other options, checked here only for ``name``.

    Raises:
        DefinitionError: ``command``, ``env`` or ``cwd`` is invalid.
    """
    if not isinstance(command, str) or not command.strip():
        _option_error(flow_name, name, "command", command, "a non-empty string")
    env = {} if env is None else env
    if not isinstance(env, Mapping) or not all(
        isinstance(key, str) and key and isinstance(value, str) for key, value in env.items()
    ):
        _option_error(flow_name, name, "env", env, "a mapping of variable name to string value")
    if cwd is not None and not isinstance(cwd, str | os.PathLike):
        _option_error(flow_name, name, "cwd", cwd, "None, or a directory path (str or Path)")
    if "name" in task_options:
        _option_error(flow_name, name, "name", task_options["name"], "the name argument only")
    return ShellCommand(
        flow_name=flow_name,
        task_key=name,
        command=command,
        env=dict(env),
        cwd=None if cwd is None else os.fspath(cwd),
    )
