"""Notebook tasks: .ipynb and Databricks source notebooks on a kernel of the attempt."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import nbformat
import pytest

from flowkit import DefinitionError, Flow, RunState, TaskState, task_values


def _ipynb(path: Path, *cells: tuple[str, list[str]]) -> Path:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source, metadata={"tags": tags}) for source, tags in cells]
    )
    nbformat.write(notebook, path)
    return path


CLEAN = (
    ('date = "default"\nthreshold = 1', ["parameters"]),
    (
        "from flowkit.compat import dbutils\n"
        'rows = dbutils.jobs.taskValues.get(taskKey="ingest", key="row_count", default=0)\n'
        "print(f\"{rows} rows for {date}, widget {dbutils.widgets.get('date')}\")\n"
        'dbutils.jobs.taskValues.set(key="clean_rows", value=rows - threshold)',
        [],
    ),
    ('dbutils.notebook.exit({"date": date, "rows": rows})\nprint("not reached")', []),
)


def _flow(tmp_path: Path, notebook: str, **options) -> Flow:
    flow = Flow("notebooks", params={"date": "2026-11-23"})
    flow.source_folder = tmp_path

    @flow.task
    def ingest():
        task_values.set("row_count", 14520)

    flow.notebook(
        notebook,
        parameters={"date": "{{job.parameters.date}}", "threshold": 20},
        depends_on=[ingest],
        **options,
    )
    return flow


def test_a_notebook_gets_parameters_and_values_and_returns_what_it_exits_with(tmp_path, executor):
    _ipynb(tmp_path / "clean.ipynb", *CLEAN)
    flow = _flow(tmp_path, "clean.ipynb")

    @flow.task(depends_on=["clean"])
    def report(clean):
        return clean, task_values.get("clean", "clean_rows")

    result = flow.run(executor=executor)

    assert result.state is RunState.SUCCEEDED, result.tasks["clean"].error
    # injected after the cell tagged parameters: the run's date, not the notebook's default
    assert result.results["report"] == ({"date": "2026-11-23", "rows": 14520}, 14500)
    if executor == "inline":
        return
    log = Path(result.tasks["clean"].log_path).read_text()
    assert "14520 rows for 2026-11-23, widget 2026-11-23" in log
    assert "not reached" not in log
    kept = Path(result.tasks["clean"].log_path).with_suffix(".ipynb")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    executed = nbformat.read(kept, as_version=4)
    assert any("14520 rows" in json.dumps(cell.get("outputs", [])) for cell in executed.cells)


DATABRICKS = """# Databricks notebook source
# MAGIC %md
# MAGIC # Clean

# COMMAND ----------

from flowkit.compat import dbutils
date = dbutils.widgets.get("date")
print("cleaning", date)

# COMMAND ----------

dbutils.notebook.exit(date)
"""


def test_a_databricks_source_notebook_runs_its_code_cells(tmp_path):
    (tmp_path / "clean.py").write_text(DATABRICKS)
    result = _flow(tmp_path, "clean.py").run(executor="local")
    assert result.state is RunState.SUCCEEDED, result.tasks["clean"].error
    assert result.results["clean"] == "2026-11-23"


def test_a_sql_or_shell_magic_is_refused_when_defined_naming_the_cell(tmp_path):
    (tmp_path / "magic.py").write_text(
        DATABRICKS + "\n# COMMAND ----------\n\n# MAGIC %sql\n# MAGIC select 1\n"
    )
    with pytest.raises(DefinitionError, match=r"cell 4 uses the magic %sql"):
        _flow(tmp_path, "magic.py")


def test_a_failing_cell_names_its_number_first_line_and_traceback(tmp_path):
    _ipynb(
        tmp_path / "bad.ipynb",
        ("x = 1", []),
        ("# load the rows\nrows = {}\nrows['missing']", []),
    )
    result = _flow(tmp_path, "bad.ipynb").run(executor="local")
    error = result.tasks["bad"].error
    assert result.tasks["bad"].state is TaskState.FAILED
    assert error.type_name == "NotebookFailed"
    assert "cell 2 of 2 ('# load the rows') raised KeyError" in error.message
    assert "rows['missing']" in error.message  # the traceback, without terminal colours
    assert "\x1b[" not in error.message


def test_a_failing_notebook_is_retried(tmp_path):
    _ipynb(
        tmp_path / "flaky.ipynb",
        (
            "from pathlib import Path\n"
            f"tries = Path({str(tmp_path / 'tries')!r})\n"
            "tries.write_text(tries.read_text() + 'x' if tries.exists() else 'x')\n"
            "assert len(tries.read_text()) == 2, 'first try fails'",
            [],
        ),
    )
    result = _flow(tmp_path, "flaky.ipynb", retries=1).run(executor="local")
    assert result.tasks["flaky"].state is TaskState.SUCCEEDED
    assert result.tasks["flaky"].attempts == 2


def _kernels_of(run_id: str) -> list[int]:
    """Live processes that are kernels (or their children) of ``run_id``'s attempts."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            run_id.encode() in environ
            and state not in ("Z", "X")
            and int(entry.name) != os.getpid()
        ):
            found.append(int(entry.name))
    return found


def test_a_notebook_that_never_ends_is_timed_out_with_its_kernel(tmp_path):
    _ipynb(
        tmp_path / "forever.ipynb",
        (
            "import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            "print('running', flush=True)\n"
            "while True:\n    time.sleep(1)",
            [],
        ),
    )
    result = _flow(tmp_path, "forever.ipynb", timeout=4).run(executor="local")
    assert result.tasks["forever"].state is TaskState.TIMED_OUT
    deadline = time.monotonic() + 10
    while _kernels_of(result.run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _kernels_of(result.run_id) == []


def test_a_notebook_printing_20_mb_streams_it_to_the_log(tmp_path):
    _ipynb(
        tmp_path / "loud.ipynb",
        ("line = 'x' * 1023\nfor _ in range(20 * 1024):\n    print(line)", []),
    )
    result = _flow(tmp_path, "loud.ipynb").run(executor="local")
    assert result.tasks["loud"].state is TaskState.SUCCEEDED, result.tasks["loud"].error
    assert Path(result.tasks["loud"].log_path).stat().st_size >= 20 * 1024 * 1024


def test_a_file_that_is_not_a_notebook_and_bad_parameters_are_definition_errors(tmp_path):
    (tmp_path / "plain.py").write_text("print(1)\n")
    with pytest.raises(DefinitionError, match=r"neither a \.ipynb notebook"):
        _flow(tmp_path, "plain.py")
    _ipynb(tmp_path / "ok.ipynb", ("x = 1", []))
    flow = Flow("params")
    flow.source_folder = tmp_path
    with pytest.raises(DefinitionError, match="Python names"):
        flow.notebook("ok.ipynb", parameters={"not a name": 1})
