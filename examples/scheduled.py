"""Two flows that run by themselves under ``flowkit serve``: a nightly schedule, a landing folder.

    python -m flowkit schedule examples/scheduled.py      # what fires, and when
    mkdir -p landing && python -m flowkit serve examples/scheduled.py
    cp examples/data/orders.csv landing/                  # (another terminal) fires `landing`

- ``nightly`` runs at 03:00 in Amsterdam (a Quartz expression, as a Databricks
  job writes it), one run at a time (``max_concurrent_runs=1``; a run that is
  due while one still runs waits, ``queue=True``), and gives up after an hour
  (``timeout``). Its report is for the day it was scheduled for,
  ``{{job.trigger.time.iso_date}}``, so ``flowkit backfill`` re-runs past days
  with the right date.
- ``landing`` runs when files land in ``./landing``, once the folder has been
  quiet for ten seconds; files already there when it is first served do not
  fire, files that arrive while nothing serves do, at the next serve.
"""

from __future__ import annotations

import csv
from pathlib import Path

from flowkit import Cron, FileArrival, Flow, params, task_values

nightly = Flow(
    "nightly",
    schedule=Cron("0 0 3 * * ?", timezone="Europe/Amsterdam"),
    max_concurrent_runs=1,
    queue=True,
    timeout=3600,
    params={"region": "eu"},
)


@nightly.task(retries=2, retry_delay=60)
def extract() -> None:
    print(f"extracting {params['region']}")
    task_values.set("rows", 14_520)


nightly.shell(
    "report",
    "echo report for {{job.trigger.time.iso_date}}, trigger {{job.trigger.type}}:"
    " {{tasks.extract.values.rows}} rows",
    depends_on=["extract"],
)

landing = Flow(
    "landing",
    trigger=FileArrival("landing", wait_after_last_change=10, min_time_between_triggers=30),
)


@landing.task
def count_rows() -> None:
    folder = Path("landing")
    counts = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as handle:
            counts[path.name] = sum(1 for _ in csv.reader(handle)) - 1
    print(f"rows per file in {folder}: {counts}")
    task_values.set("files", len(counts))
