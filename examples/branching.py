"""A branching flow: an If/else condition on a task value, two branches and a join.

Run it with ``python -m flowkit run examples/branching.py``; add ``-p rows=0`` for
a day with no data, which takes the other branch.

- ``ingest`` passes its row count downstream as the task value ``row_count``;
- ``has_rows`` is a declarative condition task (Databricks If/else): it compares
  ``{{tasks.ingest.values.row_count}}`` with 0 as numbers, when the attempt starts;
- ``load`` then ``publish`` follow ``has_rows.if_true``, ``warn_empty`` follows
  ``has_rows.if_false``; the branch not taken is ``excluded``, and so is
  everything downstream of it alone;
- ``report`` joins both branches with ``run_if="none_failed"``: an excluded
  branch counts as succeeded, so it runs whichever branch was taken.
"""

from __future__ import annotations

from flowkit import Flow, params, task_values

flow = Flow("branching", params={"rows": 14_520})


@flow.task
def ingest() -> None:
    rows = int(params["rows"])
    print(f"ingested {rows} rows")
    task_values.set(key="row_count", value=rows)


has_rows = flow.compare(
    "has_rows", "{{tasks.ingest.values.row_count}}", ">", 0, depends_on=[ingest]
)


@flow.task(depends_on=[has_rows.if_true])
def load() -> int:
    rows = task_values.get(task_key="ingest", key="row_count")
    print(f"loading {rows} rows into the warehouse")
    return rows


@flow.task(depends_on=[load])
def publish(load: int) -> None:
    print(f"published a dashboard over {load} rows")


@flow.task(depends_on=[has_rows.if_false])
def warn_empty() -> None:
    print("no rows today: nothing to load, the dashboard keeps yesterday's data")


@flow.task(depends_on=[publish, warn_empty], run_if="none_failed")
def report() -> None:
    print("daily report sent")
