"""Text that came from a task or a user, made safe to print, and output that survives a closed pipe.

``escape`` is the one place that decides how such text reaches a terminal:
every renderer (the progress lines, the live display, the run summary, ``show``,
``logs``, ``graph``, error messages) passes task- and user-supplied text through
it. C0 and C1 control characters, DEL and the characters that reorder or break
lines (bidi overrides and isolates, U+2028, U+2029) become the escapes Python's
``repr`` writes (``\\x1b``, ``\\n``, ``\\u202e``); everything else, ordinary
printable unicode included, is kept. An error message with ``\\x1b]0;...\\x07``
thus shows as text and cannot retitle the terminal, and a newline in a value
cannot forge a line of output.

``write_out`` writes to standard output as a Unix tool does: once the reader
has gone (``flowkit run ... | head``), the rest is dropped and the command goes
on to its end.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

_BIDI_AND_LINE_BREAKS = (
    *range(0x202A, 0x202F),  # embeddings and overrides
    *range(0x2066, 0x206A),  # isolates
    0x2028,  # line separator
    0x2029,  # paragraph separator
)
_CONTROLS = (*range(0x20), 0x7F, *range(0x80, 0xA0))
_ESCAPES = {code: repr(chr(code))[1:-1] for code in (*_CONTROLS, *_BIDI_AND_LINE_BREAKS)}
_ESCAPES_KEEPING_LINES = {
    code: escaped for code, escaped in _ESCAPES.items() if chr(code) not in "\n\t"
}


def escape(text: object) -> str:
    """``text`` (as ``str``) on one line: every control character written as an escape."""
    return str(text).translate(_ESCAPES)


def escape_lines(text: object) -> str:
    """``text`` with its newlines and tabs kept, every other control character escaped.

    For text that is meant to span lines: tracebacks, error messages, logs.
    """
    return str(text).translate(_ESCAPES_KEEPING_LINES)


def write_out(text: str, stream: TextIO | None = None) -> None:
    """Write and flush ``text``; a reader that has gone is not an error.

    On a closed pipe, the stream's file descriptor is pointed at ``os.devnull``
    (the recipe of Python's ``signal`` documentation), so this and every later
    write, and the flush when the interpreter exits, succeed without output.
    """
    stream = sys.stdout if stream is None else stream
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        drop_output(stream)


def drop_output(stream: TextIO | None = None) -> None:
    """Send what is still to be written to ``stream`` (default stdout) nowhere from now on."""
    stream = sys.stdout if stream is None else stream
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (a test's StringIO): nothing to redirect
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)
