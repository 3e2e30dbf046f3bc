"""serve tells on_failure for a run whose orchestrator was killed: it could not tell itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flowkit import RunState
from flowkit._store import SqliteStore

FLOW = """
import time
from flowkit import Cron, Flow, Notify

slow = Flow("slow", schedule=Cron("*/2 * * * * ?"), notify=Notify(on_failure=["{hook}"]))

@slow.task
def nap():
    print("napping", flush=True)
    time.sleep(60)
"""


def test_sigkill_of_a_served_runs_orchestrator_makes_serve_send_on_failure(tmp_path, hook):
    flow_file = tmp_path / "slow.py"
    flow_file.write_text(FLOW.format(hook=hook.url))
    home = tmp_path / "home"
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "flowkit", "--home", str(home), "serve", str(flow_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        running = []
        while not running:
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.1)
            if (home / "flowkit.db").exists():
                with SqliteStore(home / "flowkit.db", read_only=True) as store:
                    running = [r for r in store.list_runs() if r.state is RunState.RUNNING]
        os.kill(running[0].pid, signal.SIGKILL)
        hook.wait_for(1)
    finally:
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=60) == 130
        log.close()

    failure = next(body for body in hook.received if body["run_id"] == running[0].run_id)
    assert failure["event"] == "on_failure"
    assert failure["state"] == "interrupted"
    assert failure["trigger"] == "cron"
    assert "orchestrator died" in failure["message"]
    with SqliteStore(home / "flowkit.db", read_only=True) as store:
        deliveries = store.get_deliveries(running[0].run_id)
    assert deliveries
    assert deliveries[0].ok
