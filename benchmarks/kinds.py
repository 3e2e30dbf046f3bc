"""Start-up cost per task kind over a no-op function task, and a notebook against papermill.

    python benchmarks/kinds.py            # needs the notebook, sql and dbt extras
    python benchmarks/kinds.py --repeats 5

Each kind runs a no-op in a one-task flow on the local executor: an empty
notebook, ``SELECT 1``, an empty script, a dbt project with one ``select 1``
model; the figure is the task's duration less a no-op Python function task's,
measured in the same run (best of ``--repeats``). For notebooks, the same empty
notebook is also run by papermill (when installed), in-process, as its
baseline: flowkit's figure includes its runner process and a kernel start.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat

from flowkit import Flow


def _best(build, repeats: int) -> float:
    durations = []
    for _ in range(repeats):
        flow = build()
        result = flow.run(executor="local", echo_output=False)
        task = next(iter(result.tasks.values()))
        assert result.succeeded, task.error
        durations.append(task.duration)
    return min(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    folder = Path(tempfile.mkdtemp(prefix="flowkit-kinds-bench-"))
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")]), folder / "empty.ipynb"
    )
    (folder / "empty.py").write_text("")
    dbt = folder / "dbt"
    (dbt / "models").mkdir(parents=True)
    (dbt / "dbt_project.yml").write_text('name: bench\nversion: "1.0"\nprofile: bench\n')
    (dbt / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {folder / 'bench.duckdb'}\n"
    )
    (dbt / "models" / "one.sql").write_text("select 1 as one")

    def flow_with(register) -> Flow:
        flow = Flow("bench")
        flow.source_folder = folder
        register(flow)
        return flow

    kinds = {
        "function (no-op)": lambda flow: flow.task(name="noop")(lambda: None),
        "notebook (empty)": lambda flow: flow.notebook("empty.ipynb"),
        "sql (SELECT 1)": lambda flow: flow.sql("one", query="select 1", database=":memory:"),
        "python_script (empty)": lambda flow: flow.python_script("empty.py"),
        "dbt (one model)": lambda flow: flow.dbt(
            ["dbt run"], project_dir="dbt", profiles_dir="dbt"
        ),
    }
    figures = {
        name: _best(lambda r=register: flow_with(r), repeats) for name, register in kinds.items()
    }
    base = figures["function (no-op)"]
    print(f"{'kind':24}  {'task duration':>14}  {'over a no-op':>12}")
    for name, seconds in figures.items():
        print(f"{name:24}  {seconds * 1000:>11.0f} ms  {(seconds - base) * 1000:>9.0f} ms")
    try:
        import papermill
    except ImportError:
        print("papermill is not installed: no notebook baseline")
        return
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        papermill.execute_notebook(
            str(folder / "empty.ipynb"),
            str(folder / "out.ipynb"),
            kernel_name="python3",
            progress_bar=False,
        )
        runs.append(time.perf_counter() - started)
    notebook = figures["notebook (empty)"]
    print(
        f"papermill, same empty notebook: {min(runs) * 1000:.0f} ms; flowkit's notebook task "
        f"{notebook * 1000:.0f} ms = {notebook / min(runs):.2f}x"
    )


if __name__ == "__main__":
    main()
