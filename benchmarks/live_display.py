"""The live display's cost: ``flowkit run`` in a terminal against the same run printing plain lines.

    python benchmarks/live_display.py                       # 1,000 and 10,000 tasks, inline
    python benchmarks/live_display.py --tasks 10000 --executor local --repeats 1

Each round runs the same flow file twice as a whole process
(``python -m flowkit run FILE``): once with its standard output on a
pseudo-terminal (the live display, redrawn in place), once on a pipe (one plain
line per state change), the two interleaved so that drift hits both. Both
outputs are read to the end by this process, as a terminal or a pager would.
The flow is a fan-out of N no-op tasks and a join, ``max_parallel=4`` (so
the display lists running tasks). Prints, per size, the median wall seconds of
each and their ratio; the target is a live display under 1.3x the plain output.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.3
FLOW_FILE = """\
from flowkit import Flow

flow = Flow("display_{tasks}", max_parallel=4)


def noop():
    pass


branches = [flow.task(name=f"t{{index}}")(noop) for index in range({tasks})]
flow.task(name="join", depends_on=branches)(noop)
"""


def run_on_terminal(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    """Wall seconds and bytes written of ``command`` with stdout and stderr on a pty."""
    leader, follower = os.openpty()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=follower, stderr=follower, env=env, cwd=cwd)
    os.close(follower)
    written = 0
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        written += len(chunk)
    process.wait()
    elapsed = time.perf_counter() - started
    os.close(leader)
    return elapsed, written


def run_on_pipe(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    """Wall seconds and bytes written of ``command`` with stdout and stderr on a pipe."""
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, env=env, cwd=cwd, check=False)
    return time.perf_counter() - started, len(completed.stdout) + len(completed.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, action="append", help="sizes (default 1000, 10000)")
    parser.add_argument("--executor", default="inline", help="inline (default) or local")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per size (default 3)")
    options = parser.parse_args()
    sizes = options.tasks or [1000, 10000]
    with tempfile.TemporaryDirectory(prefix="flowkit-display-") as folder:
        env = {key: value for key, value in os.environ.items() if key != "CI"}
        env |= {"FLOWKIT_HOME": str(Path(folder) / "home"), "COLUMNS": "120", "LINES": "40"}
        print(
            f"live display against plain output: python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, executor {options.executor}, median of {options.repeats}"
        )
        header = f"{'tasks':>7}  {'plain s':>8}  {'live s':>8}  {'ratio':>6}"
        print(f"{header}  {'live MB out':>11}  result")
        for tasks in sizes:
            path = Path(folder) / f"display_{tasks}.py"
            path.write_text(FLOW_FILE.format(tasks=tasks))
            command = [sys.executable, "-m", "flowkit", "run", str(path)]
            command += ["--executor", options.executor]
            plain, live, written = [], [], 0
            for _ in range(options.repeats):
                plain.append(run_on_pipe(command, env, folder)[0])
                seconds, written = run_on_terminal(command, env, folder)
                live.append(seconds)
            ratio = statistics.median(live) / statistics.median(plain)
            verdict = "PASS" if ratio < TARGET_RATIO else "MISS"
            print(
                f"{tasks:>7}  {statistics.median(plain):>8.2f}  {statistics.median(live):>8.2f}  "
                f"{ratio:>5.2f}x  {written / 1e6:>11.1f}  {verdict} (< {TARGET_RATIO}x)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
