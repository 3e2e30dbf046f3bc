"""The lakehouse example: ingest -> clean -> metrics | train -> alert.

Run it with ``python -m flowkit run examples/lakehouse.py`` (add ``-p date=2019-06-01``
for a day with no data), or draw it with ``python -m flowkit graph examples/lakehouse.py``.

- ``ingest`` passes its row count downstream as the task value ``row_count``;
- ``clean`` reads it, warns when it is 0, and is flaky: the warehouse refuses
  the first attempt of every run, so its ``retries=3`` always see it through;
- ``metrics`` and ``train`` run in parallel once ``clean`` is done;
- ``alert`` runs only when one of them failed (``run_if="at_least_one_failed"``),
  so in a good run it is ``excluded`` and the run still ``succeeded``.
"""

from __future__ import annotations

from loguru import logger

from flowkit import Flow, params, task_values
from flowkit._context import current_context

flow = Flow("lakehouse", max_parallel=4, params={"date": "2026-11-23"})

#: The simulated source system has data from this day on.
FIRST_DAY = "2020-01-01"


@flow.task
def ingest() -> None:
    date = params["date"]
    rows = 14_520 if date >= FIRST_DAY else 0
    print(f"ingested {rows} rows for {date}")
    task_values.set(key="row_count", value=rows)


@flow.task(depends_on=[ingest], retries=3, retry_delay=0.5)
def clean() -> None:
    context = current_context()
    if context is not None and context.attempt == 1:
        # Deterministic flakiness, so the example always ends the same way.
        raise ConnectionError("warehouse not ready (the first attempt of every run fails)")
    rows = task_values.get(task_key="ingest", key="row_count", default=0)
    if rows == 0:
        logger.warning("clean: ingest loaded no rows for {}; the tables stay empty", params["date"])
    print(f"clean received {rows} rows")
    task_values.set(key="clean_rows", value=rows)


@flow.task(depends_on=[clean])
def metrics() -> None:
    rows = task_values.get(task_key="clean", key="clean_rows", default=0)
    print(f"metrics over {rows} rows")


@flow.task(depends_on=[clean])
def train() -> None:
    rows = task_values.get(task_key="clean", key="clean_rows", default=0)
    print(f"trained the model on {rows} rows")


@flow.task(depends_on=[metrics, train], run_if="at_least_one_failed")
def alert() -> None:
    print(f"ALERT: the lakehouse run for {params['date']} had a failure")
