"""One scale run in a fresh process, so the peak RSS it reports belongs to that run alone.

    python benchmarks/scale_run.py fan-out 10000 --executor local

prints one JSON object: build, plan and run times, per-task overhead and the
orchestrator's peak RSS (attempt processes and the fork server are children
and do not count).

Peak RSS is ``VmHWM`` from ``/proc/self/status``, the high-water mark of this
process image. ``ru_maxrss`` is reported too, but Linux carries it across
``fork`` + ``execve``: a fresh child's ``ru_maxrss`` is never below the RSS of
the parent that started it (the benchmark driver, ~28 MB), which would hide
what the run itself needs.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from workloads import chain_flow, fan_out_flow


def high_water_mark_mb() -> float | None:
    """This process image's peak RSS (``VmHWM``), MiB; None where /proc has no such line."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure(shape: str, tasks: int, executor: str) -> dict[str, object]:
    """Build, plan and run one no-op flow of ``tasks`` tasks; the figures as a dict."""
    # One tiny run first pays the one-off costs (the executor's lazy imports) outside the
    # timing, as overhead.py's warm-up does, so 100 tasks and 10,000 compare fairly.
    chain_flow(3).run(executor=executor)
    started = time.perf_counter()
    # Fan-out is ``tasks`` branches plus a join, like W1; a chain is ``tasks`` long.
    flow = fan_out_flow(tasks) if shape == "fan-out" else chain_flow(tasks)
    built = time.perf_counter()
    flow.plan()
    planned = time.perf_counter()
    result = flow.run(executor=executor)
    ran = time.perf_counter()
    task_count = len(flow.tasks)
    return {
        "shape": shape,
        "tasks": task_count,
        "executor": executor,
        "state": str(result.state),
        "build_s": built - started,
        "plan_s": planned - built,
        "run_s": ran - planned,
        "per_task_ms": (ran - planned) / task_count * 1000,
        "peak_rss_mb": high_water_mark_mb(),
        # Linux reports ru_maxrss in KiB; see the module docstring for why it is not the peak.
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=["fan-out", "chain"])
    parser.add_argument("tasks", type=int)
    parser.add_argument("--executor", default="local", choices=["local", "inline"])
    arguments = parser.parse_args()
    figures = measure(arguments.shape, arguments.tasks, arguments.executor)
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0 if figures["state"] == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
