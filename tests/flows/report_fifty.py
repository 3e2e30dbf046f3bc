"""Fifty tasks in seven layers, fanning out and in, for the report's graph in a browser."""

from flowkit import Flow

flow = Flow("fifty")
WIDTHS = (1, 6, 12, 14, 10, 6, 1)

previous: list = []
number = 0
for layer, width in enumerate(WIDTHS):
    current = []
    for index in range(width):
        upstream = [previous[(index + k) % len(previous)] for k in range(2)] if previous else []
        upstream = list(dict.fromkeys(upstream))

        def body() -> None:
            pass

        current.append(flow.task(name=f"layer{layer}_task{index}", depends_on=upstream)(body))
        number += 1
    previous = current
