"""A flow with every kind and every option Databricks has a field for, to export."""

from flowkit import Cron, Flow, Health, Notify

child = Flow("child_job", params={"day": ""})


@child.task
def child_step() -> None:
    pass


flow = Flow(
    "every_kind",
    params={"day": "2026-11-28", "limit": 10},
    schedule=Cron("30 2 * * 1-5", timezone="Europe/Amsterdam"),
    max_concurrent_runs=2,
    queue=False,
    timeout=3600,
    notify=Notify(
        on_failure=["mailto://oncall@example.com", "https://hooks.example.com/x"],
        on_duration_warning=[
            "mailto://lead:{{secrets/mail/password}}@example.com?to=lead@example.org"
        ],
    ),
    health=Health(run_duration_over=1800),
)


@flow.task(retries=3, retry_delay=30, retry_backoff=2, retry_on_timeout=True, timeout=600)
def ingest() -> list[int]:
    return [1, 2]


check = flow.compare("check", "{{tasks.ingest.values.rows}}", ">", 0, depends_on=[ingest])
clean = flow.notebook(
    "clean.ipynb", parameters={"day": "{{job.parameters.day}}"}, depends_on=[check.if_true]
)
train = flow.python_script("train.py", args=["--day", "{{job.parameters.day}}"], depends_on=[clean])
metrics = flow.sql(file="metrics.sql", depends_on=[clean], run_if="all_done")
models = flow.dbt(["dbt run"], project_dir="dbt_project", depends_on=[check.if_false])
nested = flow.run_flow(
    "nested", child, params={"day": "{{job.parameters.day}}"}, depends_on=[train]
)
announce = flow.shell("announce", "echo done", depends_on=[metrics])


@flow.for_each(over=[1, 2, 3], concurrency=2, depends_on=[ingest])
def per_item(item: int) -> int:
    return item
