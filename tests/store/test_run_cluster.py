"""The executor and cluster of a run, and compute seconds from attempts, in every back end."""

from __future__ import annotations

import os

import pytest

from flowkit._state import ClusterReport, RunState
from flowkit._store import AttemptRecord, RunRecord, RunStore
from flowkit._store.base import compute_by_task
from flowkit._store.liveness import this_host

EPHEMERAL = ClusterReport(
    address="ephemeral", ephemeral=True, workers=2, startup_seconds=1.25, lifetime_seconds=8.5
)


def a_run(run_id: str = "run-1", **changes: object) -> RunRecord:
    fields: dict[str, object] = {
        "run_id": run_id,
        "flow_name": "lakehouse",
        "started_at": 1000.0,
        "pid": os.getpid(),
        "hostname": this_host(),
    }
    fields.update(changes)
    return RunRecord(**fields)  # type: ignore[arg-type]


def test_a_run_reads_back_with_its_executor_and_no_cluster(store: RunStore) -> None:
    store.create_run(a_run(executor="dask"))
    run = store.get_run("run-1")
    assert run is not None
    assert (run.executor, run.cluster) == ("dask", None)


def test_the_cluster_is_recorded_with_the_runs_end(store: RunStore) -> None:
    store.create_run(a_run(executor="dask"))
    store.update_run_state("run-1", RunState.SUCCEEDED, ended_at=1010.0, cluster=EPHEMERAL)
    run = store.get_run("run-1")
    assert run is not None
    assert run.cluster == EPHEMERAL
    assert [listed.cluster for listed in store.list_runs()] == [EPHEMERAL]
    # A state change that brings no cluster keeps the recorded one.
    store.update_run_state("run-1", RunState.FAILED, ended_at=1011.0)
    again = store.get_run("run-1")
    assert again is not None
    assert (again.state, again.cluster) == (RunState.FAILED, EPHEMERAL)


def test_a_repair_records_its_executor_and_forgets_the_earlier_cluster(store: RunStore) -> None:
    store.create_run(a_run(executor="dask"))
    store.update_run_state("run-1", RunState.FAILED, ended_at=1010.0, cluster=EPHEMERAL)

    repaired = store.increment_repair_count(
        "run-1", pid=os.getpid(), hostname=this_host(), executor="local"
    )

    assert (repaired.executor, repaired.cluster) == ("local", None)
    stored = store.get_run("run-1")
    assert stored is not None
    assert (stored.repair_count, stored.executor, stored.cluster) == (1, "local", None)


def test_a_repair_that_names_no_executor_keeps_the_recorded_one(store: RunStore) -> None:
    store.create_run(a_run(executor="dask"))
    store.update_run_state("run-1", RunState.FAILED, ended_at=1010.0)
    repaired = store.increment_repair_count("run-1", pid=os.getpid(), hostname=this_host())
    assert repaired.executor == "dask"
    stored = store.get_run("run-1")
    assert stored is not None
    assert stored.executor == "dask"


def test_compute_by_task_sums_the_ended_attempts_of_every_pass(store: RunStore) -> None:
    store.create_run(a_run(), task_keys=["ingest", "clean"])
    for attempt in (
        AttemptRecord(run_id="run-1", task_key="ingest", attempt=1, started_at=0, ended_at=2.5),
        AttemptRecord(run_id="run-1", task_key="clean", attempt=1, started_at=3, ended_at=4),
        AttemptRecord(run_id="run-1", task_key="clean", attempt=2, started_at=9, ended_at=9.5),
        AttemptRecord(
            run_id="run-1", task_key="clean", attempt=1, started_at=20, ended_at=21, repair=1
        ),
        AttemptRecord(run_id="run-1", task_key="clean", attempt=2, started_at=30, repair=1),
    ):
        store.record_attempt(attempt)

    attempts = store.get_attempts("run-1")

    assert [attempt.duration for attempt in attempts] == [2.5, 1.0, 0.5, 1.0, None]
    assert compute_by_task(attempts) == pytest.approx({"ingest": 2.5, "clean": 2.5})
