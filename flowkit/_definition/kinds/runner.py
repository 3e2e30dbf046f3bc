"""What the kinds that run a tool in a process of their own share: the runner, and the files
kept beside the attempt's log.

A notebook or dbt task starts ``python -m <its module> SPEC RESULT``: the spec
and the result are JSON files in a private scratch folder. The runner keeps the
tool's threads (zmq, dbt's pools) out of the attempt's own process, which for
the ``inline`` executor is the orchestrator, and which a later ``fork`` must
find without them. It is still part of the attempt: its process tree, its log,
its timeout and its kill.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from flowkit._context import current_context
from flowkit._home import logs_folder


def beside_the_log(suffix: str) -> Path | None:
    """``logs/RUN_ID[/repair-N]/TASK.ATTEMPT<suffix>`` of the running attempt; None outside one."""
    context = current_context()
    if context is None:
        return None
    folder = logs_folder() / context.run_id
    if context.repair_count:
        folder = folder / f"repair-{context.repair_count}"
    return folder / f"{context.task_key}.{context.attempt}{suffix}"


def run_runner(module: str, spec: dict[str, Any], *, where: str, error: type[Exception]) -> Any:
    """Run ``python -m module SPEC RESULT``; what it wrote to RESULT.

    Raises:
        error: the runner ended without writing a result (it crashed or was killed).
    """
    with tempfile.TemporaryDirectory(prefix="flowkit-runner-") as scratch:
        spec_file, result_file = Path(scratch) / "spec.json", Path(scratch) / "result.json"
        spec_file.write_text(json.dumps(spec, default=str))
        for stream in (sys.stdout, sys.stderr):  # what was printed first comes first
            stream.flush()
        completed = subprocess.run(
            [sys.executable, "-m", module, str(spec_file), str(result_file)], check=False
        )
        if not result_file.exists():
            msg = f"{where}: the runner of {module} exited with code {completed.returncode}"
            raise error(msg)
        return json.loads(result_file.read_text())


def runner_main(run: Any) -> None:
    """The runner's entry point: ``run(spec)``'s answer, written to RESULT."""
    spec_path, result_path = sys.argv[1:3]
    outcome = run(json.loads(Path(spec_path).read_text()))
    Path(result_path).write_text(json.dumps(outcome, default=str))
