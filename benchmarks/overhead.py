"""What a flowkit task costs: one table, every figure beside a baseline measured in the same run.

    python benchmarks/overhead.py [--quick] [--json PATH] [--repeats N]

Workloads (issue 3, "Benchmarks"): W1 fan-out, 100 no-op tasks + a join at
max_parallel=2; W2 a chain of 50 no-op tasks; W3 16 tasks of sleep(0.5) at
max_parallel=4; W4 a chain of 20 tasks passing a task value. Each runs on the
``local`` and ``inline`` executors, next to the same shape run by a raw
``os.fork()`` + pipe per task and by a fresh ``python -c pass`` per task.
Scale rows run 100, 1,000 and 10,000 no-op tasks, each in a fresh process
(``scale_run.py``) so its peak RSS is its own. Then ``python -m flowkit run``
of W1 end to end, and ``python -c "import flowkit"``.

Per-task overhead is a no-op workload's wall time divided by its task count;
for W1 that is throughput with two at a time, exactly as for its baselines.
Small workloads are repeated, runners interleaved, and the median is shown.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import workloads
from table import Row, render, verdict
from workloads import Job, start_fork, start_interpreter

from flowkit import Flow, RunResult, RunState

HERE = Path(__file__).resolve().parent
FORK = "raw fork+pipe"
INTERPRETER = "python -c pass"

# The targets: of issue 3, and tightened by issue 16 (standby processes).
LOCAL_VS_FORK = {"W1": 1.3, "W2": 1.0}  # local per-task overhead against raw fork
INLINE_MS = 0.2  # inline per-task overhead, ms (W1, W2 and W4)
CLI_S = 1.0  # python -m flowkit run of W1, whole process
IDEAL_SLACK = 1.10  # W3 within 10% of ideal
SCALE_GROWTH = 1.5  # per-task overhead at 10,000 tasks vs at 100
RSS_MB = 200.0  # orchestrator peak RSS at 10,000 tasks
IMPORT_S = 0.150


# -- measuring ------------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> Callable[[], float]:
    def measure() -> float:
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    return measure


def flow_run(
    build: Callable[[], Flow],
    executor: str,
    check: Callable[[RunResult], None] | None = None,
) -> Callable[[], float]:
    """Time ``flow.run`` alone; building the flow is definition, not overhead."""

    def measure() -> float:
        flow = build()
        started = time.perf_counter()
        result = flow.run(executor=executor)
        elapsed = time.perf_counter() - started
        if result.state is not RunState.SUCCEEDED:
            raise RuntimeError(f"{flow.name} on {executor} ended {result.state}")
        if check is not None:
            check(result)
        return elapsed

    return measure


def interleaved_medians(
    candidates: dict[str, Callable[[], float]], repeats: int
) -> dict[str, float]:
    """Run every candidate once per round, ``repeats`` rounds; each one's median time."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, measure in candidates.items():
            samples[name].append(measure())
    return {name: statistics.median(times) for name, times in samples.items()}


def best_wall(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return min(times)


# -- the workloads ----------------------------------------------------------------------------


def per_task_rows(
    workload: str, tasks: int, medians: dict[str, float], *, local_target: float | None
) -> list[Row]:
    """Rows for a no-op-like workload: per-task ms, and each runner's ratio to raw fork."""
    fork_ms = medians[FORK] / tasks * 1000
    rows = []
    for runner, wall in medians.items():
        row = Row(workload, runner, wall, wall / tasks * 1000, ratio_to="fork")
        row.ratio = row.per_task_ms / fork_ms
        if runner == "local" and local_target is not None:
            row.target = f"<= {local_target:g}x raw fork"
            row.result = verdict(row.ratio <= local_target)
        elif runner == "inline":
            row.target = f"<= {INLINE_MS:g} ms/task"
            row.result = verdict(row.per_task_ms <= INLINE_MS)
        rows.append(row)
        workload = ""  # name the workload on its first row only
    return rows


def fan_out_rows(repeats: int) -> tuple[list[Row], float]:
    medians = interleaved_medians(
        {
            FORK: timed(lambda: workloads.fan_out_baseline(start_fork, 100)),
            INTERPRETER: timed(lambda: workloads.fan_out_baseline(start_interpreter, 100)),
            "local": flow_run(lambda: workloads.fan_out_flow(100), "local"),
            "inline": flow_run(lambda: workloads.fan_out_flow(100), "inline"),
        },
        repeats,
    )
    rows = per_task_rows("W1 fan-out 100+1, p=2", 101, medians, local_target=LOCAL_VS_FORK["W1"])
    return rows, medians["local"]


def chain_rows(repeats: int) -> list[Row]:
    medians = interleaved_medians(
        {
            FORK: timed(lambda: workloads.chain_baseline(start_fork, 50)),
            INTERPRETER: timed(lambda: workloads.chain_baseline(start_interpreter, 50)),
            "local": flow_run(lambda: workloads.chain_flow(50), "local"),
            "inline": flow_run(lambda: workloads.chain_flow(50), "inline"),
        },
        repeats,
    )
    return per_task_rows("W2 chain 50", 50, medians, local_target=LOCAL_VS_FORK["W2"])


def sleep_rows(repeats: int) -> list[Row]:
    ideal = 16 * 0.5 / 4
    medians = interleaved_medians(
        {
            FORK: timed(lambda: workloads.sleep_baseline(start_fork)),
            INTERPRETER: timed(lambda: workloads.sleep_baseline(start_interpreter)),
            "local": flow_run(workloads.sleep_flow, "local"),
        },
        repeats,
    )
    # inline runs one attempt at a time by design: 8 s, measured once to show it.
    medians |= interleaved_medians({"inline": flow_run(workloads.sleep_flow, "inline")}, 1)
    rows = [Row("W3 sleep 16x0.5s, p=4", "ideal", ideal, ratio=1.0, ratio_to="ideal")]
    for runner, wall in medians.items():
        row = Row("", runner, wall, ratio=wall / ideal, ratio_to="ideal")
        if runner == "local":
            row.target = f"<= {IDEAL_SLACK:.2f}x ideal"
            row.result = verdict(row.ratio <= IDEAL_SLACK)
        elif runner == "inline":
            row.target = "(serial by design)"
        rows.append(row)
    return rows


def values_rows(repeats: int) -> list[Row]:
    def check(result: RunResult) -> None:
        if result.values["t19"]["n"] != 20:
            raise RuntimeError(f"W4 passed the wrong value along: {result.values['t19']}")

    def baseline(start: workloads.Starter) -> None:
        if workloads.chain_baseline(start, 20, pass_value=True) != 20:
            raise RuntimeError("the W4 baseline passed the wrong value along")

    medians = interleaved_medians(
        {
            FORK: timed(lambda: baseline(start_fork)),
            INTERPRETER: timed(lambda: baseline(start_interpreter)),
            "local": flow_run(workloads.values_flow, "local", check),
            "inline": flow_run(workloads.values_flow, "inline", check),
        },
        repeats,
    )
    return per_task_rows("W4 values chain 20", 20, medians, local_target=None)


def scale_rows(sizes: list[int]) -> list[Row]:
    """Each size, shape and executor in a fresh process; 10,000 judged against 100."""
    rows = []
    for shape in ("fan-out", "chain"):
        at_100: dict[str, float] = {}
        for size in sizes:
            for executor in ("local", "inline"):
                command = [sys.executable, str(HERE / "scale_run.py"), shape, str(size)]
                figures = json.loads(
                    subprocess.run(
                        [*command, "--executor", executor],
                        check=True,
                        capture_output=True,
                        text=True,
                        timeout=900,
                    ).stdout.splitlines()[-1]
                )
                label = f"{size:,}+1" if shape == "fan-out" else f"{size:,}"
                row = Row(
                    f"scale {shape} {label}" if executor == "local" else "",
                    executor,
                    figures["run_s"],
                    figures["per_task_ms"],
                    plan_ms=figures["plan_s"] * 1000,
                    peak_rss_mb=figures["peak_rss_mb"],
                    details=figures,
                )
                if size == 100:
                    at_100[executor] = row.per_task_ms
                row.ratio, row.ratio_to = row.per_task_ms / at_100[executor], "@100"
                if size == 10_000:
                    row.target = f"<= {SCALE_GROWTH:g}x @100; RSS < {RSS_MB:g} MB"
                    row.result = (
                        f"{verdict(row.ratio <= SCALE_GROWTH)}; {verdict(row.peak_rss_mb < RSS_MB)}"
                    )
                rows.append(row)
    return rows


def cli_rows(workdir: Path, local_w1_s: float, repeats: int) -> list[Row]:
    """``python -m flowkit run`` of W1, as a whole process; n/a while the CLI is missing."""
    row = Row("W1 via CLI", "python -m flowkit run", target=f"< {CLI_S:g} s")
    if importlib.util.find_spec("flowkit.cli") is None:
        row.result = "n/a (flowkit/cli.py does not exist yet)"
        return [row]
    path = workdir / "w1_flow.py"
    path.write_text(workloads.FAN_OUT_MODULE)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            process = subprocess.run(
                [sys.executable, "-m", "flowkit", "run", str(path)],
                check=False,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=workdir,
            )
        except subprocess.TimeoutExpired:
            row.result = "n/a (timed out after 120 s)"
            return [row]
        times.append(time.perf_counter() - started)
        if process.returncode != 0:
            lines = (process.stderr or process.stdout).strip().splitlines() or ["no output"]
            row.result = f"n/a (exit code {process.returncode}: {lines[-1][:70]})"
            return [row]
    row.wall_s = statistics.median(times)
    row.per_task_ms = row.wall_s / 101 * 1000
    row.ratio, row.ratio_to = row.wall_s / local_w1_s, "in-proc"
    row.result = verdict(row.wall_s < CLI_S)
    return [row]


def import_rows(runs: int) -> list[Row]:
    bare = best_wall([sys.executable, "-c", "pass"], runs)
    with_flowkit = best_wall([sys.executable, "-c", "import flowkit"], runs)
    return [
        Row(f"import (best of {runs})", INTERPRETER, bare, ratio=1.0, ratio_to="bare"),
        Row(
            "",
            "python -c 'import flowkit'",
            with_flowkit,
            ratio=with_flowkit / bare,
            ratio_to="bare",
            target=f"< {IMPORT_S * 1000:g} ms",
            result=verdict(with_flowkit < IMPORT_S),
        ),
    ]


# -- the run ---------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


@contextlib.contextmanager
def flowkit_home() -> Iterator[Path]:
    """A throwaway FLOWKIT_HOME (the local executor logs every attempt under it)."""
    home = Path(tempfile.mkdtemp(prefix="flowkit-bench-"))
    previous = os.environ.get("FLOWKIT_HOME")
    os.environ["FLOWKIT_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("FLOWKIT_HOME", None)
        else:
            os.environ["FLOWKIT_HOME"] = previous
        shutil.rmtree(home, ignore_errors=True)


def warm_up() -> None:
    """Pay one-off costs (lazy imports, first fork of a fresh heap) before any timing."""
    for executor in ("local", "inline"):
        flow_run(lambda: workloads.chain_flow(3), executor)()
    start_fork(Job()).finish()
    start_interpreter(Job()).finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10,000-task scale rows")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--repeats", type=int, default=5, help="rounds of each small workload (median shown)"
    )
    arguments = parser.parse_args()
    repeats = max(1, arguments.repeats)
    started = time.perf_counter()
    with flowkit_home() as home:
        warm_up()
        w1, local_w1_s = fan_out_rows(repeats)
        rows = [
            *w1,
            *chain_rows(repeats),
            *sleep_rows(max(1, min(repeats, 3))),
            *values_rows(repeats),
            *scale_rows([100, 1_000] if arguments.quick else [100, 1_000, 10_000]),
            *cli_rows(home, local_w1_s, max(1, min(repeats, 3))),
            *import_rows(7),
        ]
    elapsed = time.perf_counter() - started
    about = machine()
    print(
        f"flowkit overhead: Python {about['python']} on {about['cpu']}, {about['cpus']} CPUs; "
        f"median of {repeats} interleaved rounds; measured in {elapsed:.0f} s"
    )
    print(render(rows))
    print(
        "\nms/task = wall / tasks (no-op tasks: all of it is overhead). Ratio: to raw fork "
        "per task (W1, W2, W4),\nto ideal (W3), to the same shape at 100 tasks (scale), to "
        "W1 in-process on local (CLI), to a bare\ninterpreter (import). RSS = orchestrator "
        "peak RSS (VmHWM; see scale_run.py), each scale row\nin a fresh process."
    )
    if arguments.json:
        report = {"machine": about, "elapsed_s": elapsed, "rows": [asdict(r) for r in rows]}
        Path(arguments.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
