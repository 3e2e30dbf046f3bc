"""Fit revenue against the day number (least squares, standard library) and keep the slope."""

import argparse
import statistics

import duckdb

from flowkit.compat import dbutils

arguments = argparse.ArgumentParser()
arguments.add_argument("--orders", required=True, help="the clean orders, as Parquet")
orders = arguments.parse_args().orders

rows = duckdb.execute(
    "select day, sum(amount) from read_parquet($orders) group by day order by day",
    {"orders": orders},
).fetchall()
first = rows[0][0]
days = [(day - first).days for day, _ in rows]
revenue = [float(amount) for _, amount in rows]
fit = statistics.linear_regression(days, revenue)
print(f"revenue = {fit.intercept:.2f} + {fit.slope:.2f} * day, over {len(rows)} days")
dbutils.jobs.taskValues.set(key="slope", value=round(fit.slope, 4))
