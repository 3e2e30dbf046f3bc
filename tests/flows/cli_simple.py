"""Two tasks and three parameters: a run that succeeds and shows what it was given."""

from flowkit import Flow, params, task_values

flow = Flow("simple", params={"date": "2026-01-01", "limit": 10, "query": "all"})


@flow.task
def first() -> None:
    limit = params["limit"]
    print(
        f"params: date={params['date']} limit={limit} ({type(limit).__name__}) "
        f"query={params['query']}"
    )
    task_values.set("greeting", "hello")


@flow.task(depends_on=[first])
def second() -> None:
    print(f"second got {task_values.get(task_key='first', key='greeting')}")
