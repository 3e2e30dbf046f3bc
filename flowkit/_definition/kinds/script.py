"""Python script tasks: ``sys.executable PATH ARGS`` inside the attempt (Databricks' Python script).

The script is a process the attempt started: it inherits the attempt's output
(so it lands in the log), its process group (a timeout kills it and what it
started), and its context (``from flowkit import task_values, params`` work in
it, ``_channel``). References in ``args`` are filled when the attempt starts,
each argument staying one argument (no shell reads them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from flowkit._definition import refs
from flowkit._errors import DefinitionError, ScriptFailed


@attrs.frozen
class PythonScript:
    """The function of a script task: run the script with this interpreter, fail on exit ≠ 0."""

    flow_name: str
    task_key: str
    path: str
    args: tuple[str, ...] = ()

    @property
    def __name__(self) -> str:
        return self.task_key

    @property
    def __flowkit_references__(self) -> list[str]:
        return list(self.args)

    def __call__(self) -> None:
        """Run the script.

        Raises:
            ScriptFailed: it exited non-zero or was killed by a signal.
        """
        where = f"flow {self.flow_name!r}, task {self.task_key!r}"
        args = [refs.fill(arg, where=where, what="a script argument") for arg in self.args]
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        completed = subprocess.run([sys.executable, self.path, *args], check=False)
        if completed.returncode != 0:
            how = (
                f"was killed by signal {-completed.returncode}"
                if completed.returncode < 0
                else f"exited with code {completed.returncode}"
            )
            msg = f"{where}: script {self.path} {how}"
            raise ScriptFailed(msg)

    def __repr__(self) -> str:
        return f"<PythonScript {self.flow_name}.{self.task_key}: {self.path}>"


def resolve_path(flow_name: str, task_key: Any, path: Any, folder: Path, *, kind: str) -> Path:
    """``path`` made absolute against the flow file's ``folder``; it must be a file.

    Raises:
        DefinitionError: not a path, or no such file.
    """
    if not isinstance(path, str | os.PathLike) or not str(path):
        msg = (
            f"flow {flow_name!r}, task {task_key!r}: the {kind} path {path!r} is invalid; "
            "give a file path (relative to the flow file's folder)"
        )
        raise DefinitionError(msg)
    resolved = (folder / Path(path)).resolve()
    if not resolved.is_file():
        msg = (
            f"flow {flow_name!r}, task {task_key!r}: the {kind} {str(path)!r} does not exist "
            f"(looked for {resolved}; paths are relative to the flow file's folder)"
        )
        raise DefinitionError(msg)
    return resolved


def python_script(
    flow_name: str, name: str | None, path: Any, args: Sequence[Any], folder: Path
) -> PythonScript:
    """The function of a script task; ``Flow.python_script`` registers it.

    Raises:
        DefinitionError: the script is missing, or ``args`` is not a list of strings.
    """
    resolved = resolve_path(flow_name, name, path, folder, kind="script")
    if isinstance(args, str) or not all(isinstance(arg, str | int | float) for arg in args):
        msg = (
            f"flow {flow_name!r}, task {name or resolved.stem!r}: option args={args!r} is "
            "invalid; allowed: a list of strings (each one argument), e.g. ['--date', "
            "'{{job.parameters.date}}']"
        )
        raise DefinitionError(msg)
    return PythonScript(
        flow_name=flow_name,
        task_key=name or resolved.stem,
        path=str(resolved),
        args=tuple(str(arg) for arg in args),
    )
