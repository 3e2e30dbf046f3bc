"""An attempt's output as the orchestrator receives it: a private log file, and lines.

Chunks come as the attempt's process wrote them; each is redacted (a secret is
redacted whole, never split across two chunks: what follows the last newline is
held back until its line ends), appended to the attempt's log, opened at the
first byte with mode 0600, and cut into lines for ``on_output``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import attrs

from flowkit._secrets import Redactor
from flowkit.executors._wire import write_all

#: Called with (task_key, attempt, line) for every line an attempt prints.
OutputSink = Callable[[str, int, str], None]

#: Bytes read at once; also the longest line shown whole (a longer one comes in pieces).
CHUNK = 65536
_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


@attrs.define
class AttemptLog:
    """One attempt's log file and the line it is in the middle of."""

    task_key: str
    attempt: int
    path: Path
    redactor: Redactor
    on_output: OutputSink | None
    fd: int = -1  # the log file, opened at the first byte of output
    partial: bytes = b""
    #: Output after its last newline, held back until the line ends.
    unredacted: bytes = b""
    #: Why the log stopped being written (a full disk), once that happened.
    error: str | None = None

    @property
    def written(self) -> str | None:
        """The log's path, once the attempt printed anything."""
        return str(self.path) if self.fd != -1 else None

    def add(self, data: bytes) -> None:
        """A chunk of output: its whole lines, redacted, to the log and to ``on_output``."""
        data, self.unredacted = self.redactor.whole_lines(self.unredacted, data)
        self._write(data)
        self._emit(data)

    def end(self) -> None:
        """The output is over: what was held back goes too, and the last line without EOL."""
        if self.unredacted:
            data, self.unredacted = self.redactor.bytes(self.unredacted), b""
            self._write(data)
            self._emit(data)
        self._emit(b"", final=True)

    def close(self) -> None:
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1  # closed once: the number may be another file's by now

    def _write(self, data: bytes) -> None:
        """Append to the log; a failed write (a full disk) ends the log, not the run."""
        if self.error is not None or not data:
            return
        try:
            if self.fd == -1:
                self.fd = os.open(self.path, _LOG_FLAGS, 0o600)
            write_all(self.fd, data)
        except OSError as error:  # a full disk: the log stops there, the attempt goes on
            self.error = str(error.strerror or error)
            msg = (
                f"task {self.task_key!r}, attempt {self.attempt}: its log {self.path} cannot "
                f"be written ({self.error}); the rest of its output is shown but not kept, "
                "and the attempt goes on"
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=1)

    def _emit(self, data: bytes, *, final: bool = False) -> None:
        if self.on_output is None:
            return
        lines = (self.partial + data).split(b"\n")
        if final:
            self.partial = b""
            if not lines[-1]:
                lines.pop()
        else:
            self.partial = lines.pop()
            if len(self.partial) > CHUNK:  # a very long line is shown in pieces
                lines.append(self.partial)
                self.partial = b""
        for line in lines:
            self.on_output(self.task_key, self.attempt, line.decode(errors="replace"))
