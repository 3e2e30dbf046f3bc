"""Admission by memory and CPUs: a task starts only when what it declared is free here."""

from __future__ import annotations

import time

import pytest

from flowkit import FakeClock, Flow, RunError, TaskState
from flowkit._engine.gate import Gate
from flowkit._engine.scheduler import Scheduler
from flowkit._events import RunListener, TaskChanged
from flowkit.executors import AttemptOutcome
from flowkit.executors import _machine as machine

GiB = 1024**3
#: A 24 GiB machine with 23 GiB free: what the tests pretend this machine is.
MACHINE = machine.Memory(total=24 * GiB, available=23 * GiB)


class Reasons(RunListener):
    """Every reason a queued task was said to wait for."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def task_changed(self, event: TaskChanged) -> None:
        if event.task.state is TaskState.QUEUED and event.task.waiting_for:
            self.seen.append((event.task.name, event.task.waiting_for))


def _timed(flow: Flow, name: str, seconds: float, **options: object) -> None:
    def body() -> tuple[float, float]:
        started = time.time()
        time.sleep(seconds)
        return started, time.time()

    flow.task(name=name, **options)(body)


def test_a_20_gib_task_beside_another_waits_on_a_24_gib_machine(monkeypatch) -> None:
    monkeypatch.setattr(machine, "memory", lambda: MACHINE)
    flow = Flow("big_loads", max_parallel=4)
    _timed(flow, "first", 0.6, memory="20GiB")
    _timed(flow, "second", 0.6, memory="20GiB")
    _timed(flow, "small", 0.6)  # declares nothing: it is not held back
    reasons = Reasons()

    result = flow.run(listeners=[reasons], store=False)

    assert result.tasks["second"].state is TaskState.SUCCEEDED
    first, second, small = (result.results[name] for name in ("first", "second", "small"))
    assert second[0] >= first[1]  # the second started once the first had ended
    assert small[0] < first[1]  # the undeclared one ran beside the first
    assert reasons.seen == [("second", "waiting for 20 GiB of memory to be free")]


def test_a_task_waiting_for_memory_with_nothing_running_starts_once_it_is_free(
    monkeypatch,
) -> None:
    frees_at = time.monotonic() + 0.6
    low = machine.Memory(total=24 * GiB, available=1 * GiB)
    monkeypatch.setattr(machine, "memory", lambda: MACHINE if time.monotonic() > frees_at else low)
    flow = Flow("waits_for_memory")
    _timed(flow, "big", 0.0, memory="8GiB")
    reasons = Reasons()

    result = flow.run(listeners=[reasons], store=False)

    assert result.tasks["big"].state is TaskState.SUCCEEDED
    assert result.results["big"][0] >= frees_at - 0.05
    assert reasons.seen == [("big", "waiting for 8 GiB of memory to be free")]


def test_tasks_declaring_cpus_share_the_machine_s_cpus() -> None:
    flow = Flow("cpu_bound", max_parallel=4)
    for name in ("a", "b", "c"):
        flow.task(name=name, cpus=1)(lambda: None)
    gate = Gate(flow.plan(), cpus=2)

    assert gate.blocker("c", ["a"]) is None
    assert gate.blocker("c", ["a", "b"]) == "waiting for 1 CPUs (0 of 2 free)"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"memory": "100GiB"}, "memory='100 GiB' is more than this machine has (24 GiB)"),
        ({"cpus": 64}, "cpus=64 is more than this machine has"),
    ],
)
def test_a_task_too_big_for_the_machine_is_refused_before_anything_runs(
    monkeypatch, tmp_path, options, words
) -> None:
    monkeypatch.setattr(machine, "memory", lambda: MACHINE)
    ran = tmp_path / "ran"
    flow = Flow("too_big")

    @flow.task
    def before() -> None:
        ran.touch()

    flow.task(name="huge", depends_on=[before], **options)(lambda: None)

    with pytest.raises(RunError) as caught:
        flow.run(store=False)

    message = str(caught.value)
    assert "flow 'too_big' cannot run here: task 'huge'" in message
    assert words in message
    assert "Lower the task's declaration" in message
    assert not ran.exists()


def test_memory_declared_by_tasks_in_flight_is_held_for_them() -> None:
    flow = Flow("held")
    for name in ("a", "b"):
        flow.task(name=name, memory="10GiB")(lambda: None)
    gate = Gate(flow.plan(), memory=lambda: MACHINE)

    # 23 GiB free, 10 held by a: b fits; a second 10 GiB beside both would not.
    assert gate.blocker("b", []) is None
    assert gate.blocker("b", ["a"]) is None
    assert gate.blocker("b", ["a", "a2"]) is None  # a2 declares nothing
    gate.memory_of["a2"] = 10 * GiB
    assert gate.blocker("b", ["a", "a2"]) == "waiting for 10 GiB of memory to be free"


def test_on_an_executor_elsewhere_only_pools_hold_tasks_back() -> None:
    flow = Flow("remote", pools={"p": 1})
    flow.task(name="a", memory="500GiB", cpus=128, pool="p")(lambda: None)
    flow.task(name="b", pool="p")(lambda: None)
    gate = Gate(flow.plan(), machine_resources=False)

    gate.check()  # nothing to refuse: the cluster's workers admit memory and CPUs
    assert gate.blocker("a", []) is None
    assert gate.blocker("b", ["a"]) == "pool 'p' is full (1 of 1 running)"


def test_the_scheduler_says_why_a_ready_task_waits_and_forgets_it_once_started() -> None:
    flow = Flow("pooled", pools={"p": 1})
    flow.task(name="a", pool="p")(lambda: None)
    flow.task(name="b", pool="p")(lambda: None)
    changes: list[tuple[str, str, str | None]] = []
    scheduler = Scheduler(
        flow.plan(),
        FakeClock(),
        on_change=lambda task: changes.append((task.name, task.state.value, task.waiting_for)),
    )
    scheduler.start()
    scheduler.take(timeout_enforced=False)
    scheduler.note_waiting()
    scheduler.note_waiting()  # the same reason again is not a change

    assert changes.count(("b", "queued", "pool 'p' is full (1 of 1 running)")) == 1
    scheduler.complete(
        AttemptOutcome(task_key="a", attempt=1, state=TaskState.SUCCEEDED, started_at=0, ended_at=0)
    )
    scheduler.take(timeout_enforced=False)
    assert changes[-1] == ("b", "running", None)


def test_max_parallel_defaults_to_the_cpus_this_machine_has(monkeypatch) -> None:
    monkeypatch.setattr(machine, "cpus", lambda: 3)
    flow = Flow("default_parallel")
    flow.task(name="a")(lambda: None)
    started: list[int] = []

    class Parallelism(RunListener):
        def run_started(self, event) -> None:
            started.append(event.max_parallel)

    flow.run(listeners=[Parallelism()], store=False)

    assert started == [3]


def test_flowkit_show_says_why_a_task_is_queued(tmp_path, monkeypatch) -> None:
    import subprocess
    import sys

    from flowkit._context import current_context

    monkeypatch.setenv("FLOWKIT_HOME", str(tmp_path / "home"))
    flow = Flow("shown", max_parallel=2, pools={"warehouse": 1})

    @flow.task(pool="warehouse")
    def first() -> str:
        # While this task holds the pool, `flowkit show` sees the other one wait.
        run_id = current_context().run_id
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = subprocess.run(
                [sys.executable, "-m", "flowkit", "show", run_id],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "pool 'warehouse' is full" in shown:
                return shown
            time.sleep(0.1)
        return shown

    flow.task(name="second", pool="warehouse")(lambda: None)

    result = flow.run()

    line = next(line for line in result.results["first"].splitlines() if "second" in line)
    assert "queued" in line
    assert "(pool 'warehouse' is full (1 of 1 running))" in line
    # Once it ran, nothing says it waits any more.
    assert result.tasks["second"].waiting_for is None


def test_the_inline_executor_says_it_does_not_enforce_memory_limits() -> None:
    flow = Flow("inline_memory")
    flow.task(name="big", memory="1GiB")(lambda: None)

    with pytest.warns(RuntimeWarning, match=r"memory is not enforced for: big"):
        result = flow.run(executor="inline", store=False)

    assert result.tasks["big"].state is TaskState.SUCCEEDED


def test_a_flow_without_memory_or_shared_pools_never_looks_at_its_ready_tasks_to_wait() -> None:
    # A 10,000-task fan-out asked every ready task at every step: quadratic.
    flow = Flow("wide", pools={"p": 1})
    for index in range(50):
        flow.task(name=f"t{index}", pool="p")(lambda: None)
    scheduler = Scheduler(flow.plan(), FakeClock(), gate=Gate(flow.plan()))
    scheduler.start()

    def polls(name: str) -> bool:
        raise AssertionError(f"asked whether {name} waits for memory")

    scheduler.gate.polls = polls  # type: ignore[method-assign]
    scheduler.take(timeout_enforced=False)
    scheduler.note_waiting()

    assert scheduler.next_deadline() is None


def test_a_task_ready_later_in_a_group_that_still_waits_is_told_why() -> None:
    """Tasks are asked about by group: one that joins a waiting group still gets the reason."""
    flow = Flow("pooled", max_parallel=4, pools={"p": 1})
    flow.task(name="a", pool="p")(lambda: None)
    flow.task(name="b", pool="p")(lambda: None)
    d = flow.task(name="d")(lambda: None)
    flow.task(name="c", pool="p", depends_on=[d])(lambda: None)
    scheduler = Scheduler(flow.plan(), FakeClock())
    scheduler.start()
    assert scheduler.take(timeout_enforced=False)[0] == "a"
    assert scheduler.take(timeout_enforced=False)[0] == "d"
    scheduler.note_waiting()
    full = "pool 'p' is full (1 of 1 running)"
    assert (scheduler.tasks["b"].waiting_for, scheduler.tasks["c"].waiting_for) == (full, None)
    scheduler.complete(
        AttemptOutcome(task_key="d", attempt=1, state=TaskState.SUCCEEDED, started_at=0, ended_at=0)
    )
    scheduler.note_waiting()
    assert scheduler.tasks["c"].state is TaskState.QUEUED
    assert scheduler.tasks["c"].waiting_for == full
