"""A flow whose task starts grandchildren and then waits: for signal tests of the CLI."""

import os
import subprocess
import sys
import time
from pathlib import Path

from flowkit import Flow

flow = Flow("sleepy")
MARKER = os.environ.get("FLOWKIT_TEST_MARKER", "no-marker")
STARTED = Path(os.environ.get("FLOWKIT_TEST_STARTED", "/nonexistent"))


def _sleeper() -> str:
    return f"{sys.executable} -c 'import time; time.sleep(300)' {MARKER}"


@flow.task
def sleeps():
    subprocess.Popen(_sleeper(), shell=True)
    subprocess.Popen(["setsid", "sh", "-c", f"{_sleeper()} & exit 0"])
    print("started two sleepers", flush=True)  # a realistic task has printed when it is stopped
    STARTED.write_text("started")
    time.sleep(300)


@flow.task(depends_on=[sleeps])
def never_reached():
    pass
