"""A flow run recorded into a shared store, started together with others (a test helper).

usage: python store_writer.py DB_PATH GO_FILE FLOW_NAME TASKS

Waits for GO_FILE to exist, so that every writer starts at once, then opens
the store (possibly creating it, racing the others) and runs a flow of TASKS
independent tasks with the inline executor, a heartbeat on every change.
Prints one JSON line: its run id, state, and when it started and ended.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from flowkit import Flow, task_values
from flowkit._store import SqliteStore, StoreRecorder


def build(name: str, count: int) -> Flow:
    flow = Flow(name, max_parallel=4)
    for index in range(count):

        def work(index: int = index) -> None:
            task_values.set("index", index)

        flow.task(name=f"t{index:03d}")(work)
    return flow


def main() -> None:
    db_path, go_file, flow_name, count = sys.argv[1:5]
    flow = build(flow_name, int(count))
    while not Path(go_file).exists():
        time.sleep(0.001)
    started = time.time()
    store = SqliteStore(db_path)
    result = flow.run(executor="inline", listeners=[StoreRecorder(store, heartbeat_interval=0)])
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "state": result.state.value,
                "started": started,
                "ended": time.time(),
            }
        )
    )


if __name__ == "__main__":
    main()
