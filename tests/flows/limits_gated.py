"""Two flows at max_concurrent_runs=1 whose task waits for a gate file: one queues, one skips.

The task writes ``started-<run_id>`` into ``$GATE_DIR`` and returns once ``open`` exists there.
"""

import os
import time
from pathlib import Path

from flowkit import Flow, params

queueing = Flow("gated_queue", max_concurrent_runs=1, params={"name": "x"})
skipping = Flow("gated_skip", max_concurrent_runs=1, queue=False, params={"name": "x"})


def wait_for_gate() -> None:
    gate = Path(os.environ["GATE_DIR"])
    (gate / f"started-{params['name']}").write_text(str(time.time()))
    while not (gate / "open").exists():
        time.sleep(0.02)


queueing.task(name="work")(wait_for_gate)
skipping.task(name="work")(wait_for_gate)
