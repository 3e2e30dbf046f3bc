"""A flow whose definition is invalid: a dependency cycle."""

from flowkit import Flow

flow = Flow("cyclic")


@flow.task(depends_on=["b"])
def a() -> None:
    pass


@flow.task(depends_on=[a])
def b() -> None:
    pass
