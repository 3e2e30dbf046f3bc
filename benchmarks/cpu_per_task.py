"""Where a local task's time goes: CPU per task, beside the raw fork + pipe baseline.

    python benchmarks/cpu_per_task.py [--repeats N]

For W1 (100 no-op tasks and a join, two at a time) and W2 (a chain of 50), on
the ``local`` executor and as a raw ``os.fork()`` + pipe per task, prints the
wall time per task and the CPU time per task spent by this process (the
orchestrator, or the baseline's parent) and by its descendants (the fork
server, its standby and attempt processes; the baseline's children), from
``getrusage``. The CPU a task costs in all processes, divided by the cores,
is a floor under its wall time when the cores are all busy.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable

import workloads
from workloads import start_fork


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its reaped descendants."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    descendants = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, descendants.ru_utime + descendants.ru_stime


def measure(action: Callable[[], object], tasks: int, repeats: int) -> tuple[float, float, float]:
    """Median wall, own CPU and descendants' CPU per task, in ms."""
    action()  # warm-up
    walls, own, descendants = [], [], []
    for _ in range(repeats):
        before = cpu_seconds()
        started = time.perf_counter()
        action()
        walls.append(time.perf_counter() - started)
        after = cpu_seconds()
        own.append(after[0] - before[0])
        descendants.append(after[1] - before[1])
    return tuple(statistics.median(series) / tasks * 1000 for series in (walls, own, descendants))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    os.environ["FLOWKIT_HOME"] = tempfile.mkdtemp(prefix="flowkit-cpu-")
    cases = (
        ("W1 fan-out 100+1, p=2", 101, lambda: workloads.fan_out_flow(100).run(executor="local"),
         lambda: workloads.fan_out_baseline(start_fork, 100)),
        ("W2 chain 50", 50, lambda: workloads.chain_flow(50).run(executor="local"),
         lambda: workloads.chain_baseline(start_fork, 50)),
    )  # fmt: skip
    cores = len(os.sched_getaffinity(0))
    print(f"ms per task, median of {options.repeats}; {cores} CPUs")
    print(f"{'Workload':<22}  {'Runner':<14}  {'wall':>6}  {'own CPU':>7}  {'desc. CPU':>9}  "
          f"{'CPU/cores':>9}")  # fmt: skip
    for name, tasks, local, fork in cases:
        label = name
        for runner, action in (("raw fork+pipe", fork), ("local", local)):
            wall, own, descendants = measure(action, tasks, options.repeats)
            floor = (own + descendants) / cores
            print(f"{label:<22}  {runner:<14}  {wall:6.2f}  {own:7.2f}  {descendants:9.2f}  "
                  f"{floor:9.2f}")  # fmt: skip
            label = ""  # name the workload on its first row only


if __name__ == "__main__":
    main()
