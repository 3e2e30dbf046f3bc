"""The seed's lakehouse DAG, for real on a laptop: Python, a notebook, SQL on DuckDB, a script.

    pip install -e '.[notebook,sql]'
    python -m flowkit run examples/seed_lakehouse/flow.py
    python -m flowkit graph examples/seed_lakehouse/flow.py

- ``ingest`` (Python) writes 14,520 generated orders into DuckDB and sets the task
  value ``row_count``, as the seed's Task A does;
- ``clean`` (a notebook) reads it with ``dbutils.jobs.taskValues.get(taskKey="ingest",
  key="row_count", default=0)`` as the seed's Task B does, warns when it is 0, drops
  the orders without an amount and exports the rest as Parquet; it is retried once
  (the flaky step);
- ``metrics`` (SQL on DuckDB) sums the clean orders per day; its first row's
  columns become task values;
- ``train`` (a Python script), beside ``metrics``, fits revenue against the day number
  with the standard library from the exported orders, and sets the slope;
- ``alert`` runs only when ``metrics`` or ``train`` failed (``at_least_one_failed``).

The warehouse is ``warehouse.duckdb`` in the working directory (``-p warehouse=PATH``).
"""

from __future__ import annotations

import duckdb

from flowkit import Flow, params, task_values

flow = Flow("seed_lakehouse", params={"date": "2026-11-23", "warehouse": "warehouse.duckdb"})

ROWS = 14_520


@flow.task
def ingest() -> None:
    with duckdb.connect(params["warehouse"]) as warehouse:
        # 14,520 orders over the 30 days up to the run's date; every 97th has no amount.
        warehouse.execute(
            "create or replace table raw_orders as "
            "select range::integer as id, "
            "($day::date - to_days((range % 30)::integer))::date as day, "
            "case when range % 97 = 0 then null "
            "else round(5 + (hash(range) % 49500) / 100.0, 2) end as amount "
            "from range($rows)",
            {"day": params["date"], "rows": ROWS},
        )
    print(f"ingested {ROWS} orders for the 30 days up to {params['date']}")
    task_values.set(key="row_count", value=ROWS)


clean = flow.notebook(
    "clean.ipynb",
    parameters={"warehouse": "{{job.parameters.warehouse}}"},
    depends_on=[ingest],
    retries=1,
)

metrics = flow.sql(
    file="metrics.sql",
    database="{{job.parameters.warehouse}}",
    values="first_row",
    depends_on=[clean],
)

# Beside metrics, not after it: it reads the clean orders the notebook exported.
train = flow.python_script(
    "train.py",
    args=["--orders", "{{job.parameters.warehouse}}.clean_orders.parquet"],
    depends_on=[clean],
)


@flow.task(depends_on=[metrics, train], run_if="at_least_one_failed")
def alert() -> None:
    print("ALERT: the metrics or the model did not build; see `flowkit show`")
