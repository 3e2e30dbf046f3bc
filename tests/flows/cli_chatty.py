"""``talk`` prints 5,000 lines (more than a pipe holds), then ``after`` runs."""

from flowkit import Flow

flow = Flow("chatty")


@flow.task
def talk() -> None:
    for number in range(5000):
        print(f"line {number} of what talk has to say")


@flow.task(depends_on=[talk])
def after() -> None:
    print("after talk")
