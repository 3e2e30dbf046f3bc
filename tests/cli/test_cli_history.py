"""`flowkit runs`, `show` and `logs`, `--home`, and the bad inputs of the history commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowkit._state import RunState
from flowkit._store import RunRecord, SqliteStore, open_store
from flowkit._store.liveness import this_host
from flowkit.cli import main

FLOWS = Path(__file__).parents[1] / "flows"


def flow_file(name: str) -> str:
    return str(FLOWS / f"{name}.py")


def only_run_id(home: Path) -> str:
    with open_store(home, create=False) as store:
        (run,) = store.list_runs()
    return run.run_id


def run_failing(test_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A run of the repairable flow whose transform fails; its run id."""
    (test_dir / "broken").touch()
    assert main(["run", flow_file("history_repairable")]) == 1
    capsys.readouterr()
    return only_run_id(Path(os.environ["FLOWKIT_HOME"]))


# -- runs ------------------------------------------------------------------------------
def test_runs_lists_newest_first_with_short_id_state_start_and_duration(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = run_failing(test_dir, capsys)
    (test_dir / "broken").unlink()
    assert main(["run", flow_file("history_repairable")]) == 0
    assert main(["run", flow_file("cli_simple")]) == 0
    capsys.readouterr()

    assert main(["runs"]) == 0

    lines = capsys.readouterr().out.splitlines()
    header = ["run", "flow", "state", "trigger", "started", "duration", "repairs"]
    assert lines[0].split() == header
    assert [line.split()[1:4] for line in lines[1:]] == [
        ["simple", "succeeded", "manual"],
        ["repairable", "succeeded", "manual"],
        ["repairable", "failed", "manual"],
    ]
    assert lines[3].split()[0] == failed[:12]
    assert time.strftime("%Y-%m-%d") in lines[1]
    assert lines[1].split()[6].endswith("s")  # a duration such as 0.02s


def test_runs_filters_by_flow_and_limits(
    test_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        assert main(["run", flow_file("history_repairable")]) == 0
    assert main(["run", flow_file("cli_simple")]) == 0
    capsys.readouterr()

    assert main(["runs", "--flow", "repairable", "--limit", "2"]) == 0

    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 2
    assert {row.split()[1] for row in rows} == {"repairable"}


def test_runs_without_a_store_says_nothing_is_recorded(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs"]) == 0
    assert "no runs recorded yet" in capsys.readouterr().out
    assert not flowkit_home.exists()  # reading creates nothing


def test_runs_shows_a_run_whose_orchestrator_died_as_interrupted(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    with SqliteStore(flowkit_home / "flowkit.db") as store:
        store.create_run(
            RunRecord(
                run_id="deadbeef0000",
                flow_name="ghost",
                started_at=time.time() - 5,
                pid=int(dead.stdout),
                hostname=this_host(),
                heartbeat_at=time.time(),
            ),
            task_keys=["a"],
        )
    assert main(["runs"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[:3] == ["deadbeef0000", "ghost", "interrupted"]


# -- show ------------------------------------------------------------------------------
def test_show_prints_the_run_and_every_task(
    test_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = run_failing(test_dir, capsys)

    assert main(["show", run_id[:8]]) == 0

    out = capsys.readouterr().out
    assert f"run       {run_id}" in out
    assert "flow      repairable" in out
    assert "state     failed" in out
    assert 'params    day="monday"' in out
    assert "repairs   0" in out
    tasks = {line.split()[0]: line for line in out.split("\n\n")[1].splitlines()[1:]}
    assert list(tasks) == ["ingest", "transform", "report", "alert"]
    assert tasks["ingest"].split()[1:3] == ["succeeded", "1"]
    assert tasks["ingest"].endswith('{"rows":42}')
    assert "RuntimeError: source is broken" in tasks["transform"]
    assert "see the flag file" not in out  # only the first line of the error
    assert tasks["report"].split()[1:5] == ["upstream_failed", "0", "-", "-"]


def test_show_says_which_pass_an_error_comes_from_once_a_run_was_repaired(
    test_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = run_failing(test_dir, capsys)
    assert main(["show", run_id]) == 0
    before = capsys.readouterr().out
    assert main(["repair", run_id, flow_file("history_repairable")]) == 1  # still broken
    capsys.readouterr()

    assert main(["show", run_id]) == 0

    out = capsys.readouterr().out
    assert (
        "RuntimeError: source is broken\n" in before or "RuntimeError: source is broken  " in before
    )
    assert "(run, attempt" not in before  # a run never repaired has one pass: nothing to say
    transform = next(line for line in out.splitlines() if line.startswith("transform"))
    assert transform.endswith("RuntimeError: source is broken (repair 1, attempt 1)")
    assert out.splitlines()[-1] == "attempts by pass: run: 3, repair 1: 1"
    assert out.endswith("\n")


# -- logs ------------------------------------------------------------------------------
def test_logs_prints_the_latest_attempt_of_every_task(
    test_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = run_failing(test_dir, capsys)

    assert main(["logs", run_id]) == 0

    out = capsys.readouterr().out
    assert "== ingest, attempt 1: succeeded ==\ningested 42 rows" in out
    assert "== transform, attempt 1: failed ==\ntransforming" in out
    assert "== alert, attempt 1: succeeded ==\n(no output captured)" in out
    assert "== report: never ran (upstream_failed): no output ==" in out


def test_logs_of_one_task_and_one_attempt(
    test_dir: Path, capsys: pytest.CaptureFixture[str], flowkit_home: Path
) -> None:
    assert main(["run", flow_file("history_flaky")]) == 0
    run_id = only_run_id(flowkit_home)
    capsys.readouterr()

    assert main(["logs", run_id, "wobbly"]) == 0
    latest = capsys.readouterr().out
    assert main(["logs", run_id, "wobbly", "--attempt", "1"]) == 0
    first = capsys.readouterr().out
    assert main(["logs", run_id, "quiet"]) == 0
    quiet = capsys.readouterr().out

    assert latest == "== wobbly, attempt 2: succeeded ==\nwobbly speaking, attempt 2\n"
    # A failed attempt's page ends with its stored traceback.
    assert first.startswith(
        "== wobbly, attempt 1: failed ==\nwobbly speaking, attempt 1\n"
        "-- error of attempt 1 --\nTraceback (most recent call last):\n"
    )
    assert 'history_flaky.py", line 18, in wobbly' in first
    assert first.endswith("\nRuntimeError: first attempt always fails\n")
    assert quiet == "== quiet, attempt 1: succeeded ==\n(no output captured)\n"


def test_logs_of_an_unknown_task_or_attempt_is_a_usage_error(
    test_dir: Path, capsys: pytest.CaptureFixture[str], flowkit_home: Path
) -> None:
    assert main(["run", flow_file("history_flaky")]) == 0
    run_id = only_run_id(flowkit_home)
    capsys.readouterr()

    assert main(["logs", run_id, "nope"]) == 2
    unknown_task = capsys.readouterr().err
    assert main(["logs", run_id, "quiet", "--attempt", "3"]) == 2
    unknown_attempt = capsys.readouterr().err

    assert f"run {run_id} has no task 'nope'; its tasks: wobbly, quiet" in unknown_task
    assert "task 'quiet' of run" in unknown_attempt
    assert "has no attempt 3; its attempts: 1" in unknown_attempt
    assert "Traceback" not in unknown_task + unknown_attempt


# -- --home ----------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["before", "after"])
def test_home_moves_the_store_and_the_logs(
    test_dir: Path, tmp_path: Path, flowkit_home: Path, capsys, where: str
) -> None:
    home = tmp_path / "elsewhere"
    option = ["--home", str(home)]
    run = ["run", flow_file("history_repairable")]
    argv = [*option, *run] if where == "before" else [*run, *option]

    assert main(argv) == 0

    run_id = only_run_id(home)
    assert (home / "flowkit.db").is_file()
    assert list((home / "logs" / run_id).glob("ingest.1.log"))
    assert not (flowkit_home / "flowkit.db").exists()
    capsys.readouterr()
    assert main(["show", run_id, "--home", str(home)]) == 0
    assert run_id in capsys.readouterr().out


# -- bad input -------------------------------------------------------------------------
def _record(store: SqliteStore, run_id: str, flow: str = "made_up") -> None:
    store.create_run(
        RunRecord(
            run_id=run_id,
            flow_name=flow,
            state=RunState.SUCCEEDED,
            started_at=time.time(),
            ended_at=time.time() + 1,
        )
    )


def test_an_unknown_run_id_is_a_usage_error(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SqliteStore(flowkit_home / "flowkit.db") as store:
        _record(store, "abc123")

    for command in (["show", "zzz"], ["logs", "zzz"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "no run with id or id prefix 'zzz'" in err
        assert "Traceback" not in err


def test_an_ambiguous_run_id_lists_the_candidates(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SqliteStore(flowkit_home / "flowkit.db") as store:
        _record(store, "abc123", "one")
        _record(store, "abc456", "two")
        _record(store, "def789", "three")

    assert main(["show", "abc"]) == 2

    err = capsys.readouterr().err
    assert "run id prefix 'abc' is ambiguous: it matches 2 runs" in err
    assert "abc123  one" in err
    assert "abc456  two" in err
    assert "def789" not in err
    assert main(["show", "abc4"]) == 0  # a unique prefix is accepted


def test_history_commands_without_a_store_say_so(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "abc"]) == 2
    assert "no run store at" in capsys.readouterr().err
    assert not flowkit_home.exists()


@pytest.mark.parametrize("command", [["runs"], ["show", "abc"], ["logs", "abc"]])
def test_a_corrupt_store_is_reported_and_left_alone(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    flowkit_home.mkdir()
    garbage = b"this is not a database at all\n" * 200
    (flowkit_home / "flowkit.db").write_bytes(garbage)

    assert main(command) == 2

    err = capsys.readouterr().err
    assert "is damaged or not a database" in err
    assert "Traceback" not in err
    assert (flowkit_home / "flowkit.db").read_bytes() == garbage


def test_a_sqlite_file_of_another_application_is_left_alone(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str], test_dir: Path
) -> None:
    import sqlite3

    flowkit_home.mkdir()
    path = flowkit_home / "flowkit.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE notes (text TEXT)")
    before = path.read_bytes()

    assert main(["run", flow_file("history_repairable")]) == 2

    assert "not a flowkit run store" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert not list(test_dir.glob("*.count"))  # nothing ran


def test_a_read_only_home_is_a_usage_error_even_for_root(
    flowkit_home: Path,
    capsys: pytest.CaptureFixture[str],
    test_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the test above, with the folder's permission check answering "read-only"."""
    from flowkit._store import schema

    flowkit_home.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        schema.os,
        "access",
        lambda path, mode: False if Path(path) == flowkit_home else real_access(path, mode),
    )

    assert main(["run", flow_file("history_repairable")]) == 2

    err = capsys.readouterr().err
    assert f"its folder {flowkit_home} or the file is read-only" in err
    assert "--home" in err
    assert not list(test_dir.glob("*.count"))


def test_history_commands_from_a_real_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "FLOWKIT_TEST_DIR": str(tmp_path), "CI": "1"}

    def flowkit(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "flowkit", "--home", str(home), *args]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    ran = flowkit("run", flow_file("history_repairable"))
    assert ran.returncode == 0, ran.stderr
    runs = flowkit("runs")
    bad = flowkit("show", "nope")

    assert runs.returncode == 0
    assert runs.stdout.splitlines()[1].split()[1:3] == ["repairable", "succeeded"]
    assert bad.returncode == 2
    assert bad.stderr.startswith("flowkit: error: no run with id or id prefix 'nope'")
