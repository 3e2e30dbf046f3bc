"""flowkit.testing.task_context and the pytest plugin's fixtures (flowkit_run, task_context)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from flowkit import Flow, RunState, TaskState, TaskValueError, params, task_values
from flowkit._context import current_context
from flowkit._store import SqliteStore
from flowkit.testing import FlowRunner, task_context

flow = Flow("under_test_flow", params={"date": "2026-11-23", "limit": 10})


@flow.task
def ingest() -> int:
    task_values.set(key="row_count", value=14520)
    return 3


@flow.task(depends_on=[ingest])
def clean() -> str:
    rows = task_values.get(task_key="ingest", key="row_count")
    task_values.set("cleaned", rows - 20)
    task_values.set("date_seen", params["date"])
    return f"{rows} rows for {params['date']}"


@flow.task(depends_on=[clean])
def report() -> None:
    task_values.get(task_key="ingest", key="row_count")  # transitive upstream


# -- task_context ------------------------------------------------------------------------


def test_a_task_reads_the_values_and_params_given() -> None:
    with task_context(values={"ingest": {"row_count": 5}}, params={"date": "2000-01-01"}):
        assert clean() == "5 rows for 2000-01-01"


def test_calling_fn_works_like_calling_the_task() -> None:
    with task_context(values={"ingest": {"row_count": 7}}, params={"date": "d"}) as ctx:
        assert clean.fn() == "7 rows for d"
    assert ctx.values_set == {"cleaned": -13, "date_seen": "d"}


def test_values_set_exposes_what_the_task_set_in_order() -> None:
    with task_context(values={"ingest": {"row_count": 100}}, params={"date": "x"}) as ctx:
        clean()
    assert list(ctx.values_set.items()) == [("cleaned", 80), ("date_seen", "x")]
    assert task_values.set_outside_run == {}  # nothing leaked to the outside-run store


def test_a_task_with_no_upstream_sets_values() -> None:
    with task_context() as ctx:
        assert ingest() == 3
    assert ctx.values_set == {"row_count": 14520}


def test_values_are_json_round_tripped_as_in_a_real_run() -> None:
    with task_context(values={"a": {"pair": (1, 2), "nested": {"t": (3,)}}}):
        assert task_values.get(task_key="a", key="pair") == [1, 2]
        assert task_values.get(task_key="a", key="nested") == {"t": [3]}


def test_values_that_a_run_would_reject_are_rejected() -> None:
    with pytest.raises(TaskValueError, match=r"task 'a'.*not JSON-serialisable"):
        task_context(values={"a": {"obj": object()}}).__enter__()
    with pytest.raises(TaskValueError, match="not a mapping"):
        task_context(values={"a": [1, 2]}).__enter__()  # type: ignore[dict-item]
    with pytest.raises(TaskValueError, match="mapping of upstream task key"):
        task_context(values=[("a", {})]).__enter__()  # type: ignore[arg-type]
    assert current_context() is None


def test_a_task_not_listed_in_values_is_not_upstream() -> None:
    with (
        task_context(values={"ingest": {"row_count": 5}}, task_key="clean", flow_name="f"),
        pytest.raises(TaskValueError, match=r"flow 'f', task 'clean'.*'other' is not upstream"),
    ):
        task_values.get(task_key="other", key="row_count", default=0)


def test_a_missing_key_of_a_listed_task_uses_default_or_raises() -> None:
    with task_context(values={"ingest": {"row_count": 5}}):
        assert task_values.get(task_key="ingest", key="nope", default="d") == "d"
        with pytest.raises(TaskValueError, match=r"set no value 'nope' \(it set: row_count\)"):
            task_values.get(task_key="ingest", key="nope")


def test_a_listed_task_with_no_values_counts_as_upstream() -> None:
    with task_context(values={"ingest": {}}):
        assert task_values.get(task_key="ingest", key="row_count", default=0) == 0


def test_an_undeclared_param_names_the_declared_ones() -> None:
    with (
        task_context(params={"date": "d"}, task_key="clean"),
        pytest.raises(KeyError, match=r"task 'clean': no parameter 'limit'; declared: date"),
    ):
        params["limit"]


def test_the_context_shows_its_identity() -> None:
    with task_context(task_key="t", flow_name="f", run_id="r", attempt=2) as ctx:
        assert current_context() is ctx
        assert (ctx.task_key, ctx.flow_name, ctx.run_id, ctx.attempt) == ("t", "f", "r", 2)
    assert (ctx.task_key, ctx.flow_name, ctx.run_id) == ("t", "f", "r")


def test_the_defaults_name_the_context() -> None:
    with task_context() as ctx:
        assert (ctx.task_key, ctx.flow_name, ctx.run_id) == ("under_test", "test", "test-run")


def test_outside_run_behaviour_is_restored_afterwards() -> None:
    with task_context(values={"ingest": {"row_count": 5}}, params={"date": "d"}):
        pass
    assert current_context() is None
    assert dict(params) == {}
    assert task_values.get(task_key="ingest", key="row_count", debug_value=-1) == -1
    with pytest.raises(TaskValueError, match="outside a run and has no debug_value"):
        task_values.get(task_key="ingest", key="row_count", default=0)


def test_outside_run_behaviour_is_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError, match="boom"), task_context(params={"date": "d"}):
        raise RuntimeError("boom")
    assert current_context() is None
    assert dict(params) == {}


def test_contexts_nest_and_unwind() -> None:
    with task_context(task_key="outer") as outer:
        with task_context(task_key="inner") as inner:
            task_values.set("k", 1)
            assert current_context() is inner
        assert current_context() is outer
    assert inner.values_set == {"k": 1}
    assert outer.values_set == {}


def test_given_values_are_copied_not_shared() -> None:
    given = {"ingest": {"row_count": 5}}
    with task_context(values=given) as ctx:
        pass
    given["ingest"]["row_count"] = 6
    assert ctx.upstream_values == {"ingest": {"row_count": 5}}


# -- FlowRunner and the plugin's fixtures ----------------------------------------------------


def test_the_plugin_is_registered_through_the_pytest11_entry_point(
    pytestconfig: pytest.Config,
) -> None:
    points = [point for point in entry_points(group="pytest11") if point.name == "flowkit"]
    assert [point.value for point in points] == ["flowkit.pytest_plugin"]
    plugin = pytestconfig.pluginmanager.get_plugin("flowkit")
    assert plugin is not None
    assert plugin.__name__ == "flowkit.pytest_plugin"


def test_the_task_context_fixture_is_flowkit_testing_task_context(
    task_context: object,
) -> None:
    import flowkit.testing

    assert task_context is flowkit.testing.task_context


def test_flowkit_run_runs_a_flow_and_returns_states(flowkit_run: FlowRunner) -> None:
    result = flowkit_run(flow, params={"date": "2026-01-01"})
    assert result.state is RunState.SUCCEEDED
    assert {name: task.state for name, task in result.tasks.items()} == {
        "ingest": TaskState.SUCCEEDED,
        "clean": TaskState.SUCCEEDED,
        "report": TaskState.SUCCEEDED,
    }
    assert result.values["clean"] == {"cleaned": 14500, "date_seen": "2026-01-01"}
    assert result.params == {"date": "2026-01-01", "limit": 10}


def test_flowkit_run_records_the_run_in_its_own_store(
    flowkit_run: FlowRunner, tmp_path: Path
) -> None:
    result = flowkit_run(flow)
    assert isinstance(flowkit_run.store, SqliteStore)
    assert flowkit_run.home.is_relative_to(tmp_path)
    assert (flowkit_run.home / "flowkit.db").is_file()
    record = flowkit_run.store.get_run(result.run_id)
    assert record is not None
    assert flowkit_run.store.get_values(result.run_id)["ingest"] == {"row_count": 14520}


def test_flowkit_run_reports_failures_in_the_result(flowkit_run: FlowRunner) -> None:
    failing = Flow("failing")

    @failing.task
    def boom() -> None:
        raise ValueError("on purpose")

    @failing.task(depends_on=[boom], run_if="at_least_one_failed")
    def alert() -> None:
        pass

    result = flowkit_run(failing)
    assert result.state is RunState.SUCCEEDED_WITH_FAILURES
    assert result.tasks["boom"].state is TaskState.FAILED
    assert result.tasks["boom"].error is not None
    assert result.tasks["boom"].error.type_name == "ValueError"
    assert result.tasks["alert"].state is TaskState.SUCCEEDED


def test_flowkit_run_writes_nothing_to_the_working_directory(
    flowkit_run: FlowRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    working = tmp_path / "working"
    working.mkdir()
    monkeypatch.chdir(working)
    result = flowkit_run(flow)
    assert result.state is RunState.SUCCEEDED
    assert list(working.iterdir()) == []


def test_flowkit_run_prints_nothing_by_default(
    flowkit_run: FlowRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    printing = Flow("printing")

    @printing.task
    def speak() -> None:
        print("hello")

    flowkit_run(printing)
    assert "[speak]" not in capsys.readouterr().out


def test_an_unknown_param_is_a_definition_error(flowkit_run: FlowRunner) -> None:
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        flowkit_run(flow, params={"nope": 1})


def test_the_fixtures_work_in_a_fresh_project_without_a_conftest(tmp_path: Path) -> None:
    # A new pytest process in a directory of its own: only the entry point can supply
    # the fixtures there, and the run must leave that directory as it found it.
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user_flow.py").write_text(
        textwrap.dedent(
            """
            from flowkit import Flow, RunState, task_values

            flow = Flow("user_flow")

            @flow.task
            def produce():
                task_values.set("n", 2)

            @flow.task(depends_on=[produce])
            def consume():
                return task_values.get(task_key="produce", key="n") * 10

            def test_run(flowkit_run):
                result = flowkit_run(flow)
                assert result.state is RunState.SUCCEEDED

            def test_context(task_context):
                with task_context(values={"produce": {"n": 4}}):
                    assert consume() == 40
            """
        ),
        encoding="utf-8",
    )
    before = sorted(path.name for path in project.iterdir())
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 passed" in completed.stdout
    after = sorted(path.name for path in project.iterdir() if path.name != "__pycache__")
    assert after == before


def test_flowkit_run_passes_options_on(flowkit_run: FlowRunner) -> None:
    from flowkit import FakeClock

    retrying = Flow("retrying")
    calls: list[int] = []

    @retrying.task(retries=2, retry_delay=3600)
    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    clock = FakeClock()
    result = flowkit_run(retrying, clock=clock)
    assert result.tasks["flaky"].attempts == 3
    assert result.tasks["flaky"].state is TaskState.SUCCEEDED
    assert clock.monotonic() >= 7200  # slept on the fake clock, not for real
