"""Repair runs through the library: what is re-run, what is kept, what is refused."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowkit import DefinitionError, Flow, RunState, TaskState, task_values
from flowkit._engine.loader import MODULE_PREFIX, load_flow
from flowkit._engine.origin import FILE_MODULE_PREFIX
from flowkit._engine.repair import select_tasks
from flowkit._errors import StoreError
from flowkit._planning.plan import build_plan
from flowkit._store import RunRecord, SqliteStore
from flowkit._store.liveness import this_host


def _counting_flow(tmp_path: Path) -> Flow:
    """ingest -> transform -> (report, alert); transform fails while tmp_path/broken exists."""
    flow = Flow("repairable", params={"day": "monday"})

    def count(name: str) -> None:
        counter = tmp_path / f"{name}.count"
        counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))

    @flow.task
    def ingest():
        count("ingest")
        task_values.set("rows", 42)

    @flow.task(depends_on=[ingest])
    def transform():
        count("transform")
        if (tmp_path / "broken").exists():
            raise RuntimeError("source is broken")
        task_values.set("rows", task_values.get(task_key="ingest", key="rows") * 2)

    @flow.task(depends_on=[transform])
    def report():
        count("report")
        task_values.set("total", task_values.get(task_key="transform", key="rows"))

    @flow.task(depends_on=[transform], run_if="at_least_one_failed")
    def alert():
        count("alert")

    return flow


def _counts(tmp_path: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in tmp_path.glob("*.count")}


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "home" / "flowkit.db")


def test_repair_reruns_only_what_failed_and_keeps_the_values_of_what_succeeded(
    tmp_path, store, executor
):
    (tmp_path / "broken").touch()
    flow = _counting_flow(tmp_path)
    first = flow.run(executor=executor, store=store)
    assert first.state is RunState.FAILED
    assert first.tasks["report"].state is TaskState.UPSTREAM_FAILED
    assert _counts(tmp_path) == {"ingest": 1, "transform": 1, "alert": 1}

    (tmp_path / "broken").unlink()  # fix the cause
    repaired = flow.repair(first.run_id[:8], executor=executor, store=store)

    assert repaired.run_id == first.run_id
    assert repaired.state is RunState.SUCCEEDED
    assert _counts(tmp_path) == {"ingest": 1, "transform": 2, "report": 1, "alert": 1}
    assert repaired.values["report"] == {"total": 84}  # ingest's kept value, read downstream
    assert repaired.tasks["ingest"].attempts == 1
    record = store.get_run(first.run_id)
    assert record.repair_count == 1
    assert record.state is RunState.SUCCEEDED
    assert store.get_values(first.run_id)["transform"] == {"rows": 84}


def test_repair_of_a_succeeded_run_runs_nothing(tmp_path, store):
    flow = _counting_flow(tmp_path)
    first = flow.run(executor="inline", store=store)

    again = flow.repair(first.run_id, executor="inline", store=store)

    assert again.state is RunState.SUCCEEDED
    assert _counts(tmp_path) == {"ingest": 1, "transform": 1, "report": 1}
    assert store.get_run(first.run_id).repair_count == 0
    assert again.values["report"] == {"total": 84}


def test_named_tasks_and_their_dependents(tmp_path, store):
    flow = _counting_flow(tmp_path)
    first = flow.run(executor="inline", store=store)

    repaired = flow.repair(first.run_id, tasks=["transform"], executor="inline", store=store)
    assert _counts(tmp_path) == {"ingest": 1, "transform": 2, "report": 1}
    # The kept report stays as it was, and is not judged again after transform ends.
    assert repaired.tasks["report"].state is TaskState.SUCCEEDED
    assert repaired.tasks["alert"].state is TaskState.EXCLUDED
    assert repaired.state is RunState.SUCCEEDED
    assert store.get_tasks(first.run_id)["report"].state is TaskState.SUCCEEDED

    flow.repair(
        first.run_id, tasks=["transform"], rerun_dependents=True, executor="inline", store=store
    )
    assert _counts(tmp_path) == {"ingest": 1, "transform": 3, "report": 2}
    assert store.get_run(first.run_id).repair_count == 2


def test_select_tasks_follows_the_stored_states():
    plan = build_plan(_counting_flow(Path("/nonexistent")).spec())
    failed = {
        "ingest": TaskState.SUCCEEDED,
        "transform": TaskState.FAILED,
        "report": TaskState.UPSTREAM_FAILED,
        "alert": TaskState.SUCCEEDED,
    }
    assert select_tasks(plan, failed) == {"transform", "report"}

    died = {"ingest": TaskState.SUCCEEDED, "transform": TaskState.RUNNING}
    assert select_tasks(plan, died) == {"transform", "report", "alert"}

    excluded_below = {**failed, "alert": TaskState.EXCLUDED, "transform": TaskState.TIMED_OUT}
    assert select_tasks(plan, excluded_below) == {"transform", "report", "alert"}

    succeeded = dict.fromkeys(plan.order, TaskState.SUCCEEDED)
    assert select_tasks(plan, succeeded) == set()
    assert select_tasks(plan, succeeded, tasks=["ingest"]) == {"ingest"}
    assert select_tasks(plan, succeeded, tasks=["ingest"], rerun_dependents=True) == set(plan.order)
    with pytest.raises(DefinitionError, match=r"unknown task.*'ingst'.*ingest"):
        select_tasks(plan, succeeded, tasks=["ingst"])


def test_repair_refuses_a_run_whose_orchestrator_is_alive(tmp_path, store):
    flow = _counting_flow(tmp_path)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.create_run(
            RunRecord(
                run_id="f00dfeed",
                flow_name=flow.name,
                started_at=time.time(),
                pid=alive.pid,
                hostname=this_host(),
                heartbeat_at=time.time(),
            ),
            task_keys=list(flow.tasks),
        )
        with pytest.raises(StoreError, match=f"still running.*pid {alive.pid}"):
            flow.repair("f00d", executor="inline", store=store)
    finally:
        alive.kill()
        alive.wait()
    assert _counts(tmp_path) == {}
    assert os.getpid() != alive.pid


def test_repair_refuses_a_run_of_another_flow(tmp_path, store):
    other = Flow("other")

    @other.task
    def only():
        pass

    result = other.run(executor="inline", store=store)

    with pytest.raises(DefinitionError, match="run of flow 'other', not of 'repairable'"):
        _counting_flow(tmp_path).repair(result.run_id, store=store)


def test_a_repair_keeps_the_first_logs(tmp_path, store):
    (tmp_path / "broken").touch()
    flow = _counting_flow(tmp_path)

    @flow.task
    def chatty():
        print("said something")
        raise RuntimeError("and failed")

    first = flow.run(executor="local", store=store, echo_output=False)
    repaired = flow.repair(first.run_id, executor="local", store=store, echo_output=False)

    first_log = Path(first.tasks["chatty"].log_path)
    repair_log = Path(repaired.tasks["chatty"].log_path)
    assert first_log != repair_log
    assert repair_log.parent.name == "repair-1"
    assert first_log.read_text() == repair_log.read_text() == "said something\n"


def test_return_values_are_persisted_beside_the_store(tmp_path, store):
    flow = Flow("returns")

    @flow.task
    def produce():
        return {"rows": [1, 2, 3]}

    @flow.task
    def nothing():
        pass

    result = flow.run(executor="local", store=store, echo_output=False)

    tasks = store.get_tasks(result.run_id)
    assert tasks["nothing"].result_ref is None
    path = Path(tasks["produce"].result_ref)
    assert path == store.path.parent / "results" / result.run_id / "produce.pkl"
    import pickle

    assert pickle.loads(path.read_bytes()) == {"rows": [1, 2, 3]}


# -- the target a run records ------------------------------------------------------------
MODULE_FLOW = """
from flowkit import Flow

pipeline = Flow("targeted")


@pipeline.task
def only():
    return 1
"""


def test_a_run_started_from_python_records_its_flows_module(tmp_path, store, monkeypatch):
    (tmp_path / "targeted_flows.py").write_text(MODULE_FLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("targeted_flows")
        result = module.pipeline.run(executor="inline", store=store, echo_output=False)
    finally:
        sys.modules.pop("targeted_flows", None)

    assert store.get_run(result.run_id).target == "targeted_flows:pipeline"


def test_a_run_from_a_loaded_flow_file_records_the_files_absolute_path(store):
    path = Path(__file__).parents[1] / "flows" / "cli_simple.py"
    flow = load_flow(str(path))
    result = flow.run(executor="inline", store=store, echo_output=False)
    assert store.get_run(result.run_id).target == f"{path.resolve()}:flow"
    assert MODULE_PREFIX == FILE_MODULE_PREFIX  # how a file's flow is told from a module's


def test_a_flow_no_module_holds_records_no_target(store):
    flow = Flow("local_only")

    @flow.task
    def only():
        pass

    result = flow.run(executor="inline", store=store, echo_output=False)
    assert store.get_run(result.run_id).target is None
