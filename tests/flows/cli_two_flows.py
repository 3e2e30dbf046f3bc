"""Two flows in one module (one of them under two names): the target must pick one."""

from flowkit import Flow

daily = Flow("daily")
also_daily = daily
nightly_flow = Flow("nightly")


@daily.task
def report() -> None:
    print("daily report")


@nightly_flow.task
def backup() -> None:
    print("nightly backup")
