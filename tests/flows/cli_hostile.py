"""Tasks whose output and error hold terminal escape sequences and control characters.

``colour`` prints a coloured line and a title change and succeeds; ``retitle``
fails with an error whose message would retitle the terminal if printed raw.
"""

from flowkit import Flow

flow = Flow("hostile", params={"note": "plain"})


@flow.task
def colour() -> None:
    print("\x1b[31mred\x1b[0m and \x1b]0;owned\x07 and a bell\x07")


@flow.task(depends_on=[colour])
def retitle() -> None:
    raise RuntimeError("\x1b]0;pwned\x07 boom\x9b2J")
