"""Two flows whose tasks share the home's pool of one: for tests of shared pools across runs."""

import os
import time
from pathlib import Path

from flowkit import Flow, Pool

SPANS = Path(os.environ.get("FLOWKIT_TEST_SPANS", "/nonexistent"))


def _loads(name: str) -> Flow:
    flow = Flow(name, max_parallel=3, pools={"warehouse": Pool(1, shared=True)})
    for index in range(3):

        def load() -> None:
            started = time.time()
            time.sleep(0.3)
            with (SPANS / f"{os.getpid()}.span").open("w") as handle:
                handle.write(f"{started} {time.time()}")

        flow.task(name=f"load_{index}", pool="warehouse")(load)
    return flow


sales = _loads("sales")
stock = _loads("stock")
