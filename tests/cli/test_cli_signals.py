"""Signals to a real `python -m flowkit run`: Ctrl-C, SIGTERM and SIGKILL leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from proctools import processes_with, processes_with_environment, wait_until_gone

from flowkit.executors import _processes as procs

FLOW = Path(__file__).parents[1] / "flows" / "signals_sleepy.py"


@pytest.fixture(params=["local", "dask-ephemeral", "dask-address"])
def started_run(tmp_path, request):
    """A real orchestrator whose task has started its grandchildren, on each executor.

    On dask, in an ephemeral cluster of the orchestrator's, or on the session's cluster.
    """
    options = {
        "local": [],
        "dask-ephemeral": ["--workers", "1"],
        "dask-address": ["--address", ""],
    }[request.param]
    if request.param == "dask-address":
        options[-1] = request.getfixturevalue("dask_cluster").address
    marker = f"flowkit-test-{uuid.uuid4().hex[:12]}"
    started = tmp_path / "started"
    env = {
        **os.environ,
        "FLOWKIT_HOME": str(tmp_path / "home"),
        "FLOWKIT_TEST_MARKER": marker,
        "FLOWKIT_TEST_STARTED": str(started),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit", "run", str(FLOW), "--grace-period", "1", *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists() or len(processes_with(marker)) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the task never started its sleepers"
        time.sleep(0.05)
    yield process, marker
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_cancels_the_run_exits_130_and_leaves_no_process(
    started_run, signal_number
):
    process, marker = started_run

    process.send_signal(signal_number)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, (out, err)
    assert "sleeps" in out
    assert "cancelled" in out
    assert processes_with(marker) == []


def test_a_second_ctrl_c_kills_at_once(started_run):
    process, marker = started_run

    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, (out, err)
    assert processes_with(marker) == []


def test_killing_the_orchestrator_with_sigkill_leaves_no_process(started_run):
    process, marker = started_run

    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    # The fork server sees its orchestrator gone and kills every attempt's tree; on dask,
    # the workers (or, on a running cluster, the tasks released by the scheduler) do.
    assert wait_until_gone(marker, seconds=10) == []
    # Nor does anything forked below the orchestrator outlive it: the fork server, its
    # standby processes that never ran an attempt, an ephemeral cluster's workers.
    assert processes_with_environment(marker) == []


def test_killing_the_fork_server_cancels_the_run_with_its_reason_and_leaves_no_process(
    tmp_path,
):
    marker = f"flowkit-test-{uuid.uuid4().hex[:12]}"
    started = tmp_path / "started"
    home = tmp_path / "home"
    env = {
        **os.environ,
        "FLOWKIT_HOME": str(home),
        "FLOWKIT_TEST_MARKER": marker,
        "FLOWKIT_TEST_STARTED": str(started),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit", "run", str(FLOW), "--grace-period", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists() or len(processes_with(marker)) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the task never started its sleepers"
            time.sleep(0.05)
        (fork_server,) = procs.children(process.pid)  # the OOM killer's likely victim

        os.kill(fork_server, signal.SIGKILL)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 1, (out, err)
    assert "fork server died (killed by signal 9 (SIGKILL))" in err
    assert "cancelled" in out
    assert wait_until_gone(marker, seconds=10) == []
    shown = subprocess.run(
        [sys.executable, "-m", "flowkit", "runs"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "cancelled" in shown.stdout
