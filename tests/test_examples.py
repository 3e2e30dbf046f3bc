"""The examples leave nothing behind them but the run history."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_files_example_leaves_no_temporary_folder_behind(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowkit",
            "--home",
            str(tmp_path / "home"),
            "run",
            str(EXAMPLES / "files.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TMPDIR": str(temporary)},
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "9 lines in 3 files" in completed.stdout
    assert list(temporary.iterdir()) == []
