"""The attempt's channel: how every process an attempt starts reads its context and sets values.

The attempt's own process puts its context (run, task, params, upstream values)
in its environment, ``FLOWKIT_ATTEMPT_CONTEXT`` (as JSON; a context too large
for one variable goes to ``context.json`` in the channel folder instead; the
flow's edges, the same for every attempt, ride in the context when the flow is
small, and a larger flow's are written once per run beside the channel folders,
``edges.json``), and names its channel folder in ``FLOWKIT_ATTEMPT``; every process it starts
inherits both: a script, a notebook kernel, a shell command running ``flowkit
values``. A value set in such a process is appended to ``values.jsonl`` in the
folder (created then, mode 0700, the file 0600). When the attempt ends, its
process collects those values (``collect``) into its outcome, so they are
committed with the task's success like values set in-process, and removes the
folder. The folders live under the run's folder in the temporary directory,
which the orchestrator removes when the run ends, so an attempt killed mid-way
leaves nothing. An attempt of a small flow whose processes set nothing touches no
file, and makes no folder.
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
#: The edges of a flow too large for them to ride in the context, written once per run
#: on a machine: a child needs them to tell an upstream task from another, and they
#: are the same for every attempt.
EDGES_FILE = "edges.json"
VALUES_FILE = "values.jsonl"
#: The largest context kept in the environment (Linux allows 128 KiB per variable).
MAX_ENVIRONMENT_CONTEXT = 64 * 1024
#: The largest flow whose edges ride in the context, in tasks and in JSON: a larger
#: one's are encoded and written once per run, not with every attempt.
MAX_ENVIRONMENT_EDGE_TASKS = 256
MAX_ENVIRONMENT_EDGES = 16 * 1024
#: The key of the edges in a context that carries them.
EDGES_KEY = "upstream_edges"
#: Found once, when imported (by the fork server, before it forks): finding it probes
#: the candidate folders with a file, which each attempt would otherwise do again.
TEMPORARY = tempfile.gettempdir()


def run_folder(run_id: str) -> str:
    """Where the channels of a run's attempts on this machine live."""
    return f"{TEMPORARY}{os.sep}flowkit-{os.getuid()}-run-{run_id}"


def remove_run(run_id: str) -> None:
    """Remove what the run's attempts left on this machine (an attempt killed mid-way)."""
    global _edges_text
    if _edges_text is not None and _edges_text[0] == run_id:
        _edges_text = None
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
) -> str:
    """Name this attempt's channel in this process's environment, with its context.

    ``context_json`` is a JSON object. A small flow's ``edges`` join it; a larger
    flow's are written once per run (the first attempt on this machine writes
    them; the others find them there). Returns the channel folder, for ``collect``.
    """
    folder = f"{run_folder(run_id)}{os.sep}{task_key}.{attempt}.{os.getpid()}"
    edges_text = _small_edges(run_id, edges)
    if edges_text is not None:
        context_json = f'{context_json[:-1]}, "{EDGES_KEY}": {edges_text}}}'
    else:
        edges_file = f"{run_folder(run_id)}{os.sep}{EDGES_FILE}"
        if not os.path.exists(edges_file):
            _write_edges(Path(edges_file), edges)
    os.environ[VARIABLE] = folder
    if len(context_json) <= MAX_ENVIRONMENT_CONTEXT:
        os.environ[CONTEXT_VARIABLE] = context_json
    else:
        os.environ.pop(CONTEXT_VARIABLE, None)
        _private_folder(Path(folder).parent, Path(folder))
        descriptor = os.open(
            f"{folder}{os.sep}{CONTEXT_FILE}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
        )
        with os.fdopen(descriptor, "w") as handle:
            handle.write(context_json)
    return folder


#: The edges of the run this process exported last, as JSON: (run id, the edges, text).
_edges_text: tuple[str, Mapping[str, Any], str] | None = None


def _small_edges(run_id: str, edges: Mapping[str, Any]) -> str | None:
    """``edges`` as JSON, when the flow is small enough for them to ride in the context."""
    global _edges_text
    cached = _edges_text
    if cached is not None and cached[0] == run_id and cached[1] is edges:
        return cached[2]
    if len(edges) > MAX_ENVIRONMENT_EDGE_TASKS:
        return None
    text = _edges_json(edges)
    if len(text) > MAX_ENVIRONMENT_EDGES:
        return None
    _edges_text = (run_id, edges, text)
    return text


def _edges_json(edges: Mapping[str, Any]) -> str:
    return json.dumps({name: list(upstream) for name, upstream in edges.items()})


def _write_edges(path: Path, edges: Mapping[str, Any]) -> None:
    """Write the run's edges whole (a reader never sees half a file), mode 0600."""
    _private_folder(path.parent)
    partial = path.with_name(f"{EDGES_FILE}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(_edges_json(edges))
    os.replace(partial, path)


def load_edges(folder: Path, context: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The run's edges, as the attempt whose channel is ``folder`` and context ``context``
    sees them: in its context, or in the run's file."""
    edges = context.get(EDGES_KEY)
    if edges is None:
        try:
            text = (folder.parent / EDGES_FILE).read_text(encoding="utf-8")
        except OSError:
            return {}
        edges = json.loads(text)
    return {name: tuple(upstream) for name, upstream in edges.items()}


def collect(folder: str | Path) -> dict[str, Any]:
    """The values the attempt's other processes set, in order (a later set wins); then clean up."""
    folder = str(folder)
    # A context kept in the environment wrote no file: the folder exists only if a
    # process set a value, and then its values file exists too.
    in_environment = os.environ.pop(CONTEXT_VARIABLE, None) is not None
    if os.environ.get(VARIABLE) == folder:
        del os.environ[VARIABLE]
    values: dict[str, Any] = {}
    if in_environment and not os.access(folder, os.F_OK):
        return values  # nothing was written: nothing to read or remove
    try:
        with open(f"{folder}{os.sep}{VALUES_FILE}", encoding="utf-8") as handle:
            for line in handle:
                if line.endswith("\n"):  # a line cut short by a killed writer is not a value
                    entry = json.loads(line)
                    values[entry["key"]] = entry["value"]
    except (FileNotFoundError, NotADirectoryError):
        if in_environment:
            return values  # nothing was written: nothing to read or remove
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
