"""``child`` sets its values from a child process and a shell command; ``waits`` then hangs.

For the test that kills the orchestrator with SIGKILL after ``child`` succeeded:
``$FLOWKIT_TEST_DIR/waiting`` appears once ``waits`` runs its first time.
"""

import os
import time
from pathlib import Path

from flowkit import Flow, task_values

flow = Flow("channel_killable")

flow.shell(
    "child",
    "python -c 'from flowkit import task_values; task_values.set(\"rows\", 14520)' && "
    "flowkit values set source '\"shell\"' && "
    'echo run >> "$FLOWKIT_TEST_DIR/child.count"',
)


@flow.task(depends_on=["child"])
def waits():
    folder = Path(os.environ["FLOWKIT_TEST_DIR"])
    if not (folder / "waiting").exists():
        (folder / "waiting").write_text("waiting")
        time.sleep(300)
    task_values.set("seen", [task_values.get("child", "rows"), task_values.get("child", "source")])
