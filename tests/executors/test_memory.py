"""Memory limits on the local executor: a tree over its task's memory= is killed and fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from memorylimits import assert_killed_for_memory
from proctools import processes_with, wait_until_gone

from flowkit import Flow, RunState, TaskState
from flowkit.executors import _machine as machine
from flowkit.executors import _watch as watch

ALLOCATE_600MB = "data = b'x' * 600_000_000; import time; time.sleep(30)"


def test_a_task_over_its_memory_fails_memory_limit_exceeded_and_is_retried(tmp_path):
    flow = Flow("hungry", max_parallel=2)
    started = tmp_path / "neighbour-started"

    @flow.task(memory="256MiB", retries=1)
    def hungry():
        while not started.exists():
            time.sleep(0.01)
        data = b"x" * 600_000_000  # bytes of b"x" are written: every page is resident
        time.sleep(30)
        return len(data)

    @flow.task
    def neighbour():
        started.touch()
        time.sleep(1.5)
        return "still here"

    result = flow.run()

    task = result.tasks["hungry"]
    assert_killed_for_memory(task, limit_mib=256, attempts=2)
    # Its neighbour, started beside it, ran to its end.
    assert result.tasks["neighbour"].state is TaskState.SUCCEEDED
    assert result.results["neighbour"] == "still here"
    assert result.state is RunState.FAILED


def test_the_whole_tree_counts_and_is_killed(marker):
    flow = Flow("hungry-children")

    @flow.task(memory="256MiB")
    def parent():
        # The task's own process stays small; a child it started holds the memory.
        subprocess.run([sys.executable, "-c", ALLOCATE_600MB, marker], check=False)

    result = flow.run()

    task = result.tasks["parent"]
    assert task.state is TaskState.FAILED
    assert task.error.type_name == "MemoryLimitExceeded"
    assert wait_until_gone(marker) == []


def test_a_task_within_its_memory_succeeds():
    flow = Flow("modest")

    @flow.task(memory="1GiB")
    def modest():
        data = b"x" * 50_000_000
        time.sleep(0.3)  # sampled at least twice
        return len(data)

    result = flow.run()

    assert result.tasks["modest"].state is TaskState.SUCCEEDED
    assert result.results["modest"] == 50_000_000


def test_an_unexplained_sigkill_with_memory_short_is_probably_out_of_memory(monkeypatch):
    # The fork server is forked from this process: it reads this machine, short of memory.
    short = machine.Memory(total=2 * 1024**3, available=100 * 1024**2)
    monkeypatch.setattr(machine, "memory", lambda: short)
    flow = Flow("oom")

    @flow.task
    def victim():
        data = b"x" * 20_000_000
        time.sleep(watch.UNLIMITED_INTERVAL + 0.3)  # sampled once
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
        return len(data)

    result = flow.run()

    error = result.tasks["victim"].error
    assert "killed by signal 9 (SIGKILL)" in error.message
    assert "probably out of memory" in error.message
    assert "5% of the machine's memory free" in error.message


def test_a_sigkill_with_memory_plentiful_says_nothing_of_memory():
    flow = Flow("not-oom")

    @flow.task
    def victim():
        time.sleep(watch.UNLIMITED_INTERVAL + 0.3)
        os.kill(os.getpid(), signal.SIGKILL)

    result = flow.run()

    error = result.tasks["victim"].error
    assert "killed by signal 9 (SIGKILL)" in error.message
    assert "memory" not in error.message


@pytest.mark.parametrize(
    ("rss", "free_share", "probably"),
    [(100, 0.05, True), (600, 0.4, True), (100, 0.4, False), (0, 0.01, False)],
)
def test_out_of_memory_evidence(monkeypatch, rss, free_share, probably):
    monkeypatch.setattr(machine, "memory", lambda: machine.Memory(total=1000, available=400))
    watched = watch.Watched(limit=None, next_at=0.0, rss=rss, free_share=free_share)

    note = watch.out_of_memory_note(watched)

    assert (note is not None) is probably
    if probably:
        assert note.startswith("probably out of memory")


def test_the_watcher_samples_a_tree_and_returns_it_once_over(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", ALLOCATE_600MB])
    try:
        memory_watch = watch.MemoryWatch()
        memory_watch.add(child.pid, 256 * 1024**2)
        deadline = time.monotonic() + 20
        over: list[tuple[int, int, int]] = []
        while not over and time.monotonic() < deadline:
            time.sleep(memory_watch.next_sample() or 0)
            over = memory_watch.sample()
        assert [pid for pid, _, _ in over] == [child.pid]
        assert over[0][1] > 256 * 1024**2
        assert memory_watch.next_sample() is None  # no longer watched: the caller kills it
    finally:
        child.kill()
        child.wait()
    assert processes_with(ALLOCATE_600MB) == []
