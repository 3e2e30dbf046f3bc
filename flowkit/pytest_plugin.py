"""flowkit's pytest plugin: fixtures that run a flow inline and run a task in a context.

Registered through the ``pytest11`` entry point, so installing flowkit makes
the fixtures available to every test suite; nothing needs ``pytest_plugins``.

- ``flowkit_run``: ``flowkit_run(flow, params={...})`` runs the flow inline
  against a SQLite store in the test's ``tmp_path`` and returns its
  ``RunResult`` (other keywords, e.g. ``clock=``, go to ``Flow.run``);
  ``flowkit_run.store`` is that store. ``FLOWKIT_HOME`` points
  into ``tmp_path`` too, so nothing is written to the working directory.
- ``task_context``: ``flowkit.testing.task_context``, for
  ``with task_context(values=..., params=...) as ctx:``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowkit import testing


@pytest.fixture
def flowkit_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[testing.FlowRunner]:
    """Run a whole flow inline against a temporary store: ``flowkit_run(flow, params=...)``."""
    home = tmp_path / "flowkit-run"
    monkeypatch.setenv("FLOWKIT_HOME", str(home))
    runner = testing.FlowRunner(home)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def task_context() -> Callable[..., Any]:
    """``flowkit.testing.task_context``: run a task in-process with given values and params."""
    return testing.task_context
