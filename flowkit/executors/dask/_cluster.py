"""The dask executor's cluster: its options, an ephemeral one, and the resources of tasks.

``connect`` reaches a running scheduler; ``start_local`` starts the ephemeral
cluster of a run (``local_cluster``), ``kill_workers`` kills its workers in a
hurry. A task's ``memory``, ``cpus`` and ``pool`` become dask
worker resources (``task_resources``, named in ``DaskExecutor``'s docstring);
each worker of an ephemeral cluster declares what this machine has
(``machine_resources``).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flowkit._definition.sizes import format_size
from flowkit._errors import ExecutorError
from flowkit.executors import _machine as machine
from flowkit.executors import _processes as procs

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan

#: Where ``--address`` is read from when it is not given.
ADDRESS_VARIABLE = "FLOWKIT_DASK_ADDRESS"

#: How often flowkit's client sends what it has to the scheduler, in seconds (dask's
#: default is 10 ms): every attempt waits for the next send before it can start.
SEND_INTERVAL = 0.002

#: The dask resources a task's options become: bytes, CPUs, and one slot of its pool.
MEMORY = "memory"
CPUS = "cpus"
POOL_PREFIX = "pool-"

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


def connect(address: str | None, timeout: float, flow_name: str) -> Any:
    """A client of the running scheduler at ``address``.

    Raises:
        ExecutorError: the scheduler could not be reached within ``timeout`` seconds.
    """
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False, name=f"flowkit-{flow_name}")
    except (OSError, TimeoutError) as error:
        msg = (
            f"flow {flow_name!r}: cannot reach the dask scheduler at {address} within "
            f"{timeout:g}s ({type(error).__name__}: {error}). Check --address / "
            f"{ADDRESS_VARIABLE}, or start one with `dask scheduler`"
        )
        raise ExecutorError(msg) from error


def start_local(
    workers: int, threads_per_worker: int, pools: Mapping[str, int], flow_name: str
) -> tuple[Any, Any]:
    """The run's ephemeral cluster and a client of it.

    Raises:
        ExecutorError: the cluster did not start (what was started is closed).
    """
    from distributed import Client

    cluster = None
    try:
        cluster = local_cluster(workers, threads_per_worker, pools)
        return cluster, Client(cluster, set_as_default=False)
    except Exception as error:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        msg = f"flow {flow_name!r}: the ephemeral dask cluster did not start: {error}"
        raise ExecutorError(msg) from error


def local_cluster(workers: int, threads_per_worker: int, pools: Mapping[str, int]) -> Any:
    """An ephemeral ``LocalCluster`` whose workers each declare this machine's resources."""
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
            resources=machine_resources(pools),
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


# -- resources -----------------------------------------------------------------------------
def task_resources(plan: Plan) -> dict[str, dict[str, float]]:
    """The dask resources of each task that declares memory, cpus or a pool (only those)."""
    found = {}
    for name, spec in plan.tasks.items():
        resources: dict[str, float] = {}
        if spec.memory is not None:
            resources[MEMORY] = spec.memory
        if spec.cpus is not None:
            resources[CPUS] = spec.cpus
        if spec.pool is not None:
            resources[f"{POOL_PREFIX}{spec.pool}"] = 1
        if resources:
            found[name] = resources
    return found


def machine_resources(pools: Mapping[str, int]) -> dict[str, float]:
    """What each worker of an ephemeral cluster declares: this machine, and the flow's pools.

    Every worker declares the whole machine, so that any task that fits the machine
    fits a worker; what runs at once across them is the run's to limit.
    """
    resources: dict[str, float] = {CPUS: machine.cpus()}
    memory = machine.memory()
    if memory is not None:
        resources[MEMORY] = memory.total
    for pool, size in pools.items():
        resources[f"{POOL_PREFIX}{pool}"] = size
    return resources


def unmet_resources(
    client: Any, where: str, needs: Mapping[str, Mapping[str, float]], address: str | None
) -> list[str]:
    """Each task whose resources no worker of ``client``'s scheduler declares enough of."""
    try:
        info = client.scheduler_info()
    except Exception:  # nothing to say then; such tasks wait all the same
        return []
    workers = {
        worker: details.get("resources") or {}
        for worker, details in info.get("workers", {}).items()
    }
    problems = []
    for task, wanted in needs.items():
        if any(
            all(have.get(name, 0) >= amount for name, amount in wanted.items())
            for have in workers.values()
        ):
            continue
        option = ",".join(f"{name}={amount:g}" for name, amount in wanted.items())
        problems.append(
            f"{where}, task {task!r}: it needs the dask worker resources {_describe(wanted)}, "
            f"and no worker of the scheduler at {address} declares as much "
            f'({_declared(workers)}); a worker declares them with --resources "{option}"'
        )
    return problems


def _describe(resources: Mapping[str, float]) -> str:
    """Resources as ``dask worker --resources`` takes them, memory also in binary units."""
    words = []
    for name, amount in resources.items():
        text = f"{name}={amount:g}"
        if name == MEMORY:
            text += f" ({format_size(amount)})"
        words.append(text)
    return ", ".join(words)


def _declared(workers: Mapping[str, Mapping[str, float]]) -> str:
    if not workers:
        return "it has no workers now"
    kinds = sorted({_describe(have) or "none" for have in workers.values()})
    return "they declare " + "; ".join(kinds)
