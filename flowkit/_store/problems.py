"""SQLite and file errors of the run store, in words: what went wrong and what to do."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from flowkit._errors import StoreError

HOME_HINT = "point FLOWKIT_HOME (or --home) at another folder"


def cannot_open(error: sqlite3.Error) -> bool:
    """Whether SQLite could not open a file it needs (a WAL store's -shm in a read-only folder)."""
    text = str(error).lower()
    return "unable to open" in text or "readonly" in text or "read-only" in text


def file_error(path: Path, doing: str, error: OSError) -> StoreError:
    """A StoreError for a file of the store (the database, a return value) that failed."""
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        msg = (
            f"cannot write the run store's file {path} while {doing}: {reason}. "
            "Free some space (or raise the quota) there, or point FLOWKIT_HOME (or --home) "
            "at another folder"
        )
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        msg = read_only_message(path, doing, detail=reason)
    else:
        msg = f"run store file {path}: {doing} failed: {reason}"
    return StoreError(msg)


def translate(error: sqlite3.Error, path: Path, *, doing: str, busy_timeout: float) -> StoreError:
    """A StoreError that says what went wrong with ``path`` in words, and what to do."""
    text = str(error)
    lowered = text.lower()
    if is_busy(error):
        msg = (
            f"run store {path} stayed locked by another process for more than "
            f"{busy_timeout:g}s while {doing}; another flowkit is holding it. "
            "Try again once it is done"
        )
    elif "disk is full" in lowered or "disk i/o error" in lowered:
        msg = (
            f"cannot write the run store {path} while {doing}: the disk is full or failing "
            f"(sqlite says: {text}). Free some space there, or point FLOWKIT_HOME (or --home) "
            "at another folder"
        )
    elif any(word in lowered for word in ("readonly", "read-only", "unable to open", "permission")):
        msg = read_only_message(path, doing, detail=text)
    elif any(word in lowered for word in ("not a database", "malformed", "corrupt")):
        msg = (
            f"run store {path} is damaged or not a database (sqlite says: {text}) "
            f"while {doing}. flowkit has not changed it: move it aside (for example "
            f"to {path.name}.bad) to start a new history, or {HOME_HINT}"
        )
    else:
        msg = f"run store {path}: {doing} failed: {type(error).__name__}: {text}"
    return StoreError(msg)


def read_only_message(path: Path, doing: str, *, detail: str = "") -> str:
    said = f" (sqlite says: {detail})" if detail else ""
    return (
        f"cannot write the run store {path} while {doing}: its folder {path.parent} or the "
        f"file is read-only{said}. Make it writable, or point FLOWKIT_HOME (or --home) at "
        "a writable folder"
    )


def is_busy(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text
