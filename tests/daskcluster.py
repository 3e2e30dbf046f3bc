"""A real dask cluster for tests: a ``dask scheduler`` and ``dask worker`` processes.

Started from the installed ``distributed`` (its ``dask`` command) on 127.0.0.1,
as a user would start one, and torn down with every process it started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from flowkit.executors import _processes as procs
from flowkit.executors.dask._zygote import STANDBY_NAME

TESTS = Path(__file__).parent
#: A worker's zygote: part of the cluster, and so are its standby processes (forked
#: ready, never used); the attempt processes it forks are not.
ZYGOTE = "flowkit.executors.dask._zygote"
TRACKER = "multiprocessing.resource_tracker"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


#: The clusters running now, so the leftover-process checks know their processes.
RUNNING: list[DaskCluster] = []


def cluster_pids() -> set[int]:
    """The processes of every running test cluster (not the attempts they run).

    With them, multiprocessing's resource tracker: one per process that started
    processes the way dask's LocalCluster does, alive as long as that process is.
    """
    trackers = {pid for pid in procs.children(os.getpid()) if TRACKER in _cmdline(pid)}
    return trackers.union(*(cluster.pids() for cluster in RUNNING))


class DaskCluster:
    """A scheduler and ``workers`` worker processes (each with its nanny) on 127.0.0.1.

    ``resources`` are the ``--resources`` of each worker in turn (None: none declared).
    """

    def __init__(
        self,
        folder: Path,
        *,
        workers: int = 2,
        threads: int = 2,
        resources: Sequence[str | None] = (),
    ) -> None:
        self.folder = folder
        self.workers = workers
        self.threads = threads
        self.resources = list(resources) + [None] * (workers - len(resources))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def start(self) -> DaskCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        dask = str(Path(sys.executable).parent / "dask")
        # The tests' own modules (flows defined in test files) import on the workers.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in _test_paths())}
        scheduler_file = self.folder / "scheduler.json"
        self._spawn(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            env, "scheduler",
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dask scheduler did not start: {self._logs()}")
            time.sleep(0.05)
        self.address = json.loads(scheduler_file.read_text())["address"]
        for index, resources in enumerate(self.resources):
            declared = ["--resources", resources] if resources else []
            self._spawn(
                [dask, "worker", self.address, "--nthreads", str(self.threads), "--no-dashboard",
                 "--name", f"worker-{index}", "--local-directory", str(self.folder / "work"),
                 *declared],
                env, f"worker-{index}",
            )  # fmt: skip
        RUNNING.append(self)
        self.wait_for_workers(self.workers)
        return self

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout)

    def pids(self) -> set[int]:
        """The cluster's own processes now, not the attempts they run.

        Scheduler, nannies, workers, zygotes, and the zygotes' standby processes.
        """
        found: set[int] = set()
        for process in self.processes:
            stack = [process.pid]
            while stack:
                pid = stack.pop()
                found.add(pid)
                children = procs.children(pid)
                if ZYGOTE in _cmdline(pid):  # a worker's zygote stays, its attempts must not
                    children = [child for child in children if _name(child) == STANDBY_NAME]
                stack.extend(children)
        return found

    def stop(self) -> None:
        """Kill every process of the cluster (a test cluster needs no graceful close)."""
        if self in RUNNING:
            RUNNING.remove(self)
        for process in reversed(self.processes):  # workers first, the scheduler last
            procs.kill_tree(process.pid)
            process.wait()

    def _spawn(self, command: list[str], env: dict[str, str], name: str) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        )
        log.close()

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a dask process exited: {self._logs()}")

    def _logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.folder.glob("*.log")))


def _test_paths() -> list[Path]:
    existing = [Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [TESTS, *(path for path in TESTS.iterdir() if path.is_dir()), *existing]
