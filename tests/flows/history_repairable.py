"""ingest -> transform -> (report, alert); transform fails while $FLOWKIT_TEST_DIR/broken exists.

Each task adds one to ``$FLOWKIT_TEST_DIR/TASK.count`` when it runs, so a test
can tell what a repair re-ran.
"""

import os
from pathlib import Path

from flowkit import Flow, task_values

flow = Flow("repairable", params={"day": "monday"})


def _count(name: str) -> Path:
    folder = Path(os.environ["FLOWKIT_TEST_DIR"])
    counter = folder / f"{name}.count"
    counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
    return folder


@flow.task
def ingest():
    _count("ingest")
    print("ingested 42 rows")
    task_values.set("rows", 42)


@flow.task(depends_on=[ingest])
def transform():
    folder = _count("transform")
    print("transforming")
    if (folder / "broken").exists():
        raise RuntimeError("source is broken\nsee the flag file")
    task_values.set("rows", task_values.get(task_key="ingest", key="rows") * 2)


@flow.task(depends_on=[transform])
def report():
    _count("report")
    task_values.set("total", task_values.get(task_key="transform", key="rows"))


@flow.task(depends_on=[transform], run_if="at_least_one_failed")
def alert():
    _count("alert")
