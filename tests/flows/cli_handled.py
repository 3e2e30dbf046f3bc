"""A failure handled by an at_least_one_failed leaf: succeeded_with_failures (exit code 0)."""

from flowkit import Flow

flow = Flow("handled")


@flow.task
def risky() -> None:
    raise RuntimeError("the source is gone")


@flow.task(depends_on=[risky], run_if="at_least_one_failed")
def on_failure() -> None:
    print("cleaning up after risky")
