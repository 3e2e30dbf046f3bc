"""The scheduler: properties over random DAGs, then retries, parallelism, cancel and params."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    DagCase,
    EventRecorder,
    HangingExecutor,
    ShuffledExecutor,
    build_flow,
    dag_cases,
)

from flowkit import DefinitionError, FakeClock, Flow, RunState, TaskState, params

FINAL = {"succeeded", "failed", "timed_out", "cancelled", "upstream_failed", "excluded"}
FAILED_LIKE = {"failed", "timed_out", "upstream_failed"}
OK = {"succeeded", "excluded"}

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)


# -- the reference: DESIGN.md §2 written out plainly, without flowkit._planning.rules --------------
def reference_decision(run_if: str, dependency_states: list[str]) -> str:
    """'run', 'upstream_failed' or 'excluded', straight from the table."""
    if not dependency_states:
        return "run"
    if all(state == "excluded" for state in dependency_states):
        return "excluded"
    succeeded = [state in OK for state in dependency_states]
    failed_like = [state in FAILED_LIKE for state in dependency_states]
    ran = [state != "excluded" for state in dependency_states]
    if run_if == "all_success":
        return "run" if all(succeeded) else "upstream_failed"
    if run_if == "at_least_one_success":
        return "run" if any(succeeded) else "upstream_failed"
    if run_if == "none_failed":
        return "run" if not any(failed_like) and any(ran) else "upstream_failed"
    if run_if == "all_done":
        return "run"
    if run_if == "at_least_one_failed":
        return "run" if any(failed_like) else "excluded"
    if run_if == "all_failed":
        return "run" if all(failed_like) else "excluded"
    raise AssertionError(run_if)


def reference_run(case: DagCase) -> tuple[dict[str, str], dict[str, int], str]:
    """Final states, attempts and run state of a case, evaluated in index (topological) order."""
    states: dict[str, str] = {}
    attempts: dict[str, int] = {}
    for task in case.tasks:
        decision = reference_decision(task.run_if.value, [states[dep] for dep in task.depends_on])
        if decision != "run":
            states[task.name] = decision
            attempts[task.name] = 0
            continue
        allowed = task.retries + 1
        if task.failures is None or task.failures >= allowed:
            states[task.name] = "failed"
            attempts[task.name] = allowed
        else:
            states[task.name] = "succeeded"
            attempts[task.name] = task.failures + 1
    has_dependents = {dep for task in case.tasks for dep in task.depends_on}
    leaves = [task.name for task in case.tasks if task.name not in has_dependents]
    if all(state in OK for state in states.values()):
        run_state = "succeeded"
    elif all(states[leaf] in OK for leaf in leaves):
        run_state = "succeeded_with_failures"
    else:
        run_state = "failed"
    return states, attempts, run_state


# -- properties ------------------------------------------------------------------------------
def _check_run(case: DagCase, executor: object) -> None:
    calls: list[str] = []
    recorder = EventRecorder()
    clock = FakeClock()
    flow = build_flow(case, calls)
    result = flow.run(executor=executor, clock=clock, listeners=[recorder])
    expected_states, expected_attempts, expected_run_state = reference_run(case)

    # Every final state, every attempt count and the run state match the reference.
    assert {name: run.state.value for name, run in result.tasks.items()} == expected_states
    assert {name: run.attempts for name, run in result.tasks.items()} == expected_attempts
    assert result.state.value == expected_run_state

    for task in case.tasks:
        # Attempts never exceed retries + 1, and each attempt is one real call.
        assert result.tasks[task.name].attempts <= task.retries + 1
        assert calls.count(task.name) == result.tasks[task.name].attempts
        # The listener saw the task end in its final state, and only once final.
        seen = recorder.states_of(task.name)
        assert seen[-1] == expected_states[task.name]
        assert [state for state in seen if state in FINAL] == [seen[-1]]
        assert seen.count("running") == result.tasks[task.name].attempts

    # Execution order respects every edge: an upstream's last call precedes a downstream's first.
    for upstream, downstream in case.edges:
        if downstream in calls and upstream in calls:
            last_upstream = max(i for i, name in enumerate(calls) if name == upstream)
            assert last_upstream < calls.index(downstream), (upstream, downstream, calls)

    # No task starts before all its dependencies are final.
    final_so_far: set[str] = set()
    for name, state in recorder.events:
        if state == "running":
            missing = set(case.by_name[name].depends_on) - final_so_far
            assert not missing, f"{name} started before {missing} were final"
        if state in FINAL:
            final_so_far.add(name)


@PROPERTY_SETTINGS
@given(case=dag_cases())
def test_random_dags_match_the_reference_inline(case: DagCase) -> None:
    _check_run(case, "inline")


@PROPERTY_SETTINGS
@given(case=dag_cases(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_random_dags_match_the_reference_in_any_completion_order(case: DagCase, seed: int) -> None:
    executor = ShuffledExecutor(seed)
    _check_run(case, executor)
    assert executor.most_in_flight <= case.max_parallel


@PROPERTY_SETTINGS
@given(case=dag_cases())
def test_the_clock_moves_only_for_retry_delays_in_random_dags(case: DagCase) -> None:
    clock = FakeClock()
    start = clock.monotonic()
    flow = build_flow(case, [])
    result = flow.run(executor="inline", clock=clock)
    # The inline executor runs one attempt at a time, so the fake clock moves only while
    # the scheduler waits for a retry: never more than the sum of every retry's delay.
    budget = sum(
        task.retry_delay * task.retry_backoff ** (retry - 1)
        for task in case.tasks
        for retry in range(1, result.tasks[task.name].attempts)
    )
    assert clock.monotonic() - start <= budget + 1e-9
    assert all(seconds >= 0 for seconds in clock.sleeps)


def test_excluded_propagates_and_counts_as_succeeded(clock: FakeClock) -> None:
    flow = Flow("excluded")
    ran: list[str] = []

    @flow.task
    def ingest() -> None:
        ran.append("ingest")

    @flow.task(depends_on=[ingest], run_if="at_least_one_failed")
    def alert() -> None:
        ran.append("alert")

    @flow.task(depends_on=[alert, ingest])
    def report() -> None:
        ran.append("report")

    @flow.task(depends_on=[alert], run_if="all_done")
    def after_alert() -> None:
        ran.append("after_alert")

    result = flow.run(executor="inline", clock=clock)
    assert ran == ["ingest", "report"]
    assert result.tasks["alert"].state is TaskState.EXCLUDED
    assert result.tasks["report"].state is TaskState.SUCCEEDED
    assert result.tasks["after_alert"].state is TaskState.EXCLUDED
    assert result.tasks["after_alert"].attempts == 0
    assert result.state is RunState.SUCCEEDED


def test_a_failure_handled_by_a_leaf_is_succeeded_with_failures(clock: FakeClock) -> None:
    flow = Flow("handled")

    @flow.task
    def breaks() -> None:
        raise RuntimeError("no")

    @flow.task(depends_on=[breaks])
    def skipped() -> None: ...

    @flow.task(depends_on=[skipped], run_if="all_failed")
    def alert() -> None: ...

    result = flow.run(executor="inline", clock=clock)
    assert result.tasks["skipped"].state is TaskState.UPSTREAM_FAILED
    assert result.tasks["alert"].state is TaskState.SUCCEEDED
    assert result.state is RunState.SUCCEEDED_WITH_FAILURES


# -- retries -------------------------------------------------------------------------------
def _flaky(failures: int, calls: list[int]) -> object:
    def flaky() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= failures:
            raise RuntimeError(f"attempt {len(calls)} fails")
        return "done"

    return flaky


def test_retry_delay_and_backoff_schedule(clock: FakeClock) -> None:
    flow = Flow("retrying")
    calls: list[int] = []
    flow.task(name="flaky", retries=3, retry_delay=10, retry_backoff=2)(_flaky(3, calls))
    result = flow.run(executor="inline", clock=clock)
    assert result.tasks["flaky"].state is TaskState.SUCCEEDED
    assert result.tasks["flaky"].attempts == 4
    # The delay before retry n is retry_delay * retry_backoff ** (n - 1).
    assert clock.sleeps == pytest.approx([10.0, 20.0, 40.0])
    assert result.state is RunState.SUCCEEDED


def test_retry_delay_without_backoff_is_constant(clock: FakeClock) -> None:
    flow = Flow("retrying")
    calls: list[int] = []
    flow.task(name="flaky", retries=5, retry_delay=7.5)(_flaky(5, calls))
    result = flow.run(executor="inline", clock=clock)
    assert result.tasks["flaky"].attempts == 6
    assert clock.sleeps == pytest.approx([7.5] * 5)


def test_no_retry_delay_means_no_sleep(clock: FakeClock) -> None:
    flow = Flow("retrying")
    calls: list[int] = []
    flow.task(name="flaky", retries=2)(_flaky(2, calls))
    result = flow.run(executor="inline", clock=clock)
    assert result.tasks["flaky"].state is TaskState.SUCCEEDED
    assert sum(clock.sleeps) == 0


def test_retries_exhausted_fails_with_the_last_error(clock: FakeClock, recorder) -> None:
    flow = Flow("retrying")
    calls: list[int] = []
    flow.task(name="flaky", retries=2, retry_delay=1)(_flaky(10, calls))
    result = flow.run(executor="inline", clock=clock, listeners=[recorder])
    task = result.tasks["flaky"]
    assert task.state is TaskState.FAILED
    assert task.attempts == 3
    assert calls == [1, 2, 3]
    assert task.error is not None
    assert task.error.type_name == "RuntimeError"
    assert task.error.message == "attempt 3 fails"
    assert recorder.states_of("flaky").count("waiting_for_retry") == 2
    assert result.state is RunState.FAILED


def test_unlimited_retries_keep_going_until_success(clock: FakeClock) -> None:
    flow = Flow("retrying")
    calls: list[int] = []
    flow.task(name="stubborn", retries=-1, retry_delay=1, retry_backoff=1.5)(_flaky(40, calls))
    result = flow.run(executor="inline", clock=clock)
    assert result.tasks["stubborn"].state is TaskState.SUCCEEDED
    assert result.tasks["stubborn"].attempts == 41
    assert len(clock.sleeps) == 40
    assert clock.sleeps[-1] == pytest.approx(1.5**39)


def test_a_retried_task_does_not_hold_back_independent_tasks(clock: FakeClock) -> None:
    order: list[str] = []
    flow = Flow("retrying")

    @flow.task(retries=1, retry_delay=60)
    def slow_to_succeed() -> None:
        order.append("slow_to_succeed")
        if order.count("slow_to_succeed") == 1:
            raise RuntimeError("first attempt fails")

    @flow.task
    def independent() -> None:
        order.append("independent")

    result = flow.run(executor="inline", clock=clock)
    assert order == ["slow_to_succeed", "independent", "slow_to_succeed"]
    assert result.state is RunState.SUCCEEDED


# -- timeouts (through an executor that pre-empts, on a fake clock) -----------------------
def test_timeout_without_retry_on_timeout_is_final(clock: FakeClock) -> None:
    flow = Flow("timeouts")

    @flow.task(timeout=30, retries=3)
    def hangs() -> None: ...

    @flow.task(depends_on=[hangs])
    def after() -> None: ...

    executor = HangingExecutor(clock, hang={"hangs"})
    result = flow.run(executor=executor, clock=clock)
    assert result.tasks["hangs"].state is TaskState.TIMED_OUT
    assert result.tasks["hangs"].attempts == 1
    assert result.tasks["hangs"].error is not None
    assert "30" in result.tasks["hangs"].error.message
    assert result.tasks["after"].state is TaskState.UPSTREAM_FAILED
    assert executor.killed == ["hangs"]
    assert clock.sleeps == pytest.approx([30.0])
    assert result.state is RunState.FAILED


def test_timeout_with_retry_on_timeout_is_retried(clock: FakeClock) -> None:
    flow = Flow("timeouts")

    @flow.task(timeout=30, retries=2, retry_delay=5, retry_on_timeout=True)
    def hangs() -> None: ...

    @flow.task(depends_on=[hangs], run_if="all_done")
    def cleanup() -> None: ...

    executor = HangingExecutor(clock, hang={"hangs"})
    result = flow.run(executor=executor, clock=clock)
    assert result.tasks["hangs"].state is TaskState.TIMED_OUT
    assert result.tasks["hangs"].attempts == 3
    assert executor.killed == ["hangs"] * 3
    assert clock.sleeps == pytest.approx([30.0, 5.0, 30.0, 5.0, 30.0])
    assert result.tasks["cleanup"].state is TaskState.SUCCEEDED
    assert result.state is RunState.SUCCEEDED_WITH_FAILURES


def test_inline_warns_once_when_a_task_sets_timeout(clock: FakeClock) -> None:
    flow = Flow("timeouts")

    @flow.task(timeout=5)
    def first() -> None: ...

    @flow.task(timeout=10, depends_on=[first])
    def second() -> None: ...

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = flow.run(executor="inline", clock=clock)
    runtime_warnings = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime_warnings) == 1
    message = str(runtime_warnings[0].message)
    assert "inline" in message
    assert "timeout" in message
    assert "first" in message
    assert "second" in message
    assert "'timeouts'" in message
    assert result.state is RunState.SUCCEEDED


def test_inline_does_not_warn_without_timeout(clock: FakeClock) -> None:
    flow = Flow("no_timeouts")
    flow.task(name="plain")(lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow.run(executor="inline", clock=clock)
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []


# -- parallelism --------------------------------------------------------------------------
@pytest.mark.parametrize("max_parallel", [1, 2, 3])
def test_max_parallel_is_respected(clock: FakeClock, max_parallel: int) -> None:
    flow = Flow("wide", max_parallel=8)
    for index in range(6):
        flow.task(name=f"leaf{index}")(lambda: None)
    executor = ShuffledExecutor()
    result = flow.run(executor=executor, clock=clock, max_parallel=max_parallel)
    assert executor.most_in_flight == max_parallel
    assert result.state is RunState.SUCCEEDED


def test_the_flows_max_parallel_is_the_default(clock: FakeClock) -> None:
    flow = Flow("wide", max_parallel=3)
    for index in range(6):
        flow.task(name=f"leaf{index}")(lambda: None)
    executor = ShuffledExecutor()
    flow.run(executor=executor, clock=clock)
    assert executor.most_in_flight == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"], ids=repr)
def test_run_rejects_a_bad_max_parallel(bad: object) -> None:
    calls: list[str] = []
    flow = Flow("wide")
    flow.task(name="only")(lambda: calls.append("only"))
    with pytest.raises(DefinitionError) as excinfo:
        flow.run(executor="inline", max_parallel=bad)
    message = str(excinfo.value)
    assert "'wide'" in message
    assert f"max_parallel={bad!r}" in message
    assert "integer >= 1" in message
    assert calls == []


# -- failures that are not Exception ------------------------------------------------------
def test_system_exit_in_a_task_is_a_failure(clock: FakeClock) -> None:
    flow = Flow("exits")

    @flow.task
    def quits() -> None:
        raise SystemExit(3)

    @flow.task(depends_on=[quits], run_if="at_least_one_failed")
    def alert() -> None: ...

    result = flow.run(executor="inline", clock=clock)
    assert result.tasks["quits"].state is TaskState.FAILED
    assert result.tasks["quits"].error is not None
    assert result.tasks["quits"].error.type_name == "SystemExit"
    assert result.tasks["alert"].state is TaskState.SUCCEEDED
    assert result.state is RunState.SUCCEEDED_WITH_FAILURES


def test_keyboard_interrupt_cancels_the_run(clock: FakeClock, recorder) -> None:
    flow = Flow("interrupted", max_parallel=1)
    ran: list[str] = []

    @flow.task
    def first() -> None:
        ran.append("first")

    @flow.task(depends_on=[first])
    def interrupted() -> None:
        ran.append("interrupted")
        raise KeyboardInterrupt

    @flow.task(depends_on=[interrupted], run_if="all_done")
    def downstream() -> None:
        ran.append("downstream")

    @flow.task(depends_on=[first], retries=2)
    def sibling() -> None:
        ran.append("sibling")

    # Cancelled and recorded first, then Ctrl-C reaches the caller: a script stops there.
    with pytest.raises(KeyboardInterrupt) as raised:
        flow.run(executor="inline", clock=clock, listeners=[recorder])
    result = raised.value.result
    assert result.state is RunState.CANCELLED
    assert result.tasks["first"].state is TaskState.SUCCEEDED
    assert result.tasks["interrupted"].state is TaskState.CANCELLED
    assert result.tasks["downstream"].state is TaskState.CANCELLED
    assert result.tasks["downstream"].attempts == 0
    assert "downstream" not in ran
    assert all(run.state.is_final for run in result.tasks.values())
    assert [finished.state for finished in recorder.finished] == [RunState.CANCELLED]


def test_keyboard_interrupt_cancels_a_task_waiting_for_retry(clock: FakeClock) -> None:
    flow = Flow("interrupted")

    @flow.task(retries=5, retry_delay=100)
    def flaky() -> None:
        raise RuntimeError("always")

    @flow.task(depends_on=[flaky], run_if="all_done")
    def stop() -> None:
        raise KeyboardInterrupt

    @flow.task
    def ctrl_c() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as raised:
        flow.run(executor="inline", clock=clock)
    result = raised.value.result
    assert result.state is RunState.CANCELLED
    assert result.tasks["flaky"].state is TaskState.CANCELLED
    assert result.tasks["flaky"].attempts == 1
    assert result.tasks["stop"].state is TaskState.CANCELLED
    assert result.tasks["ctrl_c"].state is TaskState.CANCELLED


# -- params -------------------------------------------------------------------------------
def _params_flow(seen: list[dict[str, object]]) -> Flow:
    flow = Flow("with_params", params={"date": "2026-11-23", "limit": 10})

    @flow.task
    def read() -> None:
        seen.append({"date": params["date"], "limit": params["limit"], "all": dict(params)})

    return flow


def test_params_defaults(clock: FakeClock) -> None:
    seen: list[dict[str, object]] = []
    result = _params_flow(seen).run(executor="inline", clock=clock)
    assert seen == [{"date": "2026-11-23", "limit": 10, "all": {"date": "2026-11-23", "limit": 10}}]
    assert result.params == {"date": "2026-11-23", "limit": 10}


def test_params_override(clock: FakeClock) -> None:
    seen: list[dict[str, object]] = []
    result = _params_flow(seen).run({"date": "2027-01-01"}, executor="inline", clock=clock)
    assert seen[0]["date"] == "2027-01-01"
    assert seen[0]["limit"] == 10
    assert result.params == {"date": "2027-01-01", "limit": 10}


def test_params_unknown_key_is_an_error_before_anything_runs(clock: FakeClock) -> None:
    seen: list[dict[str, object]] = []
    with pytest.raises(DefinitionError) as excinfo:
        _params_flow(seen).run({"dat": "2027-01-01"}, executor="inline", clock=clock)
    message = str(excinfo.value)
    assert "'with_params'" in message
    assert "'dat'" in message
    assert "date" in message
    assert "limit" in message
    assert seen == []


def test_unknown_executor_names_the_valid_ones() -> None:
    flow = Flow("executors")
    flow.task(name="only")(lambda: None)
    with pytest.raises(DefinitionError) as excinfo:
        flow.run(executor="threads")
    message = str(excinfo.value)
    assert "'threads'" in message
    assert "inline" in message
    assert "'executors'" in message


# -- the result and the listener ----------------------------------------------------------
def test_result_records_ids_times_values_and_listener_calls(clock: FakeClock, recorder) -> None:
    flow = Flow("result")

    @flow.task
    def produce() -> int:
        return 42

    @flow.task(depends_on=[produce])
    def consume() -> None: ...

    result = flow.run(executor="inline", clock=clock, listeners=[recorder], run_id="run-1")
    assert result.run_id == "run-1"
    assert result.flow_name == "result"
    assert result.succeeded
    assert recorder.started == 1
    assert recorder.finished == [result]
    assert recorder.states_of("produce") == ["queued", "running", "succeeded"]
    assert recorder.states_of("consume") == ["queued", "running", "succeeded"]
    assert result.tasks["produce"].error is None
    assert result.tasks["produce"].duration is not None


def test_run_ids_are_unique(clock: FakeClock) -> None:
    flow = Flow("ids")
    flow.task(name="only")(lambda: None)
    ids = {flow.run(executor="inline", clock=clock).run_id for _ in range(5)}
    assert len(ids) == 5
    assert all(isinstance(run_id, str) and run_id for run_id in ids)


def test_tasks_that_never_ran_have_no_attempts_and_no_times(clock: FakeClock) -> None:
    flow = Flow("skipped")

    @flow.task
    def breaks() -> None:
        raise RuntimeError("no")

    @flow.task(depends_on=[breaks])
    def skipped() -> None: ...

    result = flow.run(executor="inline", clock=clock)
    skipped_run = result.tasks["skipped"]
    assert skipped_run.state is TaskState.UPSTREAM_FAILED
    assert skipped_run.attempts == 0
    assert skipped_run.started_at is None
    assert skipped_run.duration is None
    assert result.tasks["breaks"].error is not None
    assert "RuntimeError: no" in result.tasks["breaks"].error.summary
    assert "raise RuntimeError" in result.tasks["breaks"].error.traceback


class BlockingKillExecutor(HangingExecutor):
    """An executor of the first protocol: ``kill`` stops the attempt and reports nothing."""

    def kill(self, task_key: str) -> None:  # type: ignore[override]
        super().kill(task_key)
        self._stopped.clear()


def test_an_executor_whose_kill_reports_nothing_ends_the_attempt_at_once(clock: FakeClock):
    flow = Flow("older_executor")

    @flow.task(timeout=30)
    def hangs() -> None: ...

    result = flow.run(executor=BlockingKillExecutor(clock, hang={"hangs"}), clock=clock)

    assert result.tasks["hangs"].state is TaskState.TIMED_OUT
    assert clock.sleeps == pytest.approx([30.0])
