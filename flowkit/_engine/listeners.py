"""EchoOutput: the listener that prints what attempts print, as ``[task] line``."""

from __future__ import annotations

import sys
from typing import Any

from flowkit._events import RunListener, RunView


class EchoOutput(RunListener):
    """Prints each captured line as ``[task] line`` (``[task#2]`` from the second attempt)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    def task_output(self, run: RunView, task_key: str, attempt: int, line: str) -> None:
        stream = self.stream or sys.stdout
        label = task_key if attempt == 1 else f"{task_key}#{attempt}"
        stream.write(f"[{label}] {line}\n")
        stream.flush()
