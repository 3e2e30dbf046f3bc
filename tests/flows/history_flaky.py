"""``wobbly`` fails its first attempt and succeeds its second; ``quiet`` prints nothing."""

import os
from pathlib import Path

from flowkit import Flow

flow = Flow("flaky")


@flow.task(retries=1)
def wobbly():
    counter = Path(os.environ["FLOWKIT_TEST_DIR"]) / "wobbly.count"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    print(f"wobbly speaking, attempt {count}")
    if count == 1:
        raise RuntimeError("first attempt always fails")


@flow.task(depends_on=[wobbly])
def quiet():
    pass
