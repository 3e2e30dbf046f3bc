"""Two Python tasks passing a return value and a task value, for the flowkit-task entry point."""

from flowkit import Flow, task_values

flow = Flow("wheel_tasks", params={"factor": "2"})


@flow.task
def extract() -> list[int]:
    task_values.set("rows", 3)
    return [1, 2, 3]


@flow.task(depends_on=[extract])
def double(extract: list[int], factor: str) -> list[int]:
    assert task_values.get("extract", "rows") == 3
    return [item * int(factor) for item in extract]


@flow.task
def unrelated() -> None:
    task_values.get("double", "rows")
