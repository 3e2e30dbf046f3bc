"""Notifications: every event to a real webhook server, callables, failed deliveries, switches."""

from __future__ import annotations

import os
import threading
import time

import pytest

from flowkit import FakeClock, Flow, Health, Notify, RunState
from flowkit._engine.admission import resource_of
from flowkit._errors import RunInterrupted
from flowkit._store import open_store

PAYLOAD_KEYS = {
    "event",
    "flow",
    "run_id",
    "task",
    "state",
    "trigger",
    "started_at",
    "duration_seconds",
    "failed_tasks",
    "params",
    "message",
    "show",
}


def _deliveries(run_id: str):
    with open_store() as store:
        return store.get_deliveries(run_id)


def test_a_webhook_receives_every_event_of_a_failing_run_with_the_payload_keys(hook):
    everything = Notify(on_start=[hook.url], on_success=[hook.url], on_failure=[hook.url])
    flow = Flow("alerting", notify=everything, params={"date": "2026-11-23"})

    @flow.task(notify=everything)
    def ingest():
        return 1

    @flow.task(depends_on=[ingest], notify=everything)
    def load():
        raise RuntimeError("warehouse down")

    result = flow.run(executor="local")

    assert result.state is RunState.FAILED  # sent by the orchestrator: the run's own state
    hook.wait_for(6)
    assert hook.events() == [
        ("on_start", None),
        ("on_start", "ingest"),
        ("on_success", "ingest"),
        ("on_start", "load"),
        ("on_failure", "load"),
        ("on_failure", None),
    ]
    for body in hook.received:
        assert set(body) == PAYLOAD_KEYS
        assert body["flow"] == "alerting"
        assert body["run_id"] == result.run_id
        assert body["trigger"] == "manual"
        assert body["params"] == {"date": "2026-11-23"}
        assert body["started_at"].endswith("Z")
        assert result.run_id in body["show"]
    run_failed = hook.received[-1]
    assert run_failed["state"] == "failed"
    assert run_failed["failed_tasks"] == [
        {"task": "load", "state": "failed", "error": "RuntimeError: warehouse down"}
    ]
    assert run_failed["duration_seconds"] > 0
    assert hook.received[0]["duration_seconds"] is None  # at start
    # each try recorded, the destination masked: no token of the URL is kept
    deliveries = _deliveries(result.run_id)
    assert len(deliveries) == 6
    assert all(delivery.ok for delivery in deliveries)
    assert {delivery.destination for delivery in deliveries} == {
        f"http://127.0.0.1:{hook.server.server_address[1]}/***"
    }


def test_a_succeeding_run_sends_on_success_to_a_callable_in_the_orchestrator():
    received: list[dict] = []
    flow = Flow("green", notify=Notify(on_success=[received.append], on_failure=[received.append]))

    @flow.task
    def work():
        return 1

    result = flow.run(executor="local")

    assert [body["event"] for body in received] == ["on_success"]
    assert received[0]["state"] == "succeeded"
    assert received[0]["run_id"] == result.run_id


def test_a_task_retried_twice_then_failed_sends_one_task_on_failure():
    received: list[dict] = []
    flow = Flow("flaky")

    @flow.task(retries=2, notify=Notify(on_failure=[received.append]))
    def flaky():
        raise RuntimeError("again")

    result = flow.run(executor="local")

    assert result.tasks["flaky"].attempts == 3
    assert [(body["event"], body["task"], body["state"]) for body in received] == [
        ("on_failure", "flaky", "failed")
    ]


def test_failed_deliveries_change_nothing_and_are_recorded_after_three_tries(hook, refused_url):
    hook.status = 500
    flow = Flow("unheard", notify=Notify(on_failure=[refused_url, hook.url]))

    @flow.task
    def broken():
        raise RuntimeError("boom")

    result = flow.run(executor="local")

    assert result.state is RunState.FAILED
    deliveries = _deliveries(result.run_id)
    by_destination: dict[str, list] = {}
    for delivery in deliveries:
        by_destination.setdefault(delivery.destination, []).append(delivery)
    assert len(by_destination) == 2
    for tries in by_destination.values():
        assert [delivery.attempt for delivery in tries] == [1, 2, 3]
        assert not any(delivery.ok for delivery in tries)
    errors = {tries[0].error for tries in by_destination.values()}
    assert any("HTTP 500" in error for error in errors)
    assert any("Connection refused" in error or "cannot connect" in error for error in errors)


def test_a_callable_that_raises_is_a_failed_delivery_not_a_failed_run():
    def broken_pager(payload: dict) -> None:
        raise ConnectionError("pager offline")

    flow = Flow("paged", notify=Notify(on_success=[broken_pager]))

    @flow.task
    def work():
        return 1

    result = flow.run(executor="inline")

    assert result.state is RunState.SUCCEEDED
    deliveries = _deliveries(result.run_id)
    assert [d.ok for d in deliveries] == [False, False, False]
    assert deliveries[0].error == "ConnectionError: pager offline"
    assert deliveries[0].destination.startswith("callable ")


def test_the_duration_warning_arrives_while_the_run_is_still_running(tmp_path):
    received: list[tuple[dict, bool]] = []
    done = tmp_path / "done"

    def page(payload: dict) -> None:
        received.append((payload, done.exists()))

    flow = Flow(
        "long",
        notify=Notify(on_duration_warning=[page]),
        health=Health(run_duration_over=0.5),
    )

    @flow.task
    def slow():
        time.sleep(2)
        done.write_text("finished")

    result = flow.run(executor="local")

    assert result.state is RunState.SUCCEEDED
    assert len(received) == 1  # once
    payload, finished_then = received[0]
    assert not finished_then
    assert payload["event"] == "on_duration_warning"
    assert payload["state"] == "running"
    assert 0.5 <= payload["duration_seconds"] < 2


def test_the_duration_warning_is_at_its_deadline_on_a_fake_clock():
    received: list[dict] = []
    flow = Flow(
        "waiting",
        notify=Notify(on_duration_warning=[received.append]),
        health=Health(run_duration_over=30),
    )

    @flow.task(retries=1, retry_delay=100)
    def flaky():
        if not received:
            raise RuntimeError("first try")

    clock = FakeClock()
    flow.run(executor="inline", clock=clock)
    assert len(received) == 1
    assert received[0]["duration_seconds"] == pytest.approx(30)  # woke at its deadline


@pytest.mark.parametrize("silenced", [False, True])
def test_no_alert_for_skipped_runs(silenced):
    received: list[dict] = []
    notify = Notify(on_failure=[received.append], no_alert_for_skipped_runs=silenced)
    flow = Flow("skippy", notify=notify, queue=False)

    @flow.task
    def work():
        return 1

    with open_store() as store:  # another live run holds the flow's one slot
        store.acquire_slot(resource_of("skippy"), "other", limit=1, queue=True, pid=os.getpid())
        result = flow.run(executor="inline")

    assert result.state is RunState.SKIPPED
    if silenced:
        assert received == []
    else:
        assert [(body["event"], body["state"]) for body in received] == [("on_failure", "skipped")]


@pytest.mark.parametrize("silenced", [False, True])
def test_no_alert_for_canceled_runs(silenced):
    received: list[dict] = []
    notify = Notify(on_failure=[received.append], no_alert_for_canceled_runs=silenced)
    flow = Flow("cancelly", notify=notify)

    @flow.task
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as raised:
        flow.run(executor="inline")

    assert raised.value.result.state is RunState.CANCELLED
    if silenced:
        assert received == []
    else:
        assert [(body["event"], body["state"]) for body in received] == [
            ("on_failure", "cancelled")
        ]


def test_timed_out_runs_are_failures_to_notify():
    received: list[dict] = []
    flow = Flow("late", notify=Notify(on_failure=[received.append]), timeout=10)

    @flow.task(retries=1, retry_delay=100)
    def flaky():
        raise RuntimeError("no")

    flow.run(executor="inline", clock=FakeClock())
    assert [(body["event"], body["state"]) for body in received] == [("on_failure", "timed_out")]


def test_delivery_runs_beside_the_scheduler_not_in_its_way(hook):
    """A destination that takes a second per try does not hold the next task back."""
    slow_started = threading.Event()

    def slow_pager(payload: dict) -> None:
        slow_started.set()
        time.sleep(1.0)

    flow = Flow("busy")

    @flow.task(notify=Notify(on_success=[slow_pager]))
    def first():
        return 1

    @flow.task(depends_on=[first])
    def second():
        return time.time()

    started = time.time()
    result = flow.run(executor="inline")
    assert slow_started.is_set()
    assert result.results["second"] - started < 0.9  # second ran while the pager was slow
