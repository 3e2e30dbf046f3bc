"""Write 14,520 generated orders into the DuckDB warehouse and say how many (the seed's Task A)."""

import argparse

import duckdb

from flowkit.compat import dbutils

ROWS = 14_520

arguments = argparse.ArgumentParser()
arguments.add_argument("--warehouse", required=True, help="the DuckDB file")
arguments.add_argument("--date", required=True, help="the last day of the orders")
given = arguments.parse_args()

with duckdb.connect(given.warehouse) as warehouse:
    # 14,520 orders over the 30 days up to the date; every 97th has no amount.
    warehouse.execute(
        "create or replace table raw_orders as "
        "select range::integer as id, "
        "($day::date - to_days((range % 30)::integer))::date as day, "
        "case when range % 97 = 0 then null "
        "else round(5 + (hash(range) % 49500) / 100.0, 2) end as amount "
        "from range($rows)",
        {"day": given.date, "rows": ROWS},
    )
print(f"ingested {ROWS} orders for the 30 days up to {given.date}")
dbutils.jobs.taskValues.set(key="row_count", value=ROWS)
