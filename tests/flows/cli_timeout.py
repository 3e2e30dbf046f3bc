"""A flow with a timeout, which the inline executor warns it cannot enforce."""

from flowkit import Flow

flow = Flow("timed")


@flow.task(timeout=30)
def slow() -> None:
    pass
