"""An orchestrator to kill: a recorded run whose second task blocks (a test helper).

usage: python store_orchestrator.py DB_PATH READY_FILE

``first`` sets task values and succeeds; ``second`` writes READY_FILE and then
sleeps until the test kills this process with SIGKILL; ``third`` never runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from flowkit import Flow, task_values
from flowkit._store import SqliteStore, StoreRecorder

flow = Flow("doomed", params={"day": "2026-11-23"})


@flow.task
def first() -> None:
    task_values.set("row_count", 14520)
    task_values.set("tables", ["orders", "customers"])


@flow.task(depends_on=[first])
def second() -> None:
    Path(sys.argv[2]).write_text("running")
    time.sleep(120)


@flow.task(depends_on=[second])
def third() -> None: ...


if __name__ == "__main__":
    flow.run(executor="inline", listeners=[StoreRecorder(SqliteStore(sys.argv[1]))])
