"""The attempt's channel: how every process an attempt starts reads its context and sets values.

The attempt's own process puts its context (run, task, params, upstream values)
in its environment, ``FLOWKIT_ATTEMPT_CONTEXT`` (as JSON; a context too large
for one variable goes to ``context.json`` in the channel folder instead; the
flow's edges, the same for every attempt, are written once per run beside the
channel folders, ``edges.json``), and
names its channel folder in ``FLOWKIT_ATTEMPT``; every process it starts
inherits both: a script, a notebook kernel, a shell command running ``flowkit
values``. A value set in such a process is appended to ``values.jsonl`` in the
folder (created then, mode 0700, the file 0600). When the attempt ends, its
process collects those values (``collect``) into its outcome, so they are
committed with the task's success like values set in-process, and removes the
folder. The folders live under the run's folder in the temporary directory,
which the orchestrator removes when the run ends, so an attempt killed mid-way
leaves nothing. An attempt whose processes set nothing touches no file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowkit._errors import TaskValueError

VARIABLE = "FLOWKIT_ATTEMPT"
CONTEXT_VARIABLE = "FLOWKIT_ATTEMPT_CONTEXT"
CONTEXT_FILE = "context.json"
#: The flow's edges, written once per run on a machine: a child needs them to tell an
#: upstream task from another, and they are the same for every attempt.
EDGES_FILE = "edges.json"
VALUES_FILE = "values.jsonl"
#: The largest context kept in the environment (Linux allows 128 KiB per variable).
MAX_ENVIRONMENT_CONTEXT = 64 * 1024
#: Found once, when imported (by the fork server, before it forks): finding it probes
#: the candidate folders with a file, which each attempt would otherwise do again.
TEMPORARY = Path(tempfile.gettempdir())


def run_folder(run_id: str) -> Path:
    """Where the channels of a run's attempts on this machine live."""
    return TEMPORARY / f"flowkit-{os.getuid()}-run-{run_id}"


def remove_run(run_id: str) -> None:
    """Remove what the run's attempts left on this machine (an attempt killed mid-way)."""
    shutil.rmtree(run_folder(run_id), ignore_errors=True)


def _private_folder(*paths: Path) -> None:
    """Create each of ``paths`` in turn, mode 0700, or check it is this user's folder."""
    for path in paths:
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            status = path.lstat()
            if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid():
                msg = f"{path} exists and is not this user's folder; refusing to use it"
                raise TaskValueError(msg) from None


def export(
    context_json: str, *, run_id: str, task_key: str, attempt: int, edges: Mapping[str, Any]
) -> Path:
    """Name this attempt's channel in this process's environment, with its context.

    The run's ``edges`` are written once per run (the first attempt on this machine
    writes them; the others find them there).
    """
    edges_file = run_folder(run_id) / EDGES_FILE
    if not edges_file.exists():
        _write_edges(edges_file, edges)
    folder = run_folder(run_id) / f"{task_key}.{attempt}.{os.getpid()}"
    os.environ[VARIABLE] = str(folder)
    if len(context_json) <= MAX_ENVIRONMENT_CONTEXT:
        os.environ[CONTEXT_VARIABLE] = context_json
    else:
        os.environ.pop(CONTEXT_VARIABLE, None)
        _private_folder(folder.parent, folder)
        descriptor = os.open(folder / CONTEXT_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(context_json)
    return folder


def _write_edges(path: Path, edges: Mapping[str, Any]) -> None:
    """Write the run's edges whole (a reader never sees half a file), mode 0600."""
    _private_folder(path.parent)
    partial = path.with_name(f"{EDGES_FILE}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({name: list(upstream) for name, upstream in edges.items()}, handle)
    os.replace(partial, path)


def load_edges(folder: Path) -> dict[str, tuple[str, ...]]:
    """The run's edges, as the attempt whose channel is ``folder`` sees them."""
    try:
        text = (folder.parent / EDGES_FILE).read_text(encoding="utf-8")
    except OSError:
        return {}
    return {name: tuple(upstream) for name, upstream in json.loads(text).items()}


def collect(folder: Path) -> dict[str, Any]:
    """The values the attempt's other processes set, in order (a later set wins); then clean up."""
    # A context kept in the environment wrote no file: the folder exists only if a
    # process set a value, and then its values file exists too.
    in_environment = os.environ.pop(CONTEXT_VARIABLE, None) is not None
    if os.environ.get(VARIABLE) == str(folder):
        del os.environ[VARIABLE]
    values: dict[str, Any] = {}
    try:
        handle = (folder / VALUES_FILE).open(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        if in_environment:
            return values  # nothing was written: nothing to read or remove
    else:
        with handle:
            for line in handle:
                if line.endswith("\n"):  # a line cut short by a killed writer is not a value
                    entry = json.loads(line)
                    values[entry["key"]] = entry["value"]
    shutil.rmtree(folder, ignore_errors=True)
    return values


def exported_folder() -> Path | None:
    """The channel of the attempt this process belongs to, if a parent exported one."""
    named = os.environ.get(VARIABLE)
    return Path(named) if named else None


def load(folder: Path) -> dict[str, Any]:
    """The context the attempt exported (from the environment, or its folder).

    Raises:
        TaskValueError: the context is gone (the attempt ended) or its folder is not private.
    """
    text = os.environ.get(CONTEXT_VARIABLE)
    if text is None:
        try:
            status = folder.stat()
            text = (folder / CONTEXT_FILE).read_text(encoding="utf-8")
        except OSError as error:
            msg = (
                f"{VARIABLE}={folder} names no running attempt's context ({error.strerror}); "
                "task_values, params and `flowkit values` work in processes a running task "
                "started"
            )
            raise TaskValueError(msg) from None
        if status.st_uid != os.getuid() or stat.S_IMODE(status.st_mode) & 0o077:
            msg = f"{VARIABLE}={folder} is not a private folder of this user; refusing to use it"
            raise TaskValueError(msg)
    return json.loads(text)


def append_value(folder: Path, key: str, value: Any) -> None:
    """Add one value to the attempt's values, as one line written at once (O_APPEND)."""
    _private_folder(folder.parent, folder)
    line = json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(folder / VALUES_FILE, flags, 0o600)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)
