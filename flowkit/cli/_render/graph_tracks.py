"""The drawing's items and stars, and where each star's lines attach and run.

An item is a task's box or a one-column pass-through; a star is the edges
between two neighbouring rows that share one end. ``attach`` gives every star
its own attachment column on each item it touches (widening nothing: an item
with no free column is reported ``cramped``, and the layout widens it), and
``assign_tracks`` puts each bent star on a horizontal track of its own, so two
lines meet only where edges really do.
"""

from __future__ import annotations

import graphlib
from collections.abc import Sequence

import attrs


@attrs.define
class Item:
    """A box for a task, or a one-column pass-through for an edge that skips this level."""

    index: int
    level: int
    task: str | None  # None for a pass-through
    width: int = 1
    x: int = 0
    top: list[int] = attrs.Factory(list)  # attachment columns, one per star above
    bottom: list[int] = attrs.Factory(list)  # attachment columns, one per star below

    @property
    def center(self) -> int:
        return self.x + (self.width - 1) // 2


@attrs.define(eq=False)  # stars are told apart by identity
class Star:
    """Edges between two neighbouring rows that share one end: one line on one track."""

    sources: list[int]
    targets: list[int]
    source_columns: list[int] = attrs.Factory(list)
    target_columns: list[int] = attrs.Factory(list)
    track: int = -1  # -1: a straight vertical, which needs no track of its own

    @property
    def span(self) -> tuple[int, int]:
        columns = self.source_columns + self.target_columns
        return min(columns), max(columns)


def mean(values: Sequence[int]) -> int:
    return mean_of(sum(values), len(values))


def mean_of(total: int, count: int) -> int:
    """``total / count`` rounded half up, in integers so the layout is exact."""
    return (2 * total + count) // (2 * count)


def attach(items: list[Item], channel: list[Star], cramped: set[int]) -> None:
    """Give every star its own attachment column on each item it touches.

    A column where one star leaves the upper row is avoided by every other star
    entering the lower row, so that lines meet only where edges do; an item that
    has no such column left is added to ``cramped``.
    """
    below: dict[int, list[Star]] = {}
    above: dict[int, list[Star]] = {}
    for star in channel:
        for source in star.sources:
            below.setdefault(source, []).append(star)
        for target in star.targets:
            above.setdefault(target, []).append(star)
    # A pass-through cannot move: the boxes above keep clear of it.
    taken = {items[t].x: star for star in channel for t in star.targets if items[t].task is None}
    for index, stars in below.items():
        far_ends = [_far_end(items, star.targets) for star in stars]
        items[index].bottom = _columns(
            items[index], stars, far_ends, taken, align=False, cramped=cramped
        )
    taken = {items[i].bottom[below[i].index(star)]: star for star in channel for i in star.sources}
    for index, stars in above.items():
        far_ends = [_far_end(items, star.sources) for star in stars]
        items[index].top = _columns(
            items[index], stars, far_ends, taken, align=True, cramped=cramped
        )
    for star in channel:
        star.source_columns = [items[i].bottom[below[i].index(star)] for i in star.sources]
        star.target_columns = [items[i].top[above[i].index(star)] for i in star.targets]


def _far_end(items: list[Item], members: list[int]) -> int:
    return mean([items[index].center for index in members])


def _columns(
    item: Item,
    stars: list[Star],
    far_ends: list[int],
    taken: dict[int, Star],
    *,
    align: bool,
    cramped: set[int],
) -> list[int]:
    """Attachment columns for ``stars`` on ``item``, left to right as their far ends lie.

    Ideally two apart around the centre or, with ``align``, straight under the
    star's own column in ``taken``; never a column ``taken`` by another star
    while the box has room.
    """
    if item.task is None:
        return [item.x]
    count = len(stars)
    ranked = sorted(range(count), key=lambda star: (far_ends[star], star))
    columns = [0] * count
    low, last = item.x + 1, item.x + item.width - 2
    for rank, number in enumerate(ranked):
        star = stars[number]
        high = last - 2 * (count - 1 - rank)
        own = [column for column, other in taken.items() if other is star] if align else []
        ideal = item.center - (count - 1) + 2 * rank
        if len(own) == 1 and low <= own[0] <= high:
            ideal = own[0]
        free = [column for column in range(low, high + 1) if taken.get(column, star) is star]
        if free:
            columns[number] = min(free, key=lambda column: (abs(column - ideal), column))
        else:
            columns[number] = max(low, min(ideal, high))
            cramped.add(item.index)
        low = columns[number] + 2
    return columns


def assign_tracks(channel: list[Star]) -> None:
    """Put each bent star on the first track where it fits below the stars it must follow.

    A star that leaves an item at column c must end its vertical above any star
    that enters an item at column c, or the two lines would merge into one.
    """
    bent = sorted(
        (star for star in channel if star.span[0] != star.span[1]), key=lambda star: star.span
    )
    entering: dict[int, list[int]] = {}
    for position, star in enumerate(bent):
        for column in star.target_columns:
            entering.setdefault(column, []).append(position)
    follows: dict[int, set[int]] = {position: set() for position in range(len(bent))}
    for position, star in enumerate(bent):
        for column in star.source_columns:
            for later in entering.get(column, []):
                if later != position:
                    follows[later].add(position)
    try:
        order = list(graphlib.TopologicalSorter(follows).static_order())
    except graphlib.CycleError:  # two stars each needing to be above the other: let them touch
        order = list(range(len(bent)))
    occupied: list[list[tuple[int, int]]] = []
    for position in order:
        star = bent[position]
        low, high = star.span
        track = max((bent[before].track + 1 for before in follows[position]), default=0)
        while track < len(occupied) and any(
            low <= other_high + 1 and other_low <= high + 1
            for other_low, other_high in occupied[track]
        ):
            track += 1
        occupied.extend([] for _ in range(track + 1 - len(occupied)))
        occupied[track].append(star.span)
        star.track = track
