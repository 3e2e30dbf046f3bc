"""A task interrupted as if by Ctrl-C: under the inline executor the run is cancelled."""

from flowkit import Flow

flow = Flow("interrupted")


@flow.task
def first() -> None:
    raise KeyboardInterrupt


@flow.task(depends_on=[first])
def second() -> None:
    pass
