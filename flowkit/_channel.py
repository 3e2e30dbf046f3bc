"""The attempt's channel: how every process an attempt starts reads its context and sets values.

The attempt's own process writes its context (run, task, params, upstream
values) to ``context.json`` in a private folder (mode 0700, the file 0600;
under the run's folder in the temporary directory, which the orchestrator
removes when the run ends, so an attempt killed mid-way leaves nothing) and
names the folder in ``FLOWKIT_ATTEMPT``, which every process it starts
inherits: a script, a notebook kernel, a shell command running ``flowkit
values``. Such a process loads the context from there (``load``) and appends
each value it sets to ``values.jsonl`` (``append_value``). When the attempt
ends, its process collects those values (``collect``) into its outcome, so
they are committed with the task's success like values set in-process, and
removes the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from flowkit._errors import TaskValueError

VARIABLE = "FLOWKIT_ATTEMPT"
CONTEXT_FILE = "context.json"
VALUES_FILE = "values.jsonl"


def run_folder(run_id: str) -> Path:
    """Where the channels of a run's attempts on this machine live."""
    return Path(tempfile.gettempdir()) / f"flowkit-{os.getuid()}-run-{run_id}"


def remove_run(run_id: str) -> None:
    """Remove what the run's attempts left on this machine (an attempt killed mid-way)."""
    shutil.rmtree(run_folder(run_id), ignore_errors=True)


def export(context: dict[str, Any]) -> Path:
    """Write ``context`` into a new private folder, and name it in this process's environment."""
    parent = run_folder(str(context["run_id"]))
    try:
        parent.mkdir(mode=0o700)
    except FileExistsError:
        status = parent.lstat()
        if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid():
            msg = f"{parent} exists and is not this user's folder; refusing to use it"
            raise TaskValueError(msg) from None
    folder = Path(tempfile.mkdtemp(prefix="attempt-", dir=parent))  # mode 0700
    descriptor = os.open(folder / CONTEXT_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(context, handle)
    os.environ[VARIABLE] = str(folder)
    return folder


def collect(folder: Path) -> dict[str, Any]:
    """The values the attempt's other processes set, in order (a later set wins); then clean up."""
    values: dict[str, Any] = {}
    try:
        with (folder / VALUES_FILE).open(encoding="utf-8") as handle:
            for line in handle:
                if line.endswith("\n"):  # a line cut short by a killed writer is not a value
                    entry = json.loads(line)
                    values[entry["key"]] = entry["value"]
    except FileNotFoundError:
        pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get(VARIABLE) == str(folder):
            del os.environ[VARIABLE]
    return values


def exported_folder() -> Path | None:
    """The folder of the attempt this process belongs to, if a parent exported one."""
    named = os.environ.get(VARIABLE)
    return Path(named) if named else None


def load(folder: Path) -> dict[str, Any]:
    """The context an attempt exported to ``folder``.

    Raises:
        TaskValueError: the folder is gone (the attempt ended) or is not private.
    """
    try:
        status = folder.stat()
        text = (folder / CONTEXT_FILE).read_text(encoding="utf-8")
    except OSError as error:
        msg = (
            f"{VARIABLE}={folder} names no running attempt's context ({error.strerror}); "
            "task_values, params and `flowkit values` work in processes a running task started"
        )
        raise TaskValueError(msg) from None
    if status.st_uid != os.getuid() or stat.S_IMODE(status.st_mode) & 0o077:
        msg = f"{VARIABLE}={folder} is not a private folder of this user; refusing to use it"
        raise TaskValueError(msg)
    return json.loads(text)


def append_value(folder: Path, key: str, value: Any) -> None:
    """Add one value to the attempt's values, as one line written at once (O_APPEND)."""
    line = json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(folder / VALUES_FILE, flags, 0o600)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)
