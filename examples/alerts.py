"""The seed's alert: ingest counts rows, a check decides whether that is alarming, and a
failed run tells a webhook given on the command line.

    python -m flowkit run examples/alerts.py                      # rows found: no alert
    python -m flowkit run examples/alerts.py -p rows=0 \\
        -p webhook=https://hooks.example.com/T1/B2         # no rows: the run fails, on_failure
    python -m flowkit notify test https://hooks.example.com/T1/B2 # is the webhook reachable?

- ``ingest`` sets the task value ``row_count`` (here from the ``rows`` parameter,
  standing in for a real source);
- ``no_rows`` compares it with 0 (a condition task, Databricks' If/else);
- ``alert`` runs only when there were no rows, and fails the run with the reason;
- the flow's ``on_failure`` goes to ``{{job.parameters.webhook}}``: left empty,
  nobody is told; a run longer than ten minutes warns the same webhook;
- the warehouse password is a secret (``FLOWKIT_SECRET_WAREHOUSE_PASSWORD`` or
  ``$FLOWKIT_HOME/secrets.toml``): ``load`` prints it, and flowkit shows ``[REDACTED]``.
"""

from __future__ import annotations

from flowkit import Flow, Health, Notify, params, secrets, task_values

webhook = "{{job.parameters.webhook}}"
flow = Flow(
    "alerts",
    params={"rows": 14_520, "webhook": ""},
    notify=Notify(on_failure=[webhook], on_duration_warning=[webhook]),
    health=Health(run_duration_over=600),
)


@flow.task
def ingest() -> None:
    rows = int(params["rows"])
    print(f"ingested {rows} rows")
    task_values.set("row_count", rows)


no_rows = flow.compare("no_rows", "{{tasks.ingest.values.row_count}}", "==", 0, depends_on=[ingest])


@flow.task(depends_on=[no_rows.if_true])
def alert() -> None:
    msg = "ingest found no rows: the source delivered nothing today"
    raise RuntimeError(msg)


@flow.task(depends_on=[no_rows.if_false])
def load() -> None:
    try:
        password = secrets.get("warehouse", "password")
    except Exception:
        password = None
    print(f"loading with password {password}" if password else "no warehouse password set")
