"""``flaky`` fails its first attempt and succeeds its retry, 0.3 s later; two tasks around it."""

import os
from pathlib import Path

from flowkit import Flow

flow = Flow("retried")


@flow.task
def first():
    print("first")


@flow.task(depends_on=[first], retries=1, retry_delay=0.3)
def flaky():
    counter = Path(os.environ["FLOWKIT_TEST_DIR"]) / "flaky.count"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    if count == 1:
        raise RuntimeError("the first attempt fails")


@flow.task(depends_on=[flaky])
def last():
    print("last")
