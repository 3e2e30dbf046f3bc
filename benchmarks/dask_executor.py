"""The dask executor beside the local one: W1 and W3 on 2 workers, cluster start-up apart.

    python benchmarks/dask_executor.py [--repeats N] [--json PATH]

W1 is 100 no-op tasks and a join at max_parallel=2; W3 is 16 tasks of
sleep(0.5) at max_parallel=4 (benchmarks/workloads.py). Each runs, rounds
interleaved, on ``local`` and on ``dask`` against a running cluster of 2
worker processes with 2 threads each (started once, before timing), and W1 also
as plain dask: the same 100 no-op functions through ``client.submit`` two at a
time, no flowkit, the floor of any executor built on dask. The cluster's
start-up is measured on its own (a ``LocalCluster`` of 2 workers, started and
closed, as the ephemeral cluster of a run), and one W1 run on an ephemeral
cluster shows what a run pays end to end.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import workloads
from table import Row, render

from flowkit import RunState
from flowkit.executors.dask import DaskExecutor

WORKERS = 2
THREADS = 2


def _cluster() -> tuple[object, float]:
    from distributed import LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=THREADS,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    )
    return cluster, time.perf_counter() - started


def _flow_run(build: Callable[[], object], executor: Callable[[], object]) -> Callable[[], float]:
    def measure() -> float:
        flow = build()
        started = time.perf_counter()
        result = flow.run(executor=executor(), store=False, echo_output=False)
        elapsed = time.perf_counter() - started
        if result.state is not RunState.SUCCEEDED:
            raise RuntimeError(f"{flow.name} ended {result.state}")
        return elapsed

    return measure


def _plain_dask(client: object, tasks: int, parallel: int) -> Callable[[], float]:
    """``tasks`` no-op functions through client.submit, ``parallel`` at a time."""
    from distributed import wait

    def measure() -> float:
        started = time.perf_counter()
        running: list[object] = []
        for _ in range(tasks):
            if len(running) >= parallel:
                _, pending = wait(running, return_when="FIRST_COMPLETED")
                running = list(pending)
            running.append(client.submit(workloads.noop, pure=False))
        wait(running)
        return time.perf_counter() - started

    return measure


def _medians(candidates: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, measure in candidates.items():
            samples[name].append(measure())
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from distributed import Client

    rows: list[Row] = []
    startups = []
    for _ in range(args.repeats):
        cluster, seconds = _cluster()
        cluster.close()
        startups.append(seconds)
    rows.append(
        Row("cluster", f"LocalCluster {WORKERS}x{THREADS}", statistics.median(startups),
            target="start-up, median", result="-")
    )  # fmt: skip

    cluster, _ = _cluster()
    client = Client(cluster)  # the default client: distributed.wait uses it
    address = cluster.scheduler_address
    try:
        dask = lambda: DaskExecutor(address=address)  # noqa: E731
        w1 = _medians(
            {
                "local": _flow_run(lambda: workloads.fan_out_flow(100), lambda: "local"),
                "dask": _flow_run(lambda: workloads.fan_out_flow(100), dask),
                "plain dask submit": _plain_dask(client, 101, 2),
            },
            args.repeats,
        )
        for runner, wall in w1.items():
            rows.append(
                Row("W1 fan-out 100+1", runner, wall, wall / 101 * 1000,
                    ratio=wall / w1["local"], ratio_to="local")
            )  # fmt: skip
        w3 = _medians(
            {
                "local": _flow_run(lambda: workloads.sleep_flow(16), lambda: "local"),
                "dask": _flow_run(lambda: workloads.sleep_flow(16), dask),
            },
            args.repeats,
        )
        ideal = 16 * 0.5 / 4
        for runner, wall in w3.items():
            rows.append(Row("W3 16x0.5s on 4", runner, wall, ratio=wall / ideal, ratio_to="ideal"))
    finally:
        client.close()
        cluster.close()

    ephemeral = DaskExecutor(workers=WORKERS, threads_per_worker=THREADS)
    wall = _flow_run(lambda: workloads.fan_out_flow(100), lambda: ephemeral)()
    report = ephemeral.cluster_report
    assert report is not None
    rows.append(
        Row("W1 fan-out 100+1", "dask, ephemeral cluster", wall, wall / 101 * 1000,
            target=f"start-up {report.startup_seconds:.2f}s, up {report.lifetime_seconds:.2f}s",
            result="-")
    )  # fmt: skip

    print(f"python {sys.version.split()[0]}, {WORKERS} workers x {THREADS} threads")
    print(render(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
