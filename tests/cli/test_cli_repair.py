"""`flowkit repair`: after a killed orchestrator, after an ordinary failure, and its refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from proctools import processes_with, wait_until_gone

from flowkit._state import RunState, TaskState
from flowkit._store import RunRecord, SqliteStore, open_store
from flowkit._store.liveness import this_host
from flowkit.cli import main

FLOWS = Path(__file__).parents[1] / "flows"
REPAIRABLE = str(FLOWS / "history_repairable.py")


def counts(folder: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in folder.glob("*.count")}


def the_run(home: Path) -> tuple[RunRecord, dict[str, TaskState], dict[str, dict]]:
    with open_store(home, create=False) as store:
        (run,) = store.list_runs()
        states = {name: task.state for name, task in store.get_tasks(run.run_id).items()}
        return run, states, store.get_values(run.run_id)


# -- a killed orchestrator -------------------------------------------------------------
def test_repair_completes_a_run_whose_orchestrator_was_killed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    marker = f"flowkit-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "FLOWKIT_TEST_DIR": str(tmp_path),
        "FLOWKIT_TEST_MARKER": marker,
        "CI": "1",
    }
    flowkit = [sys.executable, "-m", "flowkit", "--home", str(home)]
    killable = str(FLOWS / "history_killable.py")
    orchestrator = subprocess.Popen(
        [*flowkit, "run", killable],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists() or not processes_with(marker):
            assert orchestrator.poll() is None, "the run ended before its task was killed"
            assert time.monotonic() < deadline, "the task never started its sleeper"
            time.sleep(0.05)

        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait(timeout=10)
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
            orchestrator.wait()

    assert wait_until_gone(marker, seconds=10) == []
    runs = subprocess.run(
        [*flowkit, "runs"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert runs.returncode == 0, runs.stderr
    row = runs.stdout.splitlines()[1].split()
    assert row[1:3] == ["killable", "interrupted"]
    assert counts(tmp_path) == {"first": 1, "second": 1}

    repaired = subprocess.run(
        [*flowkit, "repair", row[0], killable],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"repair 1 of run {row[0]}" in repaired.stdout
    assert counts(tmp_path) == {"first": 1, "second": 2, "third": 1}
    run, states, values = the_run(home)
    assert run.state is RunState.SUCCEEDED
    assert run.repair_count == 1
    assert set(states.values()) == {TaskState.SUCCEEDED}
    assert values["third"] == {"joined": "from-first+from-second"}
    assert processes_with(marker) == []


# -- an ordinary failure ---------------------------------------------------------------
def test_repair_after_a_fix_reruns_only_failed_and_upstream_failed_tasks(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (test_dir / "broken").touch()
    assert main(["run", REPAIRABLE]) == 1
    run, states, _ = the_run(flowkit_home)
    assert states["transform"] is TaskState.FAILED
    assert states["report"] is TaskState.UPSTREAM_FAILED
    assert counts(test_dir) == {"ingest": 1, "transform": 1, "alert": 1}
    (test_dir / "broken").unlink()  # the fix
    capsys.readouterr()

    assert main(["repair", run.run_id[:10], REPAIRABLE]) == 0

    out = capsys.readouterr().out
    assert counts(test_dir) == {"ingest": 1, "transform": 2, "report": 1, "alert": 1}
    repaired, states, values = the_run(flowkit_home)
    assert repaired.state is RunState.SUCCEEDED
    assert repaired.repair_count == 1
    assert values["report"] == {"total": 84}  # read ingest's kept value through transform
    assert f"run {run.run_id} succeeded in" in out  # the summary table stays
    assert "report     succeeded" in out


def test_a_repair_that_fails_again_exits_1(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (test_dir / "broken").touch()
    assert main(["run", REPAIRABLE]) == 1
    run, _, _ = the_run(flowkit_home)

    assert main(["repair", run.run_id, REPAIRABLE]) == 1

    assert counts(test_dir)["transform"] == 2
    assert the_run(flowkit_home)[0].repair_count == 1
    assert "RuntimeError: source is broken" in capsys.readouterr().err


def test_repair_with_task_reruns_just_that_task(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", REPAIRABLE]) == 0
    run, _, _ = the_run(flowkit_home)

    code = main(["repair", run.run_id, REPAIRABLE, "--task", "transform"])

    assert counts(test_dir) == {"ingest": 1, "transform": 2, "report": 1}
    _, states, values = the_run(flowkit_home)
    assert states["report"] is TaskState.SUCCEEDED  # kept as it was
    assert values["report"] == {"total": 84}
    assert code == 0


def test_repair_with_rerun_dependents_reruns_everything_downstream(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", REPAIRABLE]) == 0
    run, _, _ = the_run(flowkit_home)

    assert (
        main(["repair", run.run_id, REPAIRABLE, "--task", "transform", "--rerun-dependents"]) == 0
    )

    # alert runs only when transform fails: judged again, excluded again, never ran
    assert counts(test_dir) == {"ingest": 1, "transform": 2, "report": 2}
    _, states, _ = the_run(flowkit_home)
    assert states["alert"] is TaskState.EXCLUDED


def test_repair_params_override_the_stored_ones(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (test_dir / "broken").touch()
    assert main(["run", REPAIRABLE]) == 1
    run, _, _ = the_run(flowkit_home)
    (test_dir / "broken").unlink()

    assert main(["repair", run.run_id, REPAIRABLE, "-p", "day=tuesday"]) == 0

    assert the_run(flowkit_home)[0].params == {"day": "tuesday"}


# -- nothing to do, and refusals -------------------------------------------------------
def test_repair_of_a_run_that_succeeded_does_nothing_and_exits_0(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", REPAIRABLE]) == 0
    run, _, _ = the_run(flowkit_home)
    capsys.readouterr()

    assert main(["repair", run.run_id, REPAIRABLE]) == 0

    assert capsys.readouterr().out.startswith(f"nothing to repair: run {run.run_id} succeeded")
    assert counts(test_dir) == {"ingest": 1, "transform": 1, "report": 1}
    assert the_run(flowkit_home)[0].repair_count == 0


def test_repair_refuses_a_run_whose_orchestrator_is_alive(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with SqliteStore(flowkit_home / "flowkit.db") as store:
            store.create_run(
                RunRecord(
                    run_id="live0123456789",
                    flow_name="repairable",
                    started_at=time.time(),
                    pid=alive.pid,
                    hostname=this_host(),
                    heartbeat_at=time.time(),
                ),
                task_keys=["ingest", "transform", "report", "alert"],
            )

        assert main(["repair", "live", REPAIRABLE]) == 2
    finally:
        alive.kill()
        alive.wait()

    err = capsys.readouterr().err
    assert "run live0123456789 is still running" in err
    assert f"pid {alive.pid}" in err
    assert "Traceback" not in err
    assert counts(test_dir) == {}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "nope"], "repair names unknown task(s) 'nope'"),
        (["--rerun-dependents"], "--rerun-dependents needs --task NAME"),
        (["-p", "undeclared=1"], "undeclared"),
    ],
)
def test_bad_repair_options_are_usage_errors(
    test_dir: Path,
    flowkit_home: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    (test_dir / "broken").touch()
    assert main(["run", REPAIRABLE]) == 1
    run, _, _ = the_run(flowkit_home)
    capsys.readouterr()

    assert main(["repair", run.run_id, REPAIRABLE, *extra]) == 2

    assert message in capsys.readouterr().err
    assert counts(test_dir)["transform"] == 1
    assert the_run(flowkit_home)[0].repair_count == 0


def test_repair_with_another_flow_is_a_usage_error(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (test_dir / "broken").touch()
    assert main(["run", REPAIRABLE]) == 1
    run, _, _ = the_run(flowkit_home)
    capsys.readouterr()

    assert main(["repair", run.run_id, str(FLOWS / "cli_simple.py")]) == 2

    assert f"run {run.run_id} is a run of flow 'repairable', not of 'simple'" in (
        capsys.readouterr().err
    )


# -- the target: recorded with the run, or given -----------------------------------------
def test_repair_without_a_target_loads_the_one_the_run_was_started_from(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (test_dir / "broken").touch()
    assert main(["run", REPAIRABLE]) == 1
    run, _, _ = the_run(flowkit_home)
    assert run.target == f"{Path(REPAIRABLE).resolve()}:flow"
    (test_dir / "broken").unlink()

    assert main(["repair", run.run_id[:8]]) == 0

    assert counts(test_dir) == {"ingest": 1, "transform": 2, "report": 1, "alert": 1}
    repaired, _, values = the_run(flowkit_home)
    assert (repaired.state, repaired.repair_count) == (RunState.SUCCEEDED, 1)
    assert values["report"] == {"total": 84}


def test_a_given_target_replaces_the_recorded_one(
    test_dir: Path, flowkit_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = tmp_path / "old_place.py"
    moved.write_text(Path(REPAIRABLE).read_text())
    (test_dir / "broken").touch()
    assert main(["run", f"{moved}:flow"]) == 1
    run, _, _ = the_run(flowkit_home)
    assert run.target == f"{moved.resolve()}:flow"
    moved.unlink()  # the flow file moved away
    (test_dir / "broken").unlink()

    assert main(["repair", run.run_id, REPAIRABLE]) == 0

    repaired, _, _ = the_run(flowkit_home)
    assert repaired.state is RunState.SUCCEEDED
    assert repaired.target == f"{Path(REPAIRABLE).resolve()}:flow"  # the next repair's default


def test_a_recorded_target_that_no_longer_loads_says_to_pass_one(
    test_dir: Path, flowkit_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = tmp_path / "old_place.py"
    moved.write_text(Path(REPAIRABLE).read_text())
    (test_dir / "broken").touch()
    assert main(["run", str(moved)]) == 1
    run, _, _ = the_run(flowkit_home)
    moved.unlink()
    capsys.readouterr()

    assert main(["repair", run.run_id]) == 2

    err = capsys.readouterr().err
    assert f"was started from {moved.resolve()}:flow, which does not load now" in err
    assert "does not exist" in err
    assert f"flowkit repair {run.run_id} PATH.py[:FLOW]" in err
    assert "Traceback" not in err
    assert the_run(flowkit_home)[0].repair_count == 0


def test_a_run_that_recorded_no_target_asks_for_one(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SqliteStore(flowkit_home / "flowkit.db") as store:
        store.create_run(
            RunRecord(run_id="untargeted0", flow_name="repairable", pid=None, hostname=None),
            task_keys=["ingest"],
        )
        store.update_run_state("untargeted0", RunState.FAILED, ended_at=time.time())

    assert main(["repair", "untargeted0"]) == 2

    err = capsys.readouterr().err
    assert "run untargeted0 of flow 'repairable' records no target" in err
    assert "flowkit repair untargeted0 PATH.py[:FLOW]" in err
    assert counts(test_dir) == {}


def test_repair_of_a_child_run_points_to_the_run_that_started_it(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SqliteStore(flowkit_home / "flowkit.db") as store:
        for run_id, parent in (("top0", None), ("iteration0", "top0"), ("inner0", "iteration0")):
            store.create_run(
                RunRecord(
                    run_id=run_id,
                    flow_name="repairable",
                    pid=None,
                    hostname=None,
                    parent_run_id=parent,
                    target=f"{REPAIRABLE}:flow",
                ),
                task_keys=["ingest"],
            )
            store.update_run_state(run_id, RunState.FAILED, ended_at=time.time())

    assert main(["repair", "inner0"]) == 2
    assert main(["repair", "iteration0", REPAIRABLE]) == 2

    err = capsys.readouterr().err
    assert "run inner0 (flow 'repairable') is a child run of run top0" in err
    assert "run iteration0 (flow 'repairable') is a child run of run top0" in err
    assert err.count("Repair that run instead: flowkit repair top0") == 2
    assert counts(test_dir) == {}


def test_repair_of_an_unknown_run_is_a_usage_error(
    test_dir: Path, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", REPAIRABLE]) == 0
    capsys.readouterr()

    assert main(["repair", "nothere", REPAIRABLE]) == 2

    assert "no run with id or id prefix 'nothere'" in capsys.readouterr().err
