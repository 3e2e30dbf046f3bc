"""Every run store behaves the same: SqliteStore and MemoryStore through one set of tests."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from flowkit import Flow, task_values
from flowkit._errors import StoreError
from flowkit._state import ErrorInfo, RunState, TaskState
from flowkit._store import AttemptRecord, RunRecord, RunStore, TaskRecord
from flowkit._store.liveness import STALE_AFTER, this_host


def a_run(run_id: str = "run-1", **changes: object) -> RunRecord:
    """A run recorded by this very process (so its orchestrator is alive)."""
    fields: dict[str, object] = {
        "run_id": run_id,
        "flow_name": "lakehouse",
        "params": {"date": "2026-11-23", "limit": 3},
        "started_at": 1000.0,
        "pid": os.getpid(),
        "hostname": this_host(),
    }
    fields.update(changes)
    return RunRecord(**fields)  # type: ignore[arg-type]


def test_every_store_offers_every_operation_of_the_protocol(store: RunStore) -> None:
    operations = [name for name in vars(RunStore) if not name.startswith("_")]
    assert "mark_interrupted_runs" in operations
    for name in operations:
        expected = inspect.signature(getattr(RunStore, name))
        actual = inspect.signature(getattr(type(store), name))
        assert list(actual.parameters) == list(expected.parameters), name


# -- runs ------------------------------------------------------------------------------
def test_a_created_run_reads_back_with_its_tasks_pending(store: RunStore) -> None:
    store.create_run(a_run(parent_run_id="run-0"), task_keys=["ingest", "clean", "alert"])
    run = store.get_run("run-1")
    assert run is not None
    assert (run.flow_name, run.state, run.repair_count) == ("lakehouse", RunState.RUNNING, 0)
    assert run.params == {"date": "2026-11-23", "limit": 3}
    assert (run.pid, run.hostname, run.parent_run_id) == (os.getpid(), this_host(), "run-0")
    assert run.heartbeat_at is not None  # stamped at creation when not given
    tasks = store.get_tasks("run-1")
    assert list(tasks) == ["ingest", "clean", "alert"]
    assert {task.state for task in tasks.values()} == {TaskState.PENDING}


def test_a_run_id_is_recorded_once(store: RunStore) -> None:
    store.create_run(a_run())
    with pytest.raises(StoreError, match="run-1 is already recorded"):
        store.create_run(a_run(flow_name="other"))
    assert store.get_run("run-1").flow_name == "lakehouse"  # type: ignore[union-attr]


def test_unknown_runs_read_as_nothing_and_cannot_be_written(store: RunStore) -> None:
    assert store.get_run("nope") is None
    assert store.get_tasks("nope") == {}
    assert store.get_values("nope") == {}
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.update_run_state("nope", RunState.FAILED)
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.record_task(TaskRecord(run_id="nope", task_key="a"))


def test_params_must_be_json(store: RunStore) -> None:
    with pytest.raises(StoreError, match=r"params of run run-1.*not JSON"):
        store.create_run(a_run(params={"when": object()}))
    assert store.get_run("run-1") is None


def test_update_run_state_sets_state_and_end(store: RunStore) -> None:
    store.create_run(a_run())
    store.update_run_state("run-1", RunState.SUCCEEDED_WITH_FAILURES, ended_at=1012.5)
    run = store.get_run("run-1")
    assert run is not None
    assert run.state is RunState.SUCCEEDED_WITH_FAILURES
    assert run.duration == pytest.approx(12.5)


# -- tasks, attempts, values ------------------------------------------------------------
def test_record_task_upserts_and_keeps_values_and_result_ref(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["ingest"])
    store.set_task_values("run-1", "ingest", {"row_count": 14520, "tables": ["a", "b"]})
    store.set_result("run-1", "ingest", b"pickled")
    error = ErrorInfo(type_name="ValueError", message="bad row\nline two", traceback="Tb...")
    store.record_task(
        TaskRecord(
            run_id="run-1",
            task_key="ingest",
            state=TaskState.FAILED,
            attempts=2,
            started_at=1001.0,
            ended_at=1004.0,
            error=error,
        )
    )
    task = store.get_tasks("run-1")["ingest"]
    assert (task.state, task.attempts, task.duration) == (TaskState.FAILED, 2, 3.0)
    assert task.error == error
    assert task.values == {"row_count": 14520, "tables": ["a", "b"]}
    assert task.result_ref is not None
    assert store.get_result("run-1", "ingest") == b"pickled"
    store.record_task(TaskRecord(run_id="run-1", task_key="ingest", state="succeeded"))
    again = store.get_tasks("run-1")["ingest"]
    assert (again.state, again.error, again.values["row_count"]) == ("succeeded", None, 14520)


def test_task_values_read_back_by_task_and_can_be_cleared(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["ingest", "clean", "train"])
    store.set_task_values("run-1", "ingest", {"row_count": 3})
    store.set_task_values("run-1", "train", {"model": {"auc": 0.91}})
    assert store.get_values("run-1") == {
        "ingest": {"row_count": 3},
        "train": {"model": {"auc": 0.91}},
    }
    store.set_task_values("run-1", "train", {})
    assert store.get_values("run-1") == {"ingest": {"row_count": 3}}


def test_task_values_must_be_json(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["ingest"])
    with pytest.raises(StoreError, match="task values of 'ingest' in run run-1"):
        store.set_task_values("run-1", "ingest", {"when": {1, 2}})
    assert store.get_values("run-1") == {}


def test_attempts_upsert_and_read_back_by_task_then_number(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["ingest", "clean"])
    crash = ErrorInfo(type_name="ProcessCrashed", message="killed by signal 9 (SIGKILL)")
    store.record_attempt(AttemptRecord(run_id="run-1", task_key="clean", attempt=1))
    store.record_attempt(
        AttemptRecord(
            run_id="run-1",
            task_key="clean",
            attempt=1,
            state=TaskState.FAILED,
            started_at=1.0,
            ended_at=2.0,
            signal=9,
            error=crash,
            log_path="/logs/clean.1.log",
        )
    )
    store.record_attempt(
        AttemptRecord(run_id="run-1", task_key="clean", attempt=2, state="succeeded", exit_code=0)
    )
    store.record_attempt(AttemptRecord(run_id="run-1", task_key="ingest", attempt=1, repair=1))
    attempts = store.get_attempts("run-1")
    assert [(a.task_key, a.attempt) for a in attempts] == [
        ("ingest", 1),
        ("clean", 1),
        ("clean", 2),
    ]
    first = attempts[1]
    assert (first.state, first.signal, first.error, first.log_path) == (
        TaskState.FAILED,
        9,
        crash,
        "/logs/clean.1.log",
    )
    assert attempts[2].exit_code == 0
    assert attempts[0].repair == 1
    assert [a.attempt for a in store.get_attempts("run-1", "clean")] == [1, 2]


def test_a_repair_pass_adds_attempts_and_never_overwrites_earlier_ones(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["clean"])
    store.record_attempt(AttemptRecord(run_id="run-1", task_key="clean", attempt=2, state="failed"))
    store.record_attempt(AttemptRecord(run_id="run-1", task_key="clean", attempt=1, repair=1))
    store.record_attempt(AttemptRecord(run_id="run-1", task_key="clean", attempt=1, state="failed"))
    attempts = store.get_attempts("run-1", "clean")
    assert [(a.repair, a.attempt, a.state) for a in attempts] == [
        (0, 1, TaskState.FAILED),
        (0, 2, TaskState.FAILED),
        (1, 1, TaskState.RUNNING),
    ]


def test_an_attempt_of_an_unlisted_task_adds_the_task(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["ingest"])
    store.record_attempt(AttemptRecord(run_id="run-1", task_key="added_later", attempt=1))
    assert list(store.get_tasks("run-1")) == ["ingest", "added_later"]


# -- finding runs ----------------------------------------------------------------------
def test_run_ids_resolve_from_a_unique_prefix(store: RunStore) -> None:
    for run_id in ("abc123", "abd456", "abd789", "zz"):
        store.create_run(a_run(run_id))
    assert store.resolve_run_id("abc123") == "abc123"
    assert store.resolve_run_id("abc") == "abc123"
    assert store.resolve_run_id("z") == "zz"


def test_an_ambiguous_prefix_lists_the_candidates(store: RunStore) -> None:
    for run_id in ("abc123", "abd456", "abd789"):
        store.create_run(a_run(run_id))
    with pytest.raises(StoreError) as caught:
        store.resolve_run_id("ab")
    message = str(caught.value)
    assert "'ab' is ambiguous: it matches 3 runs" in message
    assert all(run_id in message for run_id in ("abc123", "abd456", "abd789"))
    assert "more characters" in message


def test_an_exact_id_wins_over_longer_ids_it_prefixes(store: RunStore) -> None:
    store.create_run(a_run("abc"))
    store.create_run(a_run("abcdef"))
    assert store.resolve_run_id("abc") == "abc"


@pytest.mark.parametrize("prefix", ["nope", "ABC"])
def test_an_unknown_prefix_says_so(store: RunStore, prefix: str) -> None:
    store.create_run(a_run("abc123"))
    with pytest.raises(StoreError, match=f"no run with id or id prefix '{prefix}'"):
        store.resolve_run_id(prefix)


@pytest.mark.parametrize("prefix", ["", "   "])
def test_an_empty_prefix_is_refused(store: RunStore, prefix: str) -> None:
    store.create_run(a_run("abc123"))
    with pytest.raises(StoreError, match="give a run id"):
        store.resolve_run_id(prefix)


def test_list_runs_is_newest_first_filtered_and_limited(store: RunStore) -> None:
    store.create_run(a_run("old", started_at=100.0))
    store.create_run(a_run("new", started_at=300.0))
    store.create_run(a_run("other", flow_name="reports", started_at=200.0))
    store.create_run(a_run("tie", started_at=300.0))  # same start: the later created first
    assert [run.run_id for run in store.list_runs()] == ["tie", "new", "other", "old"]
    assert [run.run_id for run in store.list_runs(flow="lakehouse")] == ["tie", "new", "old"]
    assert [run.run_id for run in store.list_runs(limit=2)] == ["tie", "new"]
    assert [run.run_id for run in store.list_runs(flow="reports", limit=5)] == ["other"]
    assert store.list_runs(flow="missing") == []


def test_list_runs_pages_and_filters_by_state(store: RunStore) -> None:
    for number in range(7):
        store.create_run(a_run(f"run-{number}", started_at=100.0 + number))
    store.update_run_state("run-2", RunState.FAILED, ended_at=110.0)
    store.update_run_state("run-5", RunState.FAILED, ended_at=110.0)
    pages = [[run.run_id for run in store.list_runs(limit=3, offset=o)] for o in (0, 3, 6, 9)]
    assert pages == [["run-6", "run-5", "run-4"], ["run-3", "run-2", "run-1"], ["run-0"], []]
    failed = store.list_runs(state=RunState.FAILED)
    assert [run.run_id for run in failed] == ["run-5", "run-2"]
    assert [run.run_id for run in store.list_runs(state=RunState.FAILED, offset=1)] == ["run-2"]
    assert store.list_runs(state=RunState.SUCCEEDED) == []


def test_a_run_whose_orchestrator_died_is_not_listed_as_running(
    store: RunStore, dead_pid: int
) -> None:
    store.create_run(a_run("dead", pid=dead_pid, heartbeat_at=time.time()))
    store.create_run(a_run("alive"))
    assert [run.run_id for run in store.list_runs(state=RunState.RUNNING)] == ["alive"]
    assert [run.run_id for run in store.list_runs(state=RunState.INTERRUPTED)] == ["dead"]


@pytest.mark.parametrize("offset", [-1, 1.5, True])
def test_list_runs_refuses_a_bad_offset(store: RunStore, offset: object) -> None:
    with pytest.raises(StoreError, match=r"offset=.* is invalid"):
        store.list_runs(offset=offset)  # type: ignore[arg-type]


def test_a_run_keeps_the_shape_of_its_flow(store: RunStore) -> None:
    store.create_run(a_run())
    assert store.get_shape("run-1") is None  # recorded without one
    shape = {"flow": "lakehouse", "tasks": [{"key": "ingest", "depends_on": []}]}
    store.set_shape("run-1", shape)
    assert store.get_shape("run-1") == shape
    with pytest.raises(StoreError, match="no run 'missing'"):
        store.set_shape("missing", shape)
    with pytest.raises(StoreError, match="not JSON-serialisable"):
        store.set_shape("run-1", {"flow": "lakehouse", "bad": object()})


def test_a_recorded_run_keeps_its_flows_tasks_edges_and_kinds(store: RunStore) -> None:
    from flowkit._store import StoreRecorder

    flow = Flow("shaped")

    @flow.condition
    def check() -> bool:
        return True

    @flow.task(depends_on=[check.if_true], run_if="all_done")
    def load() -> None:
        pass

    flow.shell("announce", "echo done", depends_on=[load])
    result = flow.run(executor="inline", store=False, listeners=[StoreRecorder(store)])
    shape = store.get_shape(result.run_id)
    assert shape is not None
    by_key = {task["key"]: task for task in shape["tasks"]}
    assert [task["key"] for task in shape["tasks"]] == ["check", "load", "announce"]
    assert by_key["load"]["depends_on"] == [{"task": "check", "outcome": True}]
    assert by_key["load"]["run_if"] == "all_done"
    assert (by_key["check"]["kind"], by_key["announce"]["kind"]) == ("condition", "shell")
    assert shape["flow"] == "shaped"


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_list_runs_refuses_a_bad_limit(store: RunStore, limit: object) -> None:
    with pytest.raises(StoreError, match=r"limit=.* is invalid"):
        store.list_runs(limit=limit)  # type: ignore[arg-type]


# -- interrupted runs ------------------------------------------------------------------
def test_a_run_whose_orchestrator_died_reads_as_interrupted(store: RunStore, dead_pid: int) -> None:
    store.create_run(a_run("dead", pid=dead_pid, heartbeat_at=time.time()))
    store.create_run(a_run("alive"))
    run = store.get_run("dead")
    assert run is not None
    assert run.state is RunState.INTERRUPTED
    assert run.ended_at == run.heartbeat_at  # ended at its last sign of life
    states = {run.run_id: run.state for run in store.list_runs()}
    assert states == {"dead": RunState.INTERRUPTED, "alive": RunState.RUNNING}
    assert store.mark_interrupted_runs() == []  # already settled, and stored so


def test_mark_interrupted_runs_settles_every_dead_run_once(store: RunStore, dead_pid: int) -> None:
    store.create_run(a_run("dead-1", pid=dead_pid))
    store.create_run(a_run("dead-2", pid=dead_pid))
    store.create_run(a_run("finished", pid=dead_pid, state=RunState.FAILED, ended_at=1001.0))
    assert sorted(store.mark_interrupted_runs()) == ["dead-1", "dead-2"]
    assert store.mark_interrupted_runs() == []
    assert store.get_run("finished").state is RunState.FAILED  # type: ignore[union-attr]


def test_a_killed_but_unreaped_orchestrator_counts_as_gone(store: RunStore) -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.create_run(a_run(pid=process.pid))
        assert store.get_run("run-1").state is RunState.RUNNING  # type: ignore[union-attr]
        process.kill()
        deadline = time.monotonic() + 10
        while (state := store.get_run("run-1").state) is RunState.RUNNING:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the zombie still counts as alive"
            time.sleep(0.01)
        assert state is RunState.INTERRUPTED
    finally:
        process.kill()
        process.wait()


def test_a_reused_pid_does_not_keep_a_run_running(store: RunStore) -> None:
    # This process is alive, but it started long after the run's last heartbeat:
    # it is not the orchestrator that wrote it, only a process that got its pid.
    store.create_run(a_run(heartbeat_at=1000.0))
    assert store.get_run("run-1").state is RunState.INTERRUPTED  # type: ignore[union-attr]


def test_a_live_local_orchestrator_keeps_its_run_running_despite_an_old_heartbeat(
    make_store: Callable[..., RunStore],
) -> None:
    # A long task in the orchestrator's own process writes no heartbeat; its pid decides.
    store = make_store(stale_after=0.01)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        heartbeat_at = time.time()  # after the process started: it is the one that wrote it
        store.create_run(a_run("local", pid=process.pid, heartbeat_at=heartbeat_at))
        store.create_run(a_run("remote", hostname="elsewhere", heartbeat_at=heartbeat_at))
        time.sleep(0.05)  # both heartbeats are now older than stale_after
        assert store.get_run("local").state is RunState.RUNNING  # type: ignore[union-attr]
        assert store.get_run("remote").state is RunState.INTERRUPTED  # type: ignore[union-attr]
    finally:
        process.kill()
        process.wait()


def test_another_hosts_run_is_judged_by_its_heartbeat(store: RunStore) -> None:
    now = time.time()
    store.create_run(
        a_run("stale", hostname="elsewhere", pid=1, heartbeat_at=now - STALE_AFTER - 5)
    )
    store.create_run(a_run("fresh", hostname="elsewhere", pid=1, heartbeat_at=now))
    assert store.get_run("stale").state is RunState.INTERRUPTED  # type: ignore[union-attr]
    assert store.get_run("fresh").state is RunState.RUNNING  # type: ignore[union-attr]


def test_a_heartbeat_proves_an_interrupted_run_alive(store: RunStore) -> None:
    store.create_run(a_run(hostname="elsewhere", heartbeat_at=time.time() - STALE_AFTER - 5))
    assert store.get_run("run-1").state is RunState.INTERRUPTED  # type: ignore[union-attr]
    store.heartbeat("run-1")
    run = store.get_run("run-1")
    assert run is not None
    assert (run.state, run.ended_at) == (RunState.RUNNING, None)
    assert run.heartbeat_at == pytest.approx(time.time(), abs=5)


# -- repair takeover -------------------------------------------------------------------
def test_a_repair_takes_an_interrupted_run_over(store: RunStore, dead_pid: int) -> None:
    store.create_run(a_run(pid=dead_pid))
    repaired = store.increment_repair_count("run-1", pid=os.getpid(), hostname=this_host())
    assert (repaired.state, repaired.repair_count, repaired.pid) == ("running", 1, os.getpid())
    assert store.get_run("run-1") == repaired
    store.update_run_state("run-1", RunState.FAILED, ended_at=2000.0)
    again = store.increment_repair_count(
        "run-1", pid=os.getpid(), hostname=this_host(), params={"date": "2026-12-24"}
    )
    assert (again.repair_count, again.ended_at) == (2, None)
    assert store.get_run("run-1").params == {"date": "2026-12-24"}  # type: ignore[union-attr]


def test_a_repair_refuses_a_run_whose_orchestrator_is_alive(store: RunStore) -> None:
    store.create_run(a_run())
    with pytest.raises(StoreError, match=rf"still running.*pid {os.getpid()}.*is alive"):
        store.increment_repair_count("run-1", pid=12345, hostname="elsewhere")
    run = store.get_run("run-1")
    assert run is not None
    assert (run.repair_count, run.pid) == (0, os.getpid())


def test_a_repair_of_an_unknown_run_says_so(store: RunStore) -> None:
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.increment_repair_count("nope", pid=os.getpid(), hostname=this_host())


def test_a_repair_may_replace_the_recorded_target(store: RunStore, dead_pid: int) -> None:
    store.create_run(a_run(pid=dead_pid, target="/flows/etl.py:flow"))
    assert store.get_run("run-1").target == "/flows/etl.py:flow"  # type: ignore[union-attr]
    store.increment_repair_count("run-1", pid=dead_pid, hostname=this_host())
    assert store.get_run("run-1").target == "/flows/etl.py:flow"  # type: ignore[union-attr]
    store.increment_repair_count(
        "run-1", pid=dead_pid, hostname=this_host(), target="flows.etl:flow"
    )
    assert store.get_run("run-1").target == "flows.etl:flow"  # type: ignore[union-attr]


# -- return values ---------------------------------------------------------------------
def test_a_return_value_is_kept_by_the_store_and_read_back(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["produce", "nothing"])
    store.set_result("run-1", "produce", b"\x80\x05pickled")
    assert store.get_result("run-1", "produce") == b"\x80\x05pickled"
    assert store.get_result("run-1", "nothing") is None
    assert store.get_result("nope", "produce") is None
    tasks = store.get_tasks("run-1")
    assert tasks["produce"].result_ref is not None
    assert tasks["nothing"].result_ref is None
    store.set_result("run-1", "produce", b"again")
    assert store.get_result("run-1", "produce") == b"again"
    store.set_result("run-1", "produce", None)  # a re-run that returned nothing
    assert store.get_result("run-1", "produce") is None
    assert store.get_tasks("run-1")["produce"].result_ref is None
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.set_result("nope", "produce", b"x")


def test_a_repair_hands_a_kept_return_value_downstream(store: RunStore, tmp_path) -> None:
    """Both twins keep return values: the repaired task receives 42, not None."""
    flow = Flow("returns")
    broken = tmp_path / "broken"
    broken.touch()

    @flow.task
    def produce():
        return 42

    @flow.task(depends_on=[produce])
    def consume(produce):
        if broken.exists():
            raise RuntimeError("broken")
        task_values.set("got", produce)

    first = flow.run(executor="inline", store=store, echo_output=False)
    assert first.tasks["consume"].state is TaskState.FAILED
    broken.unlink()
    repaired = flow.repair(first.run_id, executor="inline", store=store, echo_output=False)
    assert repaired.state is RunState.SUCCEEDED
    assert repaired.tasks["produce"].attempts == 1  # kept, not re-run
    assert repaired.values["consume"] == {"got": 42}
