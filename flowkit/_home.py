"""flowkit's home: the one place that says where it is and what lives in it.

The home is ``$FLOWKIT_HOME``, else ``.flowkit`` in the working directory
(``--home`` sets the variable for the command line): the run store
(``flowkit.db``), the attempts' logs (``logs/``), kept return values. Nothing
else reads ``FLOWKIT_HOME``.

Files flowkit writes under its home are private: folders it creates 0700, files 0600.

A home may be an existing folder any user can read (``--home ~/work``); what
flowkit puts inside (the run store, logs, return values) holds task output and
parameters, so it is readable by its owner only, whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
HOME_VARIABLE = "FLOWKIT_HOME"
DATABASE_NAME = "flowkit.db"


def home_folder(home: str | os.PathLike[str] | None = None) -> Path:
    """The home, absolute: ``home`` when given, else ``$FLOWKIT_HOME``, else ``./.flowkit``."""
    if home is None:
        home = os.environ.get(HOME_VARIABLE) or ".flowkit"
    return Path(home).absolute()


def store_file(home: str | os.PathLike[str] | None = None) -> Path:
    """The run store's SQLite file in the home."""
    return home_folder(home) / DATABASE_NAME


def logs_folder() -> Path:
    """Where attempts' logs go, as ``RUN_ID/TASK.ATTEMPT.log``."""
    return home_folder() / "logs"


def reports_folder() -> Path:
    """Where ``flowkit report`` writes ``RUN_ID.html``."""
    return home_folder() / "reports"


def make_private_folder(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and every missing parent, each mode 0700; existing ones are left as they are.

    Raises:
        OSError: a folder cannot be created.
    """
    folder = Path(path)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            os.mkdir(candidate, FOLDER_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process: its mode is its maker's
        os.chmod(candidate, FOLDER_MODE)  # the umask may have taken more than group and other
    return folder


def open_private_file(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open`` with mode 0600 for a file it creates, in a private folder.

    Raises:
        OSError: the folder or the file cannot be created or opened.
    """
    make_private_folder(Path(path).parent)
    return os.open(path, flags, FILE_MODE)


def write_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename), mode 0600.

    Raises:
        OSError: the file cannot be written (a full disk: ENOSPC); ``path`` is then unchanged.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = open_private_file(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
