"""The dask executor's cluster: its options, and an ephemeral one.

``local_cluster`` is the ephemeral cluster of a run, ``kill_workers`` kills its
workers in a hurry, ``quicken`` has a client send to its scheduler sooner.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from flowkit.executors import _processes as procs

#: How often flowkit's client sends what it has to the scheduler, in seconds (dask's
#: default is 10 ms): every attempt waits for the next send before it can start.
SEND_INTERVAL = 0.002

_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def option_problems(
    where: str,
    *,
    address: str | None,
    address_source: str,
    workers: Any,
    threads_per_worker: Any,
    grace_period: Any,
) -> list[str]:
    """Every problem with the dask executor's options, each naming ``where``."""
    problems = []
    if address is not None and not _ADDRESS.match(address):
        problems.append(
            f"{where}: scheduler address {address!r} ({address_source}) is "
            "invalid; give it as tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786"
        )
    if address is not None and workers is not None:
        problems.append(
            f"{where}: workers={workers!r} sizes an ephemeral cluster, but an address "
            f"({address}) is given; drop one of them"
        )
    for option, value in (("workers", workers), ("threads_per_worker", threads_per_worker)):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            problems.append(f"{where}: {option}={value!r} is invalid; give an int >= 1")
    if not isinstance(grace_period, (int, float)) or grace_period < 0:
        problems.append(f"{where}: grace_period={grace_period!r}; give seconds >= 0")
    return problems


def local_cluster(workers: int, threads_per_worker: int) -> Any:
    """An ephemeral ``LocalCluster`` of ``workers`` worker processes."""
    import dask
    from distributed import LocalCluster

    # Only our own claim decides what a lost worker means: no retry by dask.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
            # Its small HTTP server (health, metrics) on any free port, not 8787.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )


def quicken(client: Any) -> None:
    """Have ``client`` send to the scheduler every ``SEND_INTERVAL``, where dask lets it."""
    comm = getattr(client, "scheduler_comm", None)
    if isinstance(getattr(comm, "interval", None), (int, float)):
        comm.interval = SEND_INTERVAL


def kill_workers(cluster: Any) -> None:
    """SIGKILL the worker processes of a LocalCluster, and everything below them."""
    for nanny in list(getattr(cluster, "workers", {}).values()):
        with contextlib.suppress(Exception):
            procs.kill_tree(nanny.process.process.pid)
