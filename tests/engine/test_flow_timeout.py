"""The flow's timeout: past it the run is cancelled cleanly and ends timed_out."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proctools import processes_with, wait_until_gone

from flowkit import FakeClock, Flow, RunState, TaskState
from flowkit._store import open_store
from flowkit.cli._common import EXIT_FAILED, exit_code


def test_a_run_past_its_timeout_ends_timed_out_with_its_tasks_cancelled():
    clock = FakeClock()
    flow = Flow("patient", timeout=30)
    attempts: list[int] = []

    @flow.task(retries=5, retry_delay=100)
    def flaky():
        attempts.append(1)
        raise RuntimeError("not yet")

    @flow.task
    def independent():
        return 1

    @flow.task(depends_on=[flaky])
    def after():
        return 2

    started = clock.monotonic()
    result = flow.run(executor="inline", clock=clock)

    assert result.state is RunState.TIMED_OUT
    # the retry was due at +100 s: the run did not wait for it, it ended at its timeout
    assert clock.monotonic() - started == pytest.approx(30)
    assert attempts == [1]
    assert result.tasks["flaky"].state is TaskState.CANCELLED
    assert result.tasks["after"].state is TaskState.CANCELLED
    assert result.tasks["independent"].state is TaskState.SUCCEEDED
    assert "timeout of 30s" in result.cancel_reason
    assert exit_code(result.state, cancel_reason=result.cancel_reason) == EXIT_FAILED
    with open_store() as store:
        assert store.get_run(result.run_id).state is RunState.TIMED_OUT


def test_a_run_within_its_timeout_is_not_touched():
    flow = Flow("quick", timeout=60)

    @flow.task
    def work():
        return 1

    assert flow.run(executor="inline", clock=FakeClock()).state is RunState.SUCCEEDED


def test_the_timeout_stops_running_attempts_and_leaves_no_process(tmp_path: Path):
    marker = f"flow-timeout-{os.getpid()}-{time.monotonic_ns()}"
    wrote = tmp_path / "wrote.txt"
    flow = Flow("stuck", timeout=1.5)

    @flow.task
    def busy():
        print("started", flush=True)
        wrote.write_text("partial")
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
        time.sleep(60)

    @flow.task(depends_on=[busy])
    def never():
        return 1

    before = time.monotonic()
    result = flow.run(executor="local")

    assert time.monotonic() - before < 20  # cancelled at the timeout, not after a minute
    assert result.state is RunState.TIMED_OUT
    assert result.tasks["busy"].state is TaskState.CANCELLED
    assert result.tasks["never"].state is TaskState.CANCELLED
    assert wrote.read_text() == "partial"
    assert wait_until_gone(marker) == []
    assert processes_with(marker) == []
