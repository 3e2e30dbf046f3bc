"""SQL tasks on DuckDB: statements in order, parameters bound, rows and the first row as values."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest
from proctools import processes_with_environment as _processes_of

from flowkit import DefinitionError, Flow, RunState, TaskState, task_values

METRICS = """
create or replace table orders as
    select range as id, range % 7 as day,
           (date '2026-11-01' + to_days((range % 30)::int))::date as placed,
           (range * 1.25)::decimal(10, 2) as amount
    from range(100);
-- the statements run in order; this comment holds a ; too
select day, count(*) as orders, min(placed) as first_placed, sum(amount) as total
from orders where day >= $min_day group by day order by day;
"""


def _flow(tmp_path: Path, **options) -> Flow:
    (tmp_path / "metrics.sql").write_text(METRICS)
    flow = Flow("warehouse", params={"min": 3})
    flow.source_folder = tmp_path
    flow.sql(
        file="metrics.sql",
        database=str(tmp_path / "warehouse.duckdb"),
        parameters={"min_day": "{{job.parameters.min}}"},
        **options,
    )
    return flow


def test_rows_and_the_first_row_are_values_read_downstream(tmp_path, executor):
    flow = _flow(tmp_path, values="first_row")

    @flow.task(depends_on=["metrics"])
    def report():
        return {
            key: task_values.get("metrics", key) for key in ("rows", "day", "first_placed", "total")
        }

    result = flow.run(executor=executor)

    assert result.state is RunState.SUCCEEDED, result.tasks["metrics"].error
    # days 3..6; day 3 holds ids 3, 10, ..., 94: 14 orders
    assert result.results["report"] == {
        "rows": 4,
        "day": 3,
        "first_placed": "2026-11-02",  # ids 3, 10, ...: 31 % 30 = 1 is the earliest
        "total": sum(i * 1.25 for i in range(3, 100, 7)),
    }
    if executor != "inline":
        log = Path(result.tasks["metrics"].log_path).read_text()
        assert log.splitlines()[0].split() == ["day", "orders", "first_placed", "total"]


def test_a_parameter_is_bound_never_pasted_an_injection_leaves_the_table_intact(tmp_path):
    database = tmp_path / "w.duckdb"
    flow = Flow("injected", params={"name": "x'; drop table people; --"})
    flow.sql("setup", query="create table people as select 'ada' as name", database=str(database))
    flow.sql(
        "lookup",
        query="select * from people where name = $name",
        parameters={"name": "{{job.parameters.name}}"},
        database=str(database),
        depends_on=["setup"],
    )
    result = flow.run(executor="local")
    assert result.state is RunState.SUCCEEDED
    assert result.values["lookup"]["rows"] == 0
    with duckdb.connect(str(database)) as connection:
        assert connection.execute("select name from people").fetchall() == [("ada",)]


def test_a_dml_statements_row_count_is_the_rows_it_changed(tmp_path):
    flow = Flow("dml")
    flow.sql(
        "load",
        query="create table t (a int); insert into t select * from range(5); "
        "update t set a = a + 1 where a < 3",
        database=":memory:",
    )
    assert flow.run(executor="local").values["load"]["rows"] == 3


def test_a_failing_statement_names_its_number_and_duckdbs_message(tmp_path):
    flow = Flow("broken")
    flow.sql("bad", query="select 1; select * from no_such_table; select 3", database=":memory:")
    result = flow.run(executor="local")
    error = result.tasks["bad"].error
    assert result.tasks["bad"].state is TaskState.FAILED
    assert error.type_name == "SqlFailed"
    assert "statement 2 of the query failed" in error.message
    assert "no_such_table" in error.message


def test_a_parameter_the_sql_uses_but_is_not_given_is_named(tmp_path):
    flow = Flow("unbound")
    flow.sql("q", query="select $day", database=":memory:")
    result = flow.run(executor="local")
    assert "uses $day" in result.tasks["q"].error.message


def test_the_default_database_is_in_the_home(flowkit_home):
    flow = Flow("homed")
    flow.sql("make", query="create table kept as select 1 as one")
    assert flow.run(executor="local").state is RunState.SUCCEEDED
    with duckdb.connect(str(flowkit_home / "warehouse.duckdb")) as connection:
        assert connection.execute("select one from kept").fetchall() == [(1,)]


def test_bad_options_are_definition_errors():
    flow = Flow("options")
    with pytest.raises(DefinitionError, match="query= or file="):
        flow.sql("both", query="select 1", file="x.sql")
    with pytest.raises(DefinitionError, match="values="):
        flow.sql("v", query="select 1", values="all_rows")
    with pytest.raises(DefinitionError, match="needs a name"):
        flow.sql(query="select 1")


def test_a_long_query_is_timed_out_and_leaves_no_process(tmp_path):
    flow = Flow("slow_sql")
    flow.sql(
        "long", query="select count(*) from range(100000000000)", database=":memory:", timeout=1
    )
    started = time.monotonic()
    result = flow.run(executor="local")
    assert result.tasks["long"].state is TaskState.TIMED_OUT
    assert time.monotonic() - started < 30
    assert _processes_of(result.run_id) == []


def test_a_failing_statement_is_retried(tmp_path):
    flow = Flow("flaky_sql")
    flow.sql(
        "flaky",
        query=(
            "create table if not exists tries (n integer); insert into tries values (1); "
            "select case when (select count(*) from tries) < 2 then error('first try fails') "
            "else 'ok' end as outcome"
        ),
        database=str(tmp_path / "tries.duckdb"),
        retries=1,
    )
    result = flow.run(executor="local")
    assert result.tasks["flaky"].state is TaskState.SUCCEEDED
    assert result.tasks["flaky"].attempts == 2
