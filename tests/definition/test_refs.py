"""Dynamic value references: found, checked at plan time, filled in at run time."""

from __future__ import annotations

import datetime
import shlex
import time

import pytest

from flowkit import DefinitionError
from flowkit._context import TaskContext
from flowkit._definition.refs import (
    find_references,
    reference_spans,
    render,
    resolve,
    validate_references,
)
from flowkit._errors import TaskValueError
from flowkit._state import RunTrigger

#: 2026-11-23 09:30:15.250 UTC, a Monday.
STARTED_AT = datetime.datetime(
    2026, 11, 23, 9, 30, 15, 250_000, tzinfo=datetime.timezone.utc
).timestamp()


@pytest.fixture
def context() -> TaskContext:
    return TaskContext(
        run_id="run-42",
        flow_name="lakehouse",
        task_key="report",
        params={"date": "2026-11-23", "limit": 10, "run.mode": "full"},
        upstream_values={
            "ingest": {"row_count": 14520, "files": ["a.csv", "b.csv"], "meta": {"ok": True}},
            "my-task": {"row count": 3},
        },
        repair_count=2,
        run_started_at=STARTED_AT,
    )


def _validate(text: str, *, upstream: set[str] | None = None) -> list[str]:
    return validate_references(
        text,
        flow_name="lakehouse",
        task_key="report",
        params={"date": "2026-11-23", "run.mode": "full"},
        upstream={"ingest"} if upstream is None else upstream,
    )


# -- finding ------------------------------------------------------------------------------


def test_find_references_strips_braces_and_whitespace_in_order():
    text = "dbt run --vars {{ job.parameters.date }} -o {{job.run_id}}/{{tasks.a.values.k}}"

    assert find_references(text) == ["job.parameters.date", "job.run_id", "tasks.a.values.k"]


def test_text_not_shaped_like_a_reference_is_left_alone():
    # A Go template in a docker command, awk and an empty pair are not references.
    text = "docker inspect -f '{{.State.Status}}' x; awk '{{print $1}}'; echo {{}}"

    assert find_references(text) == []
    assert _validate(text) == []


# -- resolving: every kind ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{job.run_id}}", "run-42"),
        ("{{job.name}}", "lakehouse"),
        ("{{job.repair_count}}", "2"),
        ("{{job.start_time.iso_date}}", "2026-11-23"),
        ("{{job.start_time.iso_datetime}}", "2026-11-23T09:30:15.250Z"),
        ("{{job.start_time.timestamp_ms}}", str(round(STARTED_AT * 1000))),
        ("{{job.start_time.year}}-{{job.start_time.month}}", "2026-11"),
        ("{{job.start_time.iso_weekday}} {{job.start_time.is_weekday}}", "1 true"),
        ("{{job.parameters.date}}", "2026-11-23"),
        ("{{job.parameters.limit}}", "10"),
        ("{{job.parameters.run.mode}}", "full"),
        ("{{job.parameters.`run.mode`}}", "full"),
        ("{{tasks.ingest.values.row_count}}", "14520"),
        ("{{tasks.ingest.values.files}}", '["a.csv", "b.csv"]'),
        ("{{tasks.ingest.values.meta}}", '{"ok": true}'),
        ("{{tasks.my-task.values.`row count`}}", "3"),
        ("{{ job.run_id }}", "run-42"),
        ("out/{{job.name}}/{{job.start_time.iso_date}}.csv", "out/lakehouse/2026-11-23.csv"),
        ("no references", "no references"),
        ("keep {{.State.Status}}", "keep {{.State.Status}}"),
    ],
)
def test_resolve_fills_in_every_kind_of_reference(context, text, expected):
    assert resolve(text, context) == expected


def test_a_substituted_value_is_not_resolved_again(context):
    context.upstream_values = {"ingest": {"template": "{{job.run_id}}"}}

    assert resolve("{{tasks.ingest.values.template}}", context) == "{{job.run_id}}"


def test_each_value_passes_through_word_before_it_is_substituted(context):
    context.params = {"model": "x; touch pwned", "limit": 10}

    filled = resolve(
        "dbt run -s {{job.parameters.model}} -n {{job.parameters.limit}} "
        "--files {{tasks.ingest.values.files}} {{.Go}}",
        context,
        word=shlex.quote,
    )

    assert filled == ("dbt run -s 'x; touch pwned' -n 10 --files '[\"a.csv\", \"b.csv\"]' {{.Go}}")
    assert shlex.split(filled)[3] == "x; touch pwned"


def test_reference_spans_give_where_each_reference_starts():
    text = "a {{ job.run_id }} '{{.Go}}' {{tasks.x.values.k}}"

    assert reference_spans(text) == [(2, "job.run_id"), (29, "tasks.x.values.k")]


def test_the_start_date_is_the_utc_date_whatever_the_local_zone(monkeypatch):
    # 23:30 on the 22nd in New York is already the 23rd in UTC.
    late = datetime.datetime(2026, 11, 23, 4, 30, tzinfo=datetime.timezone.utc).timestamp()
    context = TaskContext(run_id="r", flow_name="f", task_key="t", run_started_at=late)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert time.localtime(late).tm_mday == 22
        assert resolve("{{job.start_time.iso_date}}", context) == "2026-11-23"
        assert resolve("{{job.start_time.hour}}", context) == "4"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_render_gives_json_for_containers_and_str_for_the_rest():
    assert render({"a": [1, "é"]}) == '{"a": [1, "é"]}'
    assert render([]) == "[]"
    assert render(3.5) == "3.5"
    assert render(None) == "None"


def test_a_missing_task_value_key_is_a_clear_error(context):
    with pytest.raises(TaskValueError) as caught:
        resolve("{{tasks.ingest.values.rows}}", context)

    message = str(caught.value)
    assert "'lakehouse'" in message
    assert "'report'" in message
    assert "set no value 'rows'" in message
    assert "files, meta, row_count" in message


def test_a_task_that_is_not_upstream_is_an_error_at_run_time(context):
    with pytest.raises(TaskValueError, match="'cleanup', which is not upstream of 'report'"):
        resolve("{{tasks.cleanup.values.k}}", context)


def test_a_task_that_does_not_exist_is_named_so_at_run_time(context):
    context.upstream_edges = {"report": ("ingest",), "ingest": ()}

    with pytest.raises(TaskValueError, match=r"flow 'lakehouse' has no task 'ingets' \(did you"):
        resolve("{{tasks.ingets.values.row_count}}", context)


def test_an_undeclared_parameter_is_an_error_at_run_time(context):
    with pytest.raises(DefinitionError, match=r"undeclared parameter 'day'.*date, limit"):
        resolve("{{job.parameters.day}}", context)


def test_an_unknown_reference_is_an_error_at_run_time(context):
    with pytest.raises(DefinitionError, match="unknown job field"):
        resolve("{{job.id}}", context)


# -- validating: each problem -------------------------------------------------------------


def test_valid_references_have_no_problems():
    text = (
        "{{job.run_id}} {{job.name}} {{job.repair_count}} {{job.start_time.iso_date}} "
        "{{job.start_time.iso_datetime}} {{job.start_time.timestamp_ms}} "
        "{{job.parameters.date}} {{ job.parameters.run.mode }} {{tasks.ingest.values.anything}}"
    )

    assert _validate(text) == []


@pytest.mark.parametrize("reference", ["job.naem", "job.start_time.iso_dat", "job.parameters"])
def test_an_unknown_name_in_the_job_namespace_is_a_problem(reference):
    problems = _validate(f"echo {{{{{reference}}}}}")

    assert len(problems) == 1
    assert problems[0].startswith("flow 'lakehouse', task 'report': ")
    assert f"{{{{{reference}}}}}" in problems[0]
    assert "unknown job field" in problems[0]
    assert "{{job.run_id}}" in problems[0]  # what is allowed
    assert "iso_date" in problems[0]


def test_an_unknown_namespace_is_a_problem():
    (problem,) = _validate("{{ workspace.id }}")

    assert "flow 'lakehouse', task 'report'" in problem
    assert "{{workspace.id}}" in problem
    assert "unknown namespace 'workspace'" in problem
    assert "allowed namespaces: job, tasks" in problem


def test_a_task_value_of_a_task_that_is_not_upstream_is_a_problem():
    (problem,) = _validate("{{tasks.train.values.accuracy}}", upstream={"ingest", "clean"})

    assert "flow 'lakehouse', task 'report'" in problem
    assert "{{tasks.train.values.accuracy}}" in problem
    assert "task 'train', which is not upstream" in problem
    assert "upstream tasks: clean, ingest" in problem
    assert "add 'train' to depends_on" in problem


def test_a_malformed_task_value_reference_is_a_problem():
    (problem,) = _validate("{{tasks.ingest.row_count}}")

    assert "{{tasks.ingest.row_count}}" in problem
    assert "{{tasks.NAME.values.KEY}}" in problem


def test_an_undeclared_parameter_is_a_problem():
    (problem,) = _validate("{{job.parameters.model}}")

    assert "flow 'lakehouse', task 'report'" in problem
    assert "{{job.parameters.model}}" in problem
    assert "undeclared parameter 'model'" in problem
    assert "declared parameters: date, run.mode" in problem


def test_every_problem_in_a_text_is_reported():
    problems = _validate("{{job.nope}} {{foo.bar}} {{tasks.x.values.k}} {{job.parameters.y}}")

    assert len(problems) == 4


# -- the run's trigger ----------------------------------------------------------------------

#: 2026-03-29 01:00 UTC: a cron run scheduled for 03:00 in Amsterdam, the morning clocks moved.
SCHEDULED_AT = datetime.datetime(2026, 3, 29, 1, 0, tzinfo=datetime.timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("trigger", "text", "expected"),
    [
        (RunTrigger(), "{{job.trigger.type}}", "manual"),
        # a manual run's trigger time is its start
        (RunTrigger(), "{{job.trigger.time.iso_date}} {{job.trigger.time.hour}}", "2026-11-23 9"),
        (RunTrigger(type="cron", time=SCHEDULED_AT), "{{job.trigger.type}}", "cron"),
        (
            RunTrigger(type="cron", time=SCHEDULED_AT),
            "{{job.trigger.time.iso_datetime}} {{job.trigger.time.iso_weekday}}",
            "2026-03-29T01:00:00.000Z 7",
        ),
        (
            RunTrigger(type="backfill", time=SCHEDULED_AT, backfill_id="b1"),
            "day={{ job.trigger.time.iso_date }} weekday={{job.trigger.time.is_weekday}}",
            "day=2026-03-29 weekday=false",
        ),
        (
            RunTrigger(type="file_arrival", time=SCHEDULED_AT, file_arrival_location="/in"),
            "{{job.trigger.type}}:{{job.trigger.file_arrival.location}}",
            "file_arrival:/in",
        ),
        # a run not started by files has no location: empty, as Databricks leaves it
        (
            RunTrigger(type="cron", time=SCHEDULED_AT),
            "[{{job.trigger.file_arrival.location}}]",
            "[]",
        ),
    ],
)
def test_trigger_references_read_what_started_the_run(context, trigger, text, expected):
    context.trigger = trigger

    assert resolve(text, context) == expected


def test_a_trigger_reference_of_an_unknown_field_is_a_plan_time_problem():
    assert _validate("{{job.trigger.type}} {{job.trigger.time.iso_date}}") == []
    problems = _validate("{{job.trigger.kind}} {{job.trigger.time.century}}")

    assert len(problems) == 2
    assert all("unknown job field" in problem for problem in problems)
    assert "{{job.trigger.type}}" in problems[0]  # the message lists what is allowed
