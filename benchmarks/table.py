"""The benchmark's one table: rows of figures, and how they are printed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    """One line of the table; numbers stay numbers until printed (and in --json)."""

    workload: str
    runner: str
    wall_s: float | None = None
    per_task_ms: float | None = None
    ratio: float | None = None
    ratio_to: str = ""  # what ``ratio`` divides by: "fork", "ideal", "@100", ...
    plan_ms: float | None = None
    peak_rss_mb: float | None = None
    target: str = ""
    result: str = ""
    #: Not printed; kept for --json (a scale run's full figures, ru_maxrss included).
    details: dict[str, object] | None = None


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


COLUMNS = (
    ("workload", "Workload", "<"),
    ("runner", "Runner", "<"),
    ("plan_ms", "Plan ms", ">"),
    ("wall_s", "Wall s", ">"),
    ("per_task_ms", "ms/task", ">"),
    ("ratio", "Ratio", ">"),
    ("peak_rss_mb", "RSS MB", ">"),
    ("target", "Target", "<"),
    ("result", "Result", "<"),
)


def cell(row: Row, field: str) -> str:
    value = getattr(row, field)
    if value is None:
        return ""
    if field == "ratio":
        return f"{value:.2f}x {row.ratio_to}"
    if field in ("wall_s", "per_task_ms"):
        return f"{value:.3f}"
    if field in ("plan_ms", "peak_rss_mb"):
        return f"{value:.1f}"
    return str(value)


def render(rows: list[Row]) -> str:
    table = [[cell(row, field) for field, _, _ in COLUMNS] for row in rows]
    headers = [title for _, title, _ in COLUMNS]
    widths = [max(len(line[i]) for line in [headers, *table]) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            f"{text:{align}{width}}"
            for text, (_, _, align), width in zip(cells, COLUMNS, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = []
    for row, cells in zip(rows, table, strict=True):
        if row.workload and body:
            body.append("")  # a blank line between workloads
        body.append(line(cells))
    return "\n".join([line(headers), rule, *body])
