"""Report files: ``RUN_ID.html`` (mode 0600), and the reports of its child runs beside it."""

from __future__ import annotations

import os
from pathlib import Path

from flowkit._errors import StoreError
from flowkit._home import reports_folder, write_private_file
from flowkit._report.html import Links, render_run
from flowkit._report.model import read_run
from flowkit._store.base import RunStore

#: How deep child runs' reports are written (a for-each inside a run-flow inside ...).
MAX_CHILD_DEPTH = 4


def write_report(store: RunStore, run_id: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the run's report to ``path`` (default: the home's reports folder); its path.

    The reports of the run's child runs (for-each, run-flow) are written beside
    it as ``CHILD_ID.html``, which the graph links to.

    Raises:
        StoreError: the run is unknown.
        OSError: the file cannot be written.
    """
    target = Path(path) if path is not None else reports_folder() / f"{run_id}.html"
    _write(store, run_id, target, depth=0, written=set())
    return target


def _write(store: RunStore, run_id: str, target: Path, *, depth: int, written: set[str]) -> None:
    view = read_run(store, run_id)
    if view is None:
        msg = f"no run {run_id!r} in the run store; `flowkit runs` lists the recorded runs"
        raise StoreError(msg)
    written.add(run_id)
    children = [child.run_id for child in view.child_runs if child.run_id not in written]
    children = children if depth < MAX_CHILD_DEPTH else []
    parent = view.run.parent_run_id
    linked = set(children) | ({parent} if parent in written else set())
    links = Links(run_pattern="{run_id}.html", linked=frozenset(linked))
    write_private_file(target, render_run(view, links=links).encode("utf-8"))
    for child in children:
        _write(store, child, target.with_name(f"{child}.html"), depth=depth + 1, written=written)
