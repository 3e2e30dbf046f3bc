"""first -> second -> third; the first run of ``second`` starts a sleeper and waits.

For the test that kills the orchestrator with SIGKILL while ``second`` runs:
``$FLOWKIT_TEST_DIR/started`` appears once the sleeper (whose command line holds
``$FLOWKIT_TEST_MARKER``) is up. Each task counts its runs in ``TASK.count``.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from flowkit import Flow, task_values

flow = Flow("killable")


def _count(name: str) -> int:
    counter = Path(os.environ["FLOWKIT_TEST_DIR"]) / f"{name}.count"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    return count


@flow.task
def first():
    _count("first")
    task_values.set("token", "from-first")


@flow.task(depends_on=[first])
def second():
    if _count("second") == 1:
        marker = os.environ["FLOWKIT_TEST_MARKER"]
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker])
        (Path(os.environ["FLOWKIT_TEST_DIR"]) / "started").write_text("started")
        time.sleep(300)
    task_values.set("token", "from-second")


@flow.task(depends_on=[second])
def third():
    _count("third")
    joined = [task_values.get(task_key=key, key="token") for key in ("first", "second")]
    task_values.set("joined", "+".join(joined))
