"""Shell tasks: a command line run as a task, with dynamic value references filled in.

``flow.shell("dbt_run", "dbt run --select {{job.parameters.model}}")`` registers
a task whose function is a ``ShellCommand`` (built and checked by
``shell_command``): when the attempt runs it resolves the references in the
command, the ``env`` values and ``cwd`` (``refs``), then runs the command
through ``/bin/sh``. The command inherits the attempt's stdout and stderr, so
its output lands in the attempt's log like any task's print; a non-zero exit fails the attempt with
``ShellCommandFailed``. A timeout needs nothing here: the executor kills the
attempt's whole process group, the shell and whatever it started included.

A value is data, never shell syntax: each reference in the command becomes one
shell word, quoted with ``shlex.quote`` (``-p 'model=x; touch pwned'`` passes
the text ``x; touch pwned`` as one argument). So a reference must stand where a
word or part of an unquoted word may, not inside quotes, ``$((...))`` or a
here-document, where a quoted word would be read differently;
``shell_command`` refuses those places when the task is defined. Text for
inside quotes goes through ``env`` (``env={"ROWS": "{{...}}"}`` and
``"rows=$ROWS"`` in the command): ``env`` values are passed as they are.
"""

from __future__ import annotations

import os
import shlex
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
        command = refs.fill(self.command, where=where, what="the shell command", word=shlex.quote)
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
    if isinstance(command, str):
        _refuse_quoted_references(flow_name, name, command)
    if "name" in task_options:
        _option_error(flow_name, name, "name", task_options["name"], "the name argument only")
    return ShellCommand(
        flow_name=flow_name,
        task_key=name,
        command=command,
        env=dict(env),
        cwd=None if cwd is None else os.fspath(cwd),
    )


def _refuse_quoted_references(flow_name: str, task_key: str, command: str) -> None:
    """Raise if a reference in ``command`` stands where a quoted shell word would misread.

    Raises:
        DefinitionError: one problem per such reference, each with the way out.
    """
    quoting = _Quoting(command).marks()
    problems = []
    for start, reference in refs.reference_spans(command):
        where = quoting[start]
        if where is not None:
            shown = f"{{{{{reference}}}}}"
            problems.append(
                f"flow {flow_name!r}, task {task_key!r}: option command={command!r} puts "
                f"reference {shown} inside {where}; a reference is substituted as one quoted "
                f"shell word, which would be read as shell syntax or keep its quotes there. "
                f"Write it outside quotes (echo rows={shown}), or pass it through env "
                f'(env={{"VALUE": "{shown}"}}) and write "$VALUE" in the command'
            )
    if problems:
        raise DefinitionError("\n".join(problems), problems)


class _Quoting:
    """How ``/bin/sh`` reads each character of a command: quoted (and how), or not.

    A small reader of POSIX shell quoting: backslashes, single quotes, ``$'...'``,
    double quotes, ``$(...)`` and backquotes (a fresh, unquoted context, except
    backquotes inside double quotes), ``$((...))``, comments and here-documents.
    Where it cannot tell, it errs on the side of quoted.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.quoting: list[str | None] = [None] * len(text)
        #: Here-documents whose body starts after the current line: (delimiter, strip tabs).
        self.pending: list[tuple[str, bool]] = []

    def marks(self) -> list[str | None]:
        """For each character, where it stands ("double quotes", ...) or None: unquoted."""
        self.words(closer=None)
        return self.quoting

    def mark(self, start: int, end: int, how: str) -> None:
        for index in range(start, min(end, len(self.text))):
            if self.quoting[index] is None:
                self.quoting[index] = how

    def words(self, closer: str | None) -> None:
        """An unquoted context (the command, ``$(...)``, backquotes) up to ``closer``."""
        text, depth = self.text, 0
        while self.at < len(text):
            char = text[self.at]
            if char == "\\":
                self.at += 2
            elif char == "'":
                end = text.find("'", self.at + 1)
                end = len(text) if end < 0 else end + 1
                self.mark(self.at, end, "single quotes")
                self.at = end
            elif text.startswith("$'", self.at):
                self.ansi_c()
            elif char == '"':
                self.double()
            elif text.startswith("$((", self.at):
                self.arithmetic()
            elif text.startswith("$(", self.at):
                self.at += 2
                self.words(closer=")")
            elif char == "`":
                self.at += 1
                if closer == "`":
                    return
                self.words(closer="`")
            elif char == "(":
                depth += 1
                self.at += 1
            elif char == ")":
                self.at += 1
                if closer == ")" and depth == 0:
                    return
                depth = max(depth - 1, 0)
            elif char == "#" and (self.at == 0 or text[self.at - 1] in " \t\n;&|()"):
                end = text.find("\n", self.at)
                self.at = len(text) if end < 0 else end
            elif text.startswith("<<<", self.at):
                self.at += 3
            elif text.startswith("<<", self.at):
                self.here_document_operator()
            elif char == "\n":
                self.at += 1
                self.here_document_bodies()
            else:
                self.at += 1

    def ansi_c(self) -> None:
        start, index = self.at, self.at + 2
        while index < len(self.text) and self.text[index] != "'":
            index += 2 if self.text[index] == "\\" else 1
        self.at = min(index + 1, len(self.text))
        self.mark(start, self.at, "$'...' quotes")

    def double(self) -> None:
        text, how = self.text, "double quotes"
        self.mark(self.at, self.at + 1, how)
        self.at += 1
        while self.at < len(text):
            char = text[self.at]
            if char == '"':
                self.mark(self.at, self.at + 1, how)
                self.at += 1
                return
            if text.startswith("$((", self.at):
                self.arithmetic()
            elif text.startswith("$(", self.at):
                self.at += 2
                self.words(closer=")")
            elif char == "`":
                start = self.at
                self.at += 1
                self.words(closer="`")
                self.mark(start, self.at, "backquotes inside double quotes")
            else:
                step = 2 if char == "\\" else 1
                self.mark(self.at, self.at + step, how)
                self.at += step

    def arithmetic(self) -> None:
        text, start, depth = self.text, self.at, 0
        index = self.at + 3
        while index < len(text):
            if text[index] == "(":
                depth += 1
            elif text[index] == ")":
                if depth == 0 and text.startswith("))", index):
                    index += 2
                    break
                depth -= 1
            index += 1
        self.at = min(index, len(text))
        self.mark(start, self.at, "an arithmetic expansion $((...))")

    def here_document_operator(self) -> None:
        text = self.text
        self.at += 2
        strip_tabs = text.startswith("-", self.at)
        self.at += strip_tabs
        while self.at < len(text) and text[self.at] in " \t":
            self.at += 1
        start = self.at
        while self.at < len(text) and text[self.at] not in " \t\n;&|<>()":
            if text[self.at] in "'\"":  # a quoted delimiter may hold blanks
                end = text.find(text[self.at], self.at + 1)
                self.at = len(text) if end < 0 else end + 1
            else:
                self.at += 1
        delimiter = "".join(c for c in text[start : self.at] if c not in "'\"\\")
        self.pending.append((delimiter, strip_tabs))

    def here_document_bodies(self) -> None:
        text = self.text
        for delimiter, strip_tabs in self.pending:
            start = self.at
            while self.at < len(text):
                end = text.find("\n", self.at)
                end = len(text) if end < 0 else end
                line = text[self.at : end]
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    self.mark(start, self.at, "a here-document")
                    self.at = min(end + 1, len(text))
                    break
                self.at = end + 1
            else:
                self.mark(start, len(text), "a here-document")
        self.pending = []
