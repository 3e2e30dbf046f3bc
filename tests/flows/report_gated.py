"""A run that waits for a file: ``first`` succeeds, ``gated`` runs until GATE exists."""

import os
import time
from pathlib import Path

from flowkit import Flow

flow = Flow("gated")


@flow.task
def first() -> None:
    print("first done")


@flow.task(depends_on=[first])
def gated() -> None:
    gate = Path(os.environ["REPORT_GATE"])
    while not gate.exists():
        time.sleep(0.05)
    print("through the gate")
