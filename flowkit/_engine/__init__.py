"""The engine: runs and repairs flows, and provides child runs to the tasks that start them.

``run`` and ``repair`` are what ``Flow.run`` and ``Flow.repair`` call, the one
import of the engine from a layer below it (DESIGN.md §4).
"""

from flowkit._engine import child_runs as _child_runs  # noqa: F401 - provides ChildRuns
from flowkit._engine.repair import repair
from flowkit._engine.run import run

__all__ = ["repair", "run"]
