"""The graph renderer: exact drawings of known shapes, and random DAGs read back edge for edge."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hypothesis import given, settings
from strategies import DagCase, build_flow, dag_cases

from flowkit import Flow
from flowkit._engine.loader import load_flow
from flowkit._planning.plan import Plan
from flowkit.cli._render.graph import render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lakehouse.py"


def drawing(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def build(edges: list[tuple[str, str]], names: list[str], **run_if: str) -> Plan:
    flow = Flow("shape")
    for name in names:
        depends_on = [upstream for upstream, downstream in edges if downstream == name]
        flow.task(name=name, depends_on=depends_on, run_if=run_if.get(name, "all_success"))(
            lambda: None
        )
    return flow.plan()


CHAIN = build([("extract", "transform"), ("transform", "load")], ["extract", "transform", "load"])
SKIP = build(
    [("extract", "transform"), ("transform", "load"), ("extract", "load")],
    ["extract", "transform", "load"],
    load="all_done",
)


def test_the_lakehouse_example() -> None:
    expected = drawing(
        """
               ┌────────┐
               │ ingest │
               └───┬────┘
                   ▼
               ┌───────┐
               │ clean │
               └───┬───┘
             ┌─────┴──────┐
             ▼            ▼
        ┌─────────┐   ┌───────┐
        │ metrics │   │ train │
        └────┬────┘   └───┬───┘
             └──────┬─────┘
                    ▼
                ┌───────┐
                │ alert │
                └───────┘

        alert: run_if=at_least_one_failed
        """
    )
    assert render(load_flow(str(EXAMPLE)).plan()) == expected


def test_a_chain_is_one_straight_line() -> None:
    expected = drawing(
        """
         ┌─────────┐
         │ extract │
         └────┬────┘
              ▼
        ┌───────────┐
        │ transform │
        └─────┬─────┘
              ▼
           ┌──────┐
           │ load │
           └──────┘
        """
    )
    assert render(CHAIN) == expected


def test_a_diamond_fans_out_and_in() -> None:
    plan = build(
        [("fetch", "parse_a"), ("fetch", "parse_b"), ("parse_a", "merge"), ("parse_b", "merge")],
        ["fetch", "parse_a", "parse_b", "merge"],
    )
    expected = drawing(
        """
                ┌───────┐
                │ fetch │
                └───┬───┘
             ┌──────┴──────┐
             ▼             ▼
        ┌─────────┐   ┌─────────┐
        │ parse_a │   │ parse_b │
        └────┬────┘   └────┬────┘
             └──────┬──────┘
                    ▼
                ┌───────┐
                │ merge │
                └───────┘
        """
    )
    assert render(plan) == expected


def test_an_edge_that_skips_a_level_passes_beside_it() -> None:
    expected = drawing(
        """
              ┌─────────┐
              │ extract │
              └────┬────┘
                   ├────┐
                   ▼    │
        ┌───────────┐   │
        │ transform │   │
        └─────┬─────┘   │
              └────┬────┘
                   ▼
                ┌──────┐
                │ load │
                └──────┘

        load: run_if=all_done
        """
    )
    assert render(SKIP) == expected


def test_an_edge_that_skips_two_levels_stays_one_line() -> None:
    plan = build([("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")], ["a", "b", "c", "d"])
    expected = drawing(
        """
           ┌───┐
           │ a │
           └─┬─┘
          ┌──┴──┐
          ▼     │
        ┌───┐   │
        │ b │   │
        └─┬─┘   │
          ▼     │
        ┌───┐   │
        │ c │   │
        └─┬─┘   │
          └──┬──┘
             ▼
           ┌───┐
           │ d │
           └───┘
        """
    )
    assert render(plan) == expected


def test_tasks_without_edges_share_a_row() -> None:
    assert render(build([], ["solo", "other"])) == drawing(
        """
        ┌──────┐   ┌───────┐
        │ solo │   │ other │
        └──────┘   └───────┘
        """
    )


def test_a_drawing_too_wide_for_the_width_becomes_a_listing() -> None:
    assert render(SKIP, width=17).startswith(" " * 6 + "┌─────────┐")
    expected = drawing(
        """
        flow 'shape' needs 17 columns to draw and 16 are available; its tasks by level:
        level 0  extract
        level 1  transform  <- extract
        level 2  load       <- transform, extract  (run_if=all_done)
        """
    )
    assert render(SKIP, width=16) == expected


# -- random DAGs, read back from the drawing -------------------------------------------------
_EXITS = {
    "┌": "dr",
    "┐": "dl",
    "└": "ur",
    "┘": "ul",
    "├": "udr",
    "┤": "udl",
    "┬": "lrd",
    "┴": "lru",
    "┼": "udlr",
}
_STEP = {"d": (1, 0), "l": (0, -1), "r": (0, 1)}
_OPPOSITE = {"d": "u", "l": "r", "r": "l"}


def _boxes(grid: list[str]) -> list[tuple[int, int, int, str]]:
    """Every box as (top row, left column, right column, task name)."""
    found = []
    for row in range(len(grid) - 2):
        for left, char in enumerate(grid[row]):
            if char != "┌" or grid[row + 1][left : left + 2] != "│ " or grid[row + 2][left] != "└":
                continue
            right = grid[row].index("┐", left)
            if set(grid[row][left + 1 : right]) == {"─"} and grid[row + 2][right] == "┘":
                found.append((row, left, right, grid[row + 1][left + 1 : right].strip()))
    return found


def traced_edges(text: str) -> set[tuple[str, str]]:
    """Follow every line from each box's bottom, never upwards and straight over crossings."""
    lines = text.split("\n")
    width = max(len(line) for line in lines) + 1
    grid = [line.ljust(width) for line in lines] + [" " * width]
    boxes = _boxes(grid)
    box_at = {
        (row, column): name for row, left, right, name in boxes for column in range(left, right + 1)
    }
    edges = set()
    for row, left, right, source in boxes:
        starts = [
            (row + 3, column, "d")
            for column in range(left, right + 1)
            if grid[row + 2][column] == "┬"
        ]
        seen = set()
        while starts:
            here = starts.pop()
            if here in seen:
                continue
            seen.add(here)
            r, c, moving = here
            cell = grid[r][c]
            if cell == "▼":
                edges.add((source, box_at[(r + 1, c)]))
                continue
            if cell in "│─":
                exits = moving
            else:
                assert cell in _EXITS, f"a line from {source} ends in {cell!r} at {r}:{c}\n{text}"
                exits = _EXITS[cell].replace(_OPPOSITE[moving], "").replace("u", "")
            starts.extend((r + _STEP[to][0], c + _STEP[to][1], to) for to in exits)
    return edges


def test_the_reader_sees_the_lakehouse_edges() -> None:
    plan = load_flow(str(EXAMPLE)).plan()
    expected = {(upstream, name) for name in plan.order for upstream in plan.upstream[name]}
    assert traced_edges(render(plan)) == expected
    assert len(expected) == 5


@settings(max_examples=200, deadline=None)
@given(case=dag_cases(max_tasks=14))
def test_every_drawn_line_is_an_edge_and_every_edge_is_drawn(case: DagCase) -> None:
    plan = build_flow(case, []).plan()
    text = render(plan)
    assert traced_edges(text) == set(case.edges)
    assert render(plan) == text  # deterministic
    for level, names in enumerate(plan.levels):  # each level is one row of boxes
        rows = {row for row, _, _, name in _boxes(text.split("\n")) if name in names}
        assert len(rows) == 1, f"level {level} spans rows {rows}"


def test_a_box_too_narrow_for_its_lines_is_widened_so_no_two_lines_merge():
    # Found by the property above: t4 had no free column for the line from t1 and t0,
    # which then joined t3's line and read as t1 -> t5 and t0 -> t6.
    deps = {
        "t0": [],
        "t1": ["t0"],
        "t2": ["t0"],
        "t3": ["t0"],
        "t4": ["t0", "t1", "t2", "t3"],
        "t5": ["t0", "t3"],
        "t6": ["t2", "t3", "t4"],
        "t7": ["t2"],
        "t8": ["t2"],
    }
    flow = Flow("crowded")
    for name, upstream in deps.items():
        flow.task(name=name, depends_on=upstream)(lambda: None)

    text = render(flow.plan())

    assert traced_edges(text) == {(dep, name) for name, ups in deps.items() for dep in ups}


def test_condition_branches_are_labelled() -> None:
    plan = load_flow(str(EXAMPLE.parent / "branching.py")).plan()

    text = render(plan)
    listing = render(plan, width=20)

    assert "▼ true" in text
    assert "▼ false" in text
    assert "has_rows: condition; if true -> load; if false -> warn_empty" in text.splitlines()
    assert "  <- has_rows (if true)" in listing
    assert "  <- has_rows (if false)" in listing
