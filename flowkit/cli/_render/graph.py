"""Drawing a plan in the terminal: boxes, one row per level, and box-drawing arrows.

``render(plan)`` is pure: the same plan gives the same text. The layout is a
small Sugiyama: an edge that skips levels becomes a vertical line through the
levels it passes; the edges between two neighbouring rows are grouped into
stars (one task fanning out, or many fanning in), each drawn as one horizontal
line on its own track; a task in several stars gets one attachment point per
star, so lines meet only where the edges really do. Where two lines cross, the
vertical one is drawn through (``─│─``), never a junction.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence

from flowkit._definition.spec import RunIf
from flowkit._planning.plan import Plan
from flowkit.cli._render.graph_notes import branches, listing
from flowkit.cli._render.graph_tracks import Item, Star, assign_tracks, attach, mean, mean_of

GAP = 3  # columns between neighbouring items of a row
ARROW = "▼"
_GLYPHS = {
    frozenset("ud"): "│",
    frozenset("lr"): "─",
    frozenset("dr"): "┌",
    frozenset("dl"): "┐",
    frozenset("ur"): "└",
    frozenset("ul"): "┘",
    frozenset("udr"): "├",
    frozenset("udl"): "┤",
    frozenset("lrd"): "┬",
    frozenset("lru"): "┴",
    frozenset("udlr"): "┼",
    frozenset("u"): "│",
    frozenset("d"): "│",
    frozenset("l"): "─",
    frozenset("r"): "─",
}


def render(plan: Plan, width: int | None = None) -> str:
    """Draw ``plan`` as boxes and arrows, one row per level.

    Args:
        plan: the validated flow.
        width: the columns available; a drawing wider than this falls back to
            a listing of the tasks by level with their dependencies.

    Returns:
        The drawing, lines joined by newlines, with no trailing newline.
    """
    items, rows, channels = _layout(plan)
    canvas_width = max(item.x + item.width for item in items)
    if width is not None and canvas_width > width:
        return listing(plan, width, canvas_width)
    lines = _draw(items, rows, channels, canvas_width, plan.outcomes)
    notes = []
    for name in (name for level in plan.levels for name in level):
        if plan.tasks[name].run_if is not RunIf.ALL_SUCCESS:
            notes.append(f"{name}: run_if={plan.tasks[name].run_if.value}")
        if plan.tasks[name].condition:
            notes.append(branches(plan, name))
    return "\n".join([*lines, *(["", *notes] if notes else [])])


# -- layout ------------------------------------------------------------------------------
def _layout(plan: Plan) -> tuple[list[Item], list[list[int]], list[list[Star]]]:
    """Items by row, the stars of each channel between rows, and every column."""
    items: list[Item] = []
    rows: list[list[int]] = [[] for _ in plan.levels]
    box: dict[str, int] = {}
    for level, names in enumerate(plan.levels):
        for name in names:
            box[name] = len(items)
            items.append(Item(index=len(items), level=level, task=name))
            rows[level].append(box[name])
    # Edges between neighbouring rows, in level order; a long edge passes through new items.
    edges: list[list[tuple[int, int]]] = [[] for _ in range(len(plan.levels) - 1)]
    for names in plan.levels:
        for name in names:
            for dependent in plan.downstream[name]:
                upper = box[name]
                for level in range(items[upper].level + 1, items[box[dependent]].level):
                    passing = Item(index=len(items), level=level, task=None)
                    items.append(passing)
                    rows[level].append(passing.index)
                    edges[level - 1].append((upper, passing.index))
                    upper = passing.index
                edges[items[upper].level].append((upper, box[dependent]))
    channels = [_stars(channel_edges) for channel_edges in edges]
    # A box is wide enough for its name and for one attachment, two columns apart, per star;
    # one that had to share a column with another star's line (it had no free column left)
    # is widened by two and everything placed again, until no box is cramped.
    stars_below: Counter[int] = Counter()
    stars_above: Counter[int] = Counter()
    for star in itertools.chain.from_iterable(channels):
        stars_below.update(star.sources)
        stars_above.update(star.targets)
    widened: Counter[int] = Counter()
    for _ in range(len(items) + 1):
        for item in items:
            if item.task is not None:
                attachments = max(stars_below[item.index], stars_above[item.index])
                item.width = max(len(item.task) + 4, 2 * attachments + 1) + 2 * widened[item.index]
        _place(items, rows, edges)
        cramped: set[int] = set()
        for channel in channels:
            attach(items, channel, cramped)
            assign_tracks(channel)
        if not cramped:
            break
        widened.update(cramped)
    return items, rows, channels


def _stars(edges: Sequence[tuple[int, int]]) -> list[Star]:
    """Cover the edges with stars, greedily taking the end with the most edges left."""
    ends: dict[tuple[int, int], list[int]] = {}  # (side, item) -> the other ends
    for upper, lower in edges:
        ends.setdefault((0, upper), []).append(lower)
        ends.setdefault((1, lower), []).append(upper)
    uncovered = set(edges)
    heap = [(-len(others), side, item) for (side, item), others in ends.items()]
    heapq.heapify(heap)
    stars = []
    while uncovered:
        count, side, item = heapq.heappop(heap)
        pairs = [(item, other) if side == 0 else (other, item) for other in ends[(side, item)]]
        pairs = [pair for pair in pairs if pair in uncovered]
        if not pairs:
            continue
        if len(pairs) != -count:  # stale: some were taken by another star; try again later
            heapq.heappush(heap, (-len(pairs), side, item))
            continue
        uncovered.difference_update(pairs)
        if side == 0:
            stars.append(Star(sources=[item], targets=[lower for _, lower in pairs]))
        else:
            stars.append(Star(sources=[upper for upper, _ in pairs], targets=[item]))
    return stars


def _place(items: list[Item], rows: list[list[int]], edges: list[list[tuple[int, int]]]) -> None:
    """Order each row by its parents' columns and place it as close under them as it fits."""
    x = 0
    for index in rows[0]:
        items[index].x = x
        x += items[index].width + GAP
    for level in range(1, len(rows)):
        parents: dict[int, list[int]] = {}
        for upper, lower in edges[level - 1]:
            parents.setdefault(lower, []).append(items[upper].center)
        wanted = {index: mean(parents[index]) for index in rows[level]}
        rows[level].sort(key=lambda index: (wanted[index], items[index].task is None, index))
        _pack([items[index] for index in rows[level]], [wanted[index] for index in rows[level]])
    shift = min(item.x for item in items)
    for item in items:
        item.x -= shift


def _pack(row: list[Item], wanted_centers: list[int]) -> None:
    """Place ``row`` left to right, each item as near its wanted centre as the gaps allow.

    Overlapping neighbours merge into a block centred on the mean of what its
    members want (pool-adjacent-violators), so a fan-out is centred under its parent.
    """
    blocks: list[tuple[int, int, int]] = []  # (first, last, sum of wanted block starts)
    offsets = []
    for index, item in enumerate(row):
        offsets.append(offsets[-1] + row[index - 1].width + GAP if index else 0)
        wanted_start = wanted_centers[index] - (item.width - 1) // 2 - offsets[index]
        first, total = index, wanted_start
        while blocks:
            previous_first, previous_last, previous_total = blocks[-1]
            previous_start = mean_of(previous_total, previous_last - previous_first + 1)
            if previous_start <= mean_of(total, index - first + 1):
                break
            blocks.pop()
            first, total = previous_first, total + previous_total
        blocks.append((first, index, total))
    for first, last, total in blocks:
        start = mean_of(total, last - first + 1)
        for index in range(first, last + 1):
            row[index].x = start + offsets[index]


# -- drawing -----------------------------------------------------------------------------
def _draw(
    items: list[Item],
    rows: list[list[int]],
    channels: list[list[Star]],
    width: int,
    outcomes: Mapping[str, Mapping[str, bool]],
) -> list[str]:
    lines: list[str] = []
    for level, row in enumerate(rows):
        box_lines = [[" "] * width for _ in range(3)]
        for index in row:
            _draw_item(items[index], box_lines)
        lines.extend("".join(line).rstrip() for line in box_lines)
        if level < len(channels):
            lines.extend(_draw_channel(items, channels[level], width, outcomes))
    return lines


def _draw_item(item: Item, box_lines: list[list[str]]) -> None:
    x, width = item.x, item.width
    if item.task is None:
        for line in box_lines:
            line[x] = "│"
        return
    label = item.task.center(width - 2)
    box_lines[0][x : x + width] = ["┌", *("─" * (width - 2)), "┐"]
    box_lines[1][x : x + width] = ["│", *label, "│"]
    box_lines[2][x : x + width] = ["└", *("─" * (width - 2)), "┘"]
    for column in item.bottom:
        box_lines[2][column] = "┬"


def _draw_channel(
    items: list[Item],
    channel: list[Star],
    width: int,
    outcomes: Mapping[str, Mapping[str, bool]],
) -> list[str]:
    tracks = 1 + max((star.track for star in channel), default=-1)
    cells: dict[tuple[int, int], dict[int, set[str]]] = {}

    def mark(row: int, column: int, star: int, directions: str) -> None:
        cells.setdefault((row, column), {}).setdefault(star, set()).update(directions)

    arrows: dict[int, str] = {}
    labels: dict[int, str] = {}  # arrow column -> the condition outcome its edge follows
    for number, star in enumerate(channel):
        if star.track < 0:  # straight down, through every track
            for row in range(tracks):
                mark(row, star.source_columns[0], number, "ud")
        else:
            for column in star.source_columns:
                for row in range(star.track):
                    mark(row, column, number, "ud")
                mark(star.track, column, number, "u")
            for column in star.target_columns:
                mark(star.track, column, number, "d")
                for row in range(star.track + 1, tracks):
                    mark(row, column, number, "ud")
            low, high = star.span
            for column in range(low, high + 1):
                directions = ("l" if column > low else "") + ("r" if column < high else "")
                mark(star.track, column, number, directions)
        source = items[star.sources[0]].task if len(star.sources) == 1 else None
        for target, column in zip(star.targets, star.target_columns, strict=True):
            arrows[column] = ARROW if items[target].task is not None else "│"
            outcome = outcomes.get(items[target].task or "", {}).get(source or "")
            if outcome is not None:
                labels[column] = "true" if outcome else "false"
    grid = [[" "] * width for _ in range(tracks + 1)]
    for (row, column), by_star in cells.items():
        if len(by_star) == 1:
            (directions,) = by_star.values()
            grid[row][column] = _GLYPHS[frozenset(directions)]
        elif all(_GLYPHS[frozenset(d)] in "│─" for d in by_star.values()):
            grid[row][column] = "│"  # a crossing: the vertical passes over the horizontal
        else:
            merged = set().union(*by_star.values())
            grid[row][column] = _GLYPHS[frozenset(merged)]
    for column, arrow in arrows.items():
        grid[tracks][column] = arrow
    for column, label in labels.items():
        # Beside its arrow, where that leaves a blank before the next thing on the row.
        span = range(column + 1, column + len(label) + 3)
        if span[-1] < width and all(grid[tracks][spot] == " " for spot in span):
            grid[tracks][column + 2 : column + 2 + len(label)] = label
    return ["".join(line).rstrip() for line in grid]
