"""Notebook tasks: a Jupyter or Databricks notebook run on a fresh kernel (extra ``notebook``).

``flow.notebook("notebooks/clean.ipynb", parameters={"date": "{{job.parameters.date}}"})``.
The notebook is ``.ipynb``, or a Databricks source notebook (a ``.py`` file that
starts ``# Databricks notebook source``, cells split by ``# COMMAND ----------``;
``# MAGIC %md`` cells are left out, other magics refused when the task is
defined). When the attempt runs, nbclient starts a kernel of this Python,
which inherits the attempt's context (``task_values``, ``params``, secrets); a
first cell predefines ``dbutils`` (``flowkit.compat``) with the parameters as
widgets, and the parameters are a cell injected after the cell tagged
``parameters`` (papermill's convention), else before the first cell, as Python
literals. Each cell's output streams into the attempt's log as it comes; the
executed notebook is kept beside the log (mode 0600). A failing cell fails the
attempt naming the cell (1-based, among the notebook's own cells), its first
line and the traceback; ``dbutils.notebook.exit(value)`` ends it, and the value
is the task's return value. The kernel is a descendant of the attempt: a
timeout or cancel kills it with the rest of the attempt's tree.
"""

from __future__ import annotations

import importlib.util
import json
import keyword
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from flowkit._definition import refs
from flowkit._definition.kinds.runner import beside_the_log, run_runner, runner_main
from flowkit._definition.kinds.script import resolve_path
from flowkit._errors import DefinitionError, NotebookFailed
from flowkit._home import write_private_file

NOTEBOOK_EXTRA = "pip install 'flowkit-workflows[notebook]'"
DATABRICKS_HEADER = "# Databricks notebook source"
DATABRICKS_SEPARATOR = re.compile(r"^# COMMAND -+\s*$", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAGIC = re.compile(r"^# MAGIC\s*(%\w+)", re.MULTILINE)


def databricks_cells(text: str, where: str) -> list[str]:
    """The code cells of a Databricks source notebook; ``%md`` cells left out.

    Raises:
        DefinitionError: a cell uses another magic (``%sql``, ``%sh``...), naming the cell.
    """
    body = text.split("\n", 1)[1] if text.startswith(DATABRICKS_HEADER) else text
    cells = []
    for number, cell in enumerate(DATABRICKS_SEPARATOR.split(body), start=1):
        source = cell.strip("\n")
        magic = _MAGIC.search(source)
        if magic is not None:
            if magic.group(1) == "%md":
                continue
            first = source.strip().splitlines()[0]
            msg = (
                f"{where}: cell {number} uses the magic {magic.group(1)} ({first!r}), which "
                "flowkit does not run in a notebook; move it to a sql or shell task"
            )
            raise DefinitionError(msg)
        if source.strip():
            cells.append(source)
    return cells


def _first_line(source: str) -> str:
    lines = [line for line in source.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


@attrs.frozen
class NotebookTask:
    """The function of a notebook task: run the notebook, return what it ``exit``-ed with."""

    flow_name: str
    task_key: str
    path: str
    parameters: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def __name__(self) -> str:
        return self.task_key

    @property
    def __flowkit_references__(self) -> list[str]:
        return [value for value in self.parameters.values() if isinstance(value, str)]

    def __call__(self) -> Any:
        """Run the notebook on a new kernel, from a runner process of its own.

        The runner (``python -m flowkit._definition.kinds.notebook``) keeps the
        kernel's messaging (zmq threads) out of the attempt's process, which for the
        ``inline`` executor is the orchestrator itself: a process forked later (the
        local executor's fork server) would inherit them and hang.

        Raises:
            NotebookFailed: a cell raised (the cell, its first line and the traceback).
        """
        where = f"flow {self.flow_name!r}, task {self.task_key!r}"
        values = refs.fill_values(self.parameters, where=where)
        keep = beside_the_log(".ipynb")
        spec = {"path": self.path, "values": values, "where": where, "keep": keep}
        result = run_runner(__name__, spec, where=where, error=NotebookFailed)
        if not result["ok"]:
            raise NotebookFailed(result["message"])
        return result["value"]

    def __repr__(self) -> str:
        return f"<NotebookTask {self.flow_name}.{self.task_key}: {self.path}>"


def _load(path: str, where: str) -> Any:
    import nbformat

    if path.endswith(".ipynb"):
        return nbformat.read(path, as_version=4)
    cells = databricks_cells(Path(path).read_text(), where)
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def run_notebook(spec: dict[str, Any]) -> dict[str, Any]:
    """Execute the notebook ``spec`` names: ``{"ok", "value"}`` or ``{"ok", "message"}``."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    where, values = spec["where"], spec["values"]
    notebook = _load(spec["path"], where)
    own_cells = len(notebook.cells)
    tagged = next(
        (
            index
            for index, cell in enumerate(notebook.cells)
            if "parameters" in cell.get("metadata", {}).get("tags", [])
        ),
        -1,
    )
    if values:
        injected = "\n".join(f"{name} = {value!r}" for name, value in values.items())
        cell = nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]})
        notebook.cells.insert(tagged + 1, cell)
    setup = (
        "from flowkit.compat import dbutils\n"
        f"dbutils.widgets._set({json.dumps(values, default=str)})"
    )
    notebook.cells.insert(0, nbformat.v4.new_code_cell(setup, metadata={"tags": ["flowkit"]}))
    # The kernel works in the attempt's working directory, as scripts and SQL tasks do.
    client = _StreamingClient(notebook, Path.cwd())
    try:
        client.run()
    except CellExecutionError as failed:
        if failed.ename == "NotebookExit":
            return {"ok": True, "value": json.loads(_exit_value(failed.evalue))}
        index = client.failed_cell
        number = _own_number(index, tagged, bool(values))
        source = notebook.cells[index].source if index is not None else ""
        traceback = _ANSI.sub("", failed.traceback or "")
        message = (
            f"{where}: cell {number} of {own_cells} ({_first_line(source)!r}) raised "
            f"{failed.ename}: {failed.evalue}\n{traceback}"
        )
        return {"ok": False, "message": message}
    finally:
        _keep(notebook, spec["keep"])
    return {"ok": True, "value": None}


def _keep(notebook: Any, path: str | None) -> None:
    """Save the executed notebook beside the attempt's log (0600)."""
    import nbformat

    if path is None:
        return
    try:
        write_private_file(path, nbformat.writes(notebook).encode())
    except OSError as error:
        print(f"flowkit: the executed notebook cannot be kept at {path}: {error}")


def _exit_value(evalue: str) -> str:
    """The JSON ``dbutils.notebook.exit`` put in its exception's message."""
    return evalue if evalue else "null"


def _own_number(index: int | None, tagged: int, injected: bool) -> int:
    """The failing cell's number among the notebook's own cells (1-based)."""
    if index is None:
        return 0
    own = index - 1  # the setup cell came first
    if injected and own > tagged + 1:
        own -= 1
    return own + 1


class _StreamingClient:
    """nbclient's NotebookClient on a kernel of this Python, printing outputs as they come."""

    def __init__(self, notebook: Any, folder: Path) -> None:
        self.notebook = notebook
        self.folder = folder
        self.failed_cell: int | None = None

    def run(self) -> None:
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient

        outer = self

        class Client(NotebookClient):
            def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
                content = msg.get("content", {})
                if msg.get("msg_type") == "stream":
                    stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
                    stream.write(content.get("text", ""))
                    stream.flush()
                elif msg.get("msg_type") in ("execute_result", "display_data"):
                    text = content.get("data", {}).get("text/plain")
                    if text:
                        print(text, flush=True)
                return super().output(outs, msg, display_id, cell_index)

            async def async_execute_cell(self, cell: Any, cell_index: int, **kwargs: Any) -> Any:
                outer.failed_cell = cell_index
                return await super().async_execute_cell(cell, cell_index, **kwargs)

        # Local sockets in a private folder, not TCP: no other user can reach the kernel.
        sockets = tempfile.mkdtemp(prefix="flowkit-kernel-")
        try:
            manager = KernelManager(
                kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel")
            )
            Client(
                self.notebook,
                km=manager,
                timeout=None,
                resources={"metadata": {"path": str(self.folder)}},
            ).execute()
        finally:
            shutil.rmtree(sockets, ignore_errors=True)
        self.failed_cell = None


def notebook_task(
    flow_name: str,
    name: str | None,
    path: Any,
    parameters: Any,
    folder: Path,
) -> NotebookTask:
    """The function of a notebook task; ``Flow.notebook`` registers it.

    Raises:
        DefinitionError: the notebook extra is missing, the file is missing or is
            not a notebook, a parameter name is not an identifier, or a Databricks
            notebook uses a magic flowkit does not run.
    """
    resolved = resolve_path(flow_name, name, path, folder, kind="notebook")
    task_key = name or resolved.stem
    where = f"flow {flow_name!r}, task {task_key!r}"
    problems = []
    if any(importlib.util.find_spec(module) is None for module in ("nbclient", "ipykernel")):
        problems.append(f"{where}: notebook tasks need nbclient and ipykernel: {NOTEBOOK_EXTRA}")
    if not isinstance(parameters, Mapping) or not all(
        isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)
        for key in parameters
    ):
        problems.append(
            f"{where}: option parameters={parameters!r} is invalid; allowed: a mapping of "
            "Python names to values (each becomes a variable in the notebook)"
        )
    text = resolved.read_text(errors="replace")
    if resolved.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells")
        except (ValueError, AttributeError):
            cells = None
        if not isinstance(cells, list):
            problems.append(f"{where}: {resolved} is not a Jupyter notebook (.ipynb JSON)")
    elif resolved.suffix == ".py" and text.startswith(DATABRICKS_HEADER):
        databricks_cells(text, where)
    else:
        problems.append(
            f"{where}: {resolved} is neither a .ipynb notebook nor a Databricks source "
            f"notebook (a .py file starting {DATABRICKS_HEADER!r})"
        )
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    return NotebookTask(
        flow_name=flow_name,
        task_key=task_key,
        path=str(resolved),
        parameters=dict(parameters),
    )


if __name__ == "__main__":  # the runner: python -m flowkit._definition.kinds.notebook SPEC RESULT
    runner_main(run_notebook)
