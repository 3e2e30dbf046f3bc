"""Laying a flow's graph out for SVG: layers left to right, few crossings, no overlap.

The layout is the layered one ``flowkit graph`` draws in the terminal (a task
one layer right of its deepest dependency; an edge that skips layers passes
through a point in each layer it crosses), with the ordering made for a page:
barycenter sweeps right and left (Sugiyama), keeping the order with the
fewest crossings, counted exactly. Pure: the same edges give the same layout.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import attrs

NODE_HEIGHT = 34
LAYER_GAP = 70  # between the right of one layer's widest node and the next layer
ROW_GAP = 14  # between two nodes of a layer
MARGIN = 16
CHARACTER_WIDTH = 7.2  # of the 12px monospace font the nodes use
MIN_NODE_WIDTH = 96
MAX_NODE_WIDTH = 260
SWEEPS = 8


@attrs.frozen
class Node:
    """A task's box: its top-left corner and size."""

    key: str
    x: float
    y: float
    width: float
    height: float = NODE_HEIGHT

    @property
    def label(self) -> str:
        """The key, cut with an ellipsis to fit the box (the full key is in its title)."""
        fits = int((self.width - 16) / CHARACTER_WIDTH)
        return self.key if len(self.key) <= fits else f"{self.key[: max(1, fits - 1)]}…"


@attrs.frozen
class Edge:
    """An edge as points from the upstream box's right to the dependent box's left."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]
    #: A condition branch's outcome ("true", "false"), else None.
    label: str | None = None

    @property
    def label_at(self) -> tuple[float, float]:
        """Where a branch label goes: above the middle of the edge's first stretch."""
        (x, y), (next_x, next_y) = self.points[0], self.points[1]
        return (round((x + next_x) / 2 - 10, 1), round((y + next_y) / 2 - 5, 1))

    @property
    def path(self) -> str:
        """SVG path data: straight through pass-through points, curved between layers."""
        (x, y), *rest = self.points
        parts = [f"M{compact(x)},{compact(y)}"]
        for next_x, next_y in rest:
            middle, start, end = compact((x + next_x) / 2), compact(y), compact(next_y)
            parts.append(f"C{middle},{start} {middle},{end} {compact(next_x)},{end}")
            x, y = next_x, next_y
        return " ".join(parts)


def compact(value: float) -> str:
    """A coordinate as short as it reads: one decimal, none when it is whole."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@attrs.frozen
class Layout:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: float
    height: float
    crossings: int


def layout(
    keys: Sequence[str], depends_on: Mapping[str, Sequence[tuple[str, bool | None]]]
) -> Layout:
    """Place ``keys`` (in a topological order) given each one's upstream tasks and outcomes."""
    known = set(keys)
    layer: dict[str, int] = {}
    for key in keys:
        upstream = [name for name, _ in depends_on.get(key, ()) if name in layer]
        layer[key] = 1 + max((layer[name] for name in upstream), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for key in keys:
        layers[layer[key]].append(key)
    # Long edges pass through one point per layer they cross: (source, target, layer).
    chains: list[tuple[str, str, list[str], str | None]] = []
    for key in keys:
        for name, outcome in depends_on.get(key, ()):
            if name not in known:
                continue
            passing = []
            for between in range(layer[name] + 1, layer[key]):
                point = f"\0{name}\0{key}\0{between}"
                layers[between].append(point)
                passing.append(point)
            label = None if outcome is None else ("true" if outcome else "false")
            chains.append((name, key, [name, *passing, key], label))
    neighbours_left: dict[str, list[str]] = {}
    neighbours_right: dict[str, list[str]] = {}
    for _, _, chain, _ in chains:
        for left, right in itertools.pairwise(chain):
            neighbours_right.setdefault(left, []).append(right)
            neighbours_left.setdefault(right, []).append(left)
    crossings = _order(layers, neighbours_left, neighbours_right)
    return _place(layers, chains, crossings)


def _order(
    layers: list[list[str]],
    left_of: Mapping[str, list[str]],
    right_of: Mapping[str, list[str]],
) -> int:
    """Reorder ``layers`` in place by barycenter sweeps; keep the fewest crossings found."""
    best = [list(names) for names in layers]
    best_crossings = _crossings(layers, right_of)
    for sweep in range(SWEEPS):
        rightward = sweep % 2 == 0
        indices = range(1, len(layers)) if rightward else range(len(layers) - 2, -1, -1)
        for index in indices:
            fixed = layers[index - 1] if rightward else layers[index + 1]
            neighbours = left_of if rightward else right_of
            layers[index].sort(key=_by_barycenter(layers[index], fixed, neighbours))
        crossings = _crossings(layers, right_of)
        if crossings < best_crossings:
            best, best_crossings = [list(names) for names in layers], crossings
        if best_crossings == 0:
            break
    layers[:] = best
    return best_crossings


def _by_barycenter(
    names: list[str], fixed: list[str], neighbours: Mapping[str, list[str]]
) -> Callable[[str], tuple[float, int]]:
    """A sort key: the mean position of a name's neighbours in ``fixed``; else where it is."""
    position = {name: number for number, name in enumerate(fixed)}
    current = {name: number for number, name in enumerate(names)}

    def key(name: str) -> tuple[float, int]:
        found = [position[other] for other in neighbours.get(name, ()) if other in position]
        return (sum(found) / len(found) if found else current[name], current[name])

    return key


def _crossings(layers: list[list[str]], right_of: Mapping[str, list[str]]) -> int:
    """Edge crossings between neighbouring layers: inversions, counted by merge sort."""
    total = 0
    for upper, lower in itertools.pairwise(layers):
        position = {name: number for number, name in enumerate(lower)}
        targets = [
            number
            for name in upper
            for number in sorted(position[t] for t in right_of.get(name, ()) if t in position)
        ]
        total += _inversions(targets)
    return total


def _inversions(values: list[int]) -> int:
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = values[:middle], values[middle:]
    count = _inversions(left) + _inversions(right)
    merged, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        if right[j] < left[i]:
            merged.append(right[j])
            count += len(left) - i
            j += 1
        else:
            merged.append(left[i])
            i += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    values[:] = merged
    return count


def _place(
    layers: list[list[str]],
    chains: list[tuple[str, str, list[str], str | None]],
    crossings: int,
) -> Layout:
    """Coordinates: layers as columns, each column's boxes stacked and centred."""
    widths = {
        name: min(MAX_NODE_WIDTH, max(MIN_NODE_WIDTH, 16 + CHARACTER_WIDTH * len(name)))
        for names in layers
        for name in names
        if not name.startswith("\0")
    }
    column_width = [max((widths.get(n, 0.0) for n in names), default=0.0) for names in layers]
    heights = [
        sum(NODE_HEIGHT + ROW_GAP if not n.startswith("\0") else ROW_GAP for n in names)
        for names in layers
    ]
    tallest = max(heights, default=0.0)
    centres: dict[str, tuple[float, float]] = {}
    nodes = []
    x = MARGIN
    for names, width, height in zip(layers, column_width, heights, strict=True):
        y = MARGIN + (tallest - height) / 2
        for name in names:
            if name.startswith("\0"):
                centres[name] = (x + width / 2, y + ROW_GAP / 2)
                y += ROW_GAP
                continue
            node = Node(key=name, x=x + (width - widths[name]) / 2, y=y, width=widths[name])
            nodes.append(node)
            centres[name] = (node.x + node.width / 2, y + NODE_HEIGHT / 2)
            y += NODE_HEIGHT + ROW_GAP
        x += width + LAYER_GAP
    by_key = {node.key: node for node in nodes}
    edges = []
    for source, target, chain, label in chains:
        start = by_key[source]
        end = by_key[target]
        points = [(start.x + start.width, centres[source][1])]
        points += [centres[point] for point in chain[1:-1]]
        points.append((end.x, centres[target][1]))
        edges.append(Edge(source=source, target=target, points=tuple(points), label=label))
    return Layout(
        nodes=tuple(nodes),
        edges=tuple(edges),
        width=max(x - LAYER_GAP + MARGIN, 2 * MARGIN),
        height=tallest + 2 * MARGIN,
        crossings=crossings,
    )
