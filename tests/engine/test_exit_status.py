"""How each attempt's process ended reaches the result and the store: exit code or signal."""

from __future__ import annotations

import os
import signal

from flowkit import Flow, TaskState
from flowkit._store import SqliteStore


def test_exit_codes_and_signals_of_attempts_are_recorded(tmp_path):
    store = SqliteStore(tmp_path / "flowkit.db")
    flag = tmp_path / "killed-once"
    flow = Flow("exits")

    @flow.task(retries=1)
    def killed_then_fine():
        if not flag.exists():
            flag.touch()
            os.kill(os.getpid(), signal.SIGKILL)

    @flow.task
    def exits_three():
        os._exit(3)

    result = flow.run(executor="local", store=store, echo_output=False)

    assert result.tasks["exits_three"].state is TaskState.FAILED
    assert result.tasks["exits_three"].exit_code == 3
    assert result.tasks["killed_then_fine"].exit_code == 0
    attempts = {
        (record.task_key, record.attempt): (record.exit_code, record.signal)
        for record in store.get_attempts(result.run_id)
    }
    assert attempts == {
        ("killed_then_fine", 1): (None, signal.SIGKILL),
        ("killed_then_fine", 2): (0, None),
        ("exits_three", 1): (3, None),
    }
