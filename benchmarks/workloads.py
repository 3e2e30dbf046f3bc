"""The benchmark workloads, as flowkit flows and as the same shapes run by bare processes.

Each workload exists twice: a flow built with ``flowkit.Flow`` and a baseline
that runs the same shape (same count, same parallelism, same chaining) with
nothing but processes: a raw ``os.fork()`` plus a pipe per task, or a fresh
``python -c`` per task. The baselines are what a per-task cost is judged against.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

from flowkit import Flow, task_values

# -- tasks ---------------------------------------------------------------------------------


def noop() -> None:
    """A task that does nothing: what its run costs is the executor's overhead."""


def sleep_half_second() -> None:
    time.sleep(0.5)


def _passing_value(previous: str | None) -> Callable[[], None]:
    """A task that reads ``n`` from ``previous`` (0 at the head) and sets ``n + 1``."""

    def pass_value() -> None:
        value = task_values.get(previous, "n") if previous else 0
        task_values.set("n", value + 1)

    return pass_value


# -- flows -----------------------------------------------------------------------------------


def fan_out_flow(width: int, *, max_parallel: int = 2) -> Flow:
    """``width`` independent no-op tasks, then one join that depends on all of them."""
    flow = Flow(f"fan_out_{width}", max_parallel=max_parallel)
    branches = [flow.task(name=f"t{index}")(noop) for index in range(width)]
    flow.task(name="join", depends_on=branches)(noop)
    return flow


def chain_flow(length: int) -> Flow:
    """``length`` no-op tasks in a line."""
    flow = Flow(f"chain_{length}", max_parallel=2)
    previous = None
    for index in range(length):
        previous = flow.task(name=f"t{index}", depends_on=[previous] if previous else [])(noop)
    return flow


def sleep_flow(count: int = 16, *, max_parallel: int = 4) -> Flow:
    """``count`` independent tasks of ``time.sleep(0.5)``."""
    flow = Flow(f"sleep_{count}", max_parallel=max_parallel)
    for index in range(count):
        flow.task(name=f"t{index}")(sleep_half_second)
    return flow


def values_flow(length: int = 20) -> Flow:
    """A chain of ``length`` tasks, each reading its predecessor's value and setting one more."""
    flow = Flow(f"values_{length}", max_parallel=2)
    previous = None
    for index in range(length):
        body = _passing_value(previous.name if previous else None)
        previous = flow.task(name=f"t{index}", depends_on=[previous] if previous else [])(body)
    return flow


#: The W1 flow as a module, for ``python -m flowkit run`` (a copy of ``fan_out_flow(100)``).
FAN_OUT_MODULE = '''\
"""W1 of benchmarks/overhead.py: 100 independent no-op tasks and a join, max_parallel=2."""

from flowkit import Flow


def noop():
    pass


flow = Flow("fan_out_100", max_parallel=2)
branches = [flow.task(name=f"t{index}")(noop) for index in range(100)]
flow.task(name="join", depends_on=branches)(noop)
'''


# -- baselines: the same shapes, with bare processes ---------------------------------------------


class Job(NamedTuple):
    """What one baseline task does: sleep, then write ``value + 1`` (or nothing) back."""

    sleep: float = 0.0
    value: int | None = None


class Started(NamedTuple):
    """A running baseline task: the pipe its answer comes on, and how to collect it."""

    read_end: int
    finish: Callable[[], bytes]  # reads to EOF, closes the pipe, reaps the process


def _answer(job: Job) -> bytes:
    return b"" if job.value is None else str(job.value + 1).encode()


def start_fork(job: Job) -> Started:
    """A raw ``os.fork()`` whose child writes its answer to a pipe and ``_exit``s."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            if job.sleep:
                time.sleep(job.sleep)
            os.write(write_end, _answer(job) or b"ok")
        except BaseException:  # the child must never return into the benchmark
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)

    def finish() -> bytes:
        chunks = []
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f"baseline fork child ended with wait status {status}")
        return b"".join(chunks)

    return Started(read_end, finish)


def start_interpreter(job: Job) -> Started:
    """A fresh ``python -c pass`` (or, to sleep or pass a value, a two-line ``-c``)."""
    if job == Job():
        command = [sys.executable, "-c", "pass"]
    else:
        code = "import sys, time\ntime.sleep(float(sys.argv[1]))\n"
        if job.value is not None:
            code += "sys.stdout.write(str(int(sys.argv[2]) + 1))\n"
        command = [sys.executable, "-c", code, str(job.sleep), str(job.value)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert process.stdout is not None

    def finish() -> bytes:
        assert process.stdout is not None
        answer = process.stdout.read()
        process.stdout.close()
        if process.wait() != 0:
            raise RuntimeError(f"baseline interpreter ended with code {process.returncode}")
        return answer

    return Started(process.stdout.fileno(), finish)


Starter = Callable[[Job], Started]


def run_parallel(start: Starter, jobs: list[Job], parallel: int) -> list[bytes]:
    """Run ``jobs`` at most ``parallel`` at a time, collecting each as soon as it answers."""
    pending = list(reversed(jobs))
    answers: list[bytes] = []
    running = 0
    with selectors.DefaultSelector() as selector:
        while pending or running:
            while pending and running < parallel:
                started = start(pending.pop())
                selector.register(started.read_end, selectors.EVENT_READ, started)
                running += 1
            for key, _ in selector.select():
                selector.unregister(key.fd)
                answers.append(key.data.finish())
                running -= 1
    return answers


def fan_out_baseline(start: Starter, width: int, parallel: int = 2) -> None:
    """``width`` jobs ``parallel`` at a time, then one join job."""
    run_parallel(start, [Job()] * width, parallel)
    start(Job()).finish()


def chain_baseline(start: Starter, length: int, *, pass_value: bool = False) -> int:
    """``length`` jobs one after another; with ``pass_value`` each adds one to the last answer."""
    value = 0
    for _ in range(length):
        answer = start(Job(value=value if pass_value else None)).finish()
        if pass_value:
            value = int(answer)
    return value


def sleep_baseline(start: Starter, count: int = 16, parallel: int = 4) -> None:
    run_parallel(start, [Job(sleep=0.5)] * count, parallel)
