"""A flow with a shell step: a Python task hands a value to a shell command.

Run it with ``python -m flowkit run examples/shell_step.py`` (add ``-p model=customers``
to build another model).

- ``ingest`` passes its row count downstream as the task value ``row_count``;
- ``build`` is a shell step: its command reads that value and the ``model``
  parameter through dynamic value references, which flowkit fills in when the
  attempt starts, each as one quoted shell word (so ``-p 'model=a; b'`` is
  the text ``a; b``, never a second command); its output lands in the task's
  log like any task's print.
"""

from __future__ import annotations

from flowkit import Flow, task_values

flow = Flow("shell_step", params={"model": "orders"})


@flow.task
def ingest() -> None:
    rows = 14_520
    print(f"ingested {rows} rows")
    task_values.set(key="row_count", value=rows)


build = flow.shell(
    "build",
    # Each reference becomes one quoted shell word, so it stays outside quotes;
    # text for inside quotes comes through env, as RUN_DAY does.
    "echo building {{job.parameters.model}} from {{tasks.ingest.values.row_count}} rows "
    '"on $(date -u +%F) ($RUN_DAY)" for run {{job.run_id}}',
    depends_on=[ingest],
    env={"RUN_DAY": "{{job.start_time.iso_date}}"},
    retries=1,
)
