"""A for-each flow over files: list a folder, count each file's lines in parallel, sum.

Run it with ``python -m flowkit run examples/files.py`` (add ``-p folder=PATH`` to
count another folder's ``*.csv`` files; by default it counts the three small files
in ``examples/data``).

- ``discover`` returns the paths of the files: a for-each task iterates over
  that return value;
- ``count_lines`` runs once per file, two at a time, each in its own process,
  retried once if it fails; its results come back as a list in input order;
- ``total`` receives that list and sums it.
"""

from __future__ import annotations

from pathlib import Path

from flowkit import Flow, params, task_values

flow = Flow("files", params={"folder": ""})

#: The sample files counted when no folder is given.
SAMPLES = Path(__file__).resolve().with_name("data")


@flow.task
def discover() -> list[str]:
    folder = params["folder"] or str(SAMPLES)
    paths = sorted(str(path) for path in Path(folder).glob("*.csv"))
    print(f"found {len(paths)} files in {folder}")
    return paths


@flow.for_each(over=discover, concurrency=2, retries=1)
def count_lines(item: str) -> int:
    lines = len(Path(item).read_text().splitlines())
    print(f"{Path(item).name}: {lines} lines")
    return lines


@flow.task(depends_on=[count_lines])
def total(count_lines: list[int]) -> None:
    print(f"{sum(count_lines)} lines in {len(count_lines)} files")
    task_values.set("lines", sum(count_lines))
