"""A failure that nothing handles: the run fails (exit code 1)."""

from flowkit import Flow

flow = Flow("failing")


@flow.task
def extract() -> None:
    pass


@flow.task(depends_on=[extract])
def transform() -> None:
    raise ValueError("bad row 7\nthe second line stays out of the summary")


@flow.task(depends_on=[transform])
def load() -> None:
    pass
