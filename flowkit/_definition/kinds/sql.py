"""SQL tasks on DuckDB: statements run in order, parameters bound, never pasted (extra ``sql``).

``flow.sql(query=... | file=..., database=..., parameters=..., values=None |
"first_row")``. Each statement runs in turn on one connection, closed when the
attempt ends (a killed attempt's process takes it with it). Parameters are
bound as ``$name``: a value is data, never SQL. ``{{...}}`` references are
filled in parameter values and in ``database``. The last statement's row
count (the rows a query returned, or the rows a DML statement changed) is the
task value ``rows``; ``values="first_row"`` adds its first row's columns
(dates as ISO text, decimals as numbers). The first rows are printed as a
table into the log. The default database is ``$FLOWKIT_HOME/warehouse.duckdb``.
"""

from __future__ import annotations

import datetime
import decimal
import importlib.util
import math
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from flowkit._context import task_values
from flowkit._definition import refs
from flowkit._definition.kinds.script import resolve_path
from flowkit._errors import DefinitionError, SqlFailed
from flowkit._home import home_folder

SQL_EXTRA = "pip install 'flowkit-workflows[sql]'"
VALUES_CHOICES = (None, "first_row")
#: How many rows of the last statement are printed to the log.
SHOWN_ROWS = 20


def _json_value(value: Any) -> Any:
    """A DuckDB value as JSON data: dates and times as ISO text, decimals as numbers."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        number = float(value)
        return int(number) if number.is_integer() and value == value.to_integral() else number
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


def _table(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = [names, *[[str(value) for value in row] for row in rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(names))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)


@attrs.frozen
class SqlTask:
    """The function of a SQL task: run the statements on DuckDB, set ``rows`` (and a row)."""

    flow_name: str
    task_key: str
    query: str | None = None
    file: str | None = None
    database: str | None = None
    parameters: Mapping[str, Any] = attrs.field(factory=dict)
    values: str | None = None

    @property
    def __name__(self) -> str:
        return self.task_key

    @property
    def __flowkit_references__(self) -> list[str]:
        texts = [value for value in self.parameters.values() if isinstance(value, str)]
        return texts if self.database is None else [*texts, self.database]

    def __call__(self) -> int:
        """Run the statements; the last one's row count.

        Raises:
            SqlFailed: DuckDB refused a statement (its number and DuckDB's message).
        """
        import duckdb  # the sql extra; checked when the task was defined

        where = f"flow {self.flow_name!r}, task {self.task_key!r}"
        text = self.query if self.query is not None else Path(str(self.file)).read_text()
        bound = refs.fill_values(self.parameters, where=where)
        database = self.database or str(home_folder() / "warehouse.duckdb")
        database = refs.fill(database, where=where, what="the database")
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(database)
        try:
            return self._run(connection, text, bound, where, duckdb.Error)
        finally:
            connection.close()

    def _run(
        self, connection: Any, text: str, bound: dict[str, Any], where: str, error: Any
    ) -> int:
        source = f"file {self.file}" if self.file else "the query"
        try:
            statements = connection.extract_statements(text)
        except error as failed:
            msg = f"{where}: {source} does not parse: {failed}"
            raise SqlFailed(msg) from None
        if not statements:
            msg = f"{where}: {source} holds no SQL statement"
            raise SqlFailed(msg)
        result = None
        for number, statement in enumerate(statements, start=1):
            names = getattr(statement, "named_parameters", set())
            missing = sorted(set(names) - set(bound))
            if missing:
                msg = (
                    f"{where}: statement {number} of {source} uses ${', $'.join(missing)}, "
                    f"which parameters= does not give (given: {', '.join(sorted(bound)) or 'none'})"
                )
                raise SqlFailed(msg)
            try:
                result = connection.execute(
                    statement.query, {name: bound[name] for name in names} or None
                )
            except error as failed:
                msg = f"{where}: statement {number} of {source} failed: {failed}"
                raise SqlFailed(msg) from None
        return self._report(result, statements[-1])

    def _report(self, result: Any, statement: Any) -> int:
        if result is None or result.description is None:
            rows_count, names, rows = 0, [], []
        else:
            names = [column[0] for column in result.description]
            rows = result.fetchall()
            rows_count = len(rows)
            kind = str(getattr(statement, "type", "")).rsplit(".", 1)[-1]
            if kind in ("INSERT", "UPDATE", "DELETE") and rows and len(rows[0]) == 1:
                rows_count = int(rows[0][0])  # DuckDB answers DML with the count of rows changed
        if names:
            print(_table(names, rows[:SHOWN_ROWS]))
            if len(rows) > SHOWN_ROWS:
                print(f"... {len(rows) - SHOWN_ROWS} more row(s)")
        task_values.set("rows", rows_count)
        if self.values == "first_row" and rows:
            for name, value in zip(names, rows[0], strict=True):
                task_values.set(name, _json_value(value))
        return rows_count

    def __repr__(self) -> str:
        return f"<SqlTask {self.flow_name}.{self.task_key}: {self.file or 'query'}>"


def sql_task(
    flow_name: str,
    name: str | None,
    *,
    query: Any,
    file: Any,
    database: Any,
    parameters: Any,
    values: Any,
    folder: Path,
) -> SqlTask:
    """The function of a SQL task; ``Flow.sql`` registers it.

    Raises:
        DefinitionError: DuckDB is not installed, neither or both of query and file,
            a missing file, or a bad option.
    """
    where = f"flow {flow_name!r}, task {name!r}" if name else f"flow {flow_name!r}"
    problems = []
    if importlib.util.find_spec("duckdb") is None:
        problems.append(f"{where}: SQL tasks run on DuckDB, which is not installed: {SQL_EXTRA}")
    if (query is None) == (file is None):
        problems.append(f"{where}: give query= or file= (one of them) for a SQL task")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        problems.append(f"{where}: option query={query!r} is invalid; allowed: SQL text")
    if not isinstance(parameters, Mapping) or not all(isinstance(k, str) for k in parameters):
        problems.append(f"{where}: option parameters={parameters!r} is invalid; a mapping")
    if values not in VALUES_CHOICES:
        problems.append(f"{where}: option values={values!r} is invalid; None or 'first_row'")
    if database is not None and not isinstance(database, str | Path):
        problems.append(f"{where}: option database={database!r} is invalid; a path or ':memory:'")
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    path = resolve_path(flow_name, name, file, folder, kind="SQL file") if file else None
    task_key = name or (path.stem if path else None)
    if task_key is None:
        msg = f"{where}: a SQL task with query= needs a name: flow.sql('metrics', query=...)"
        raise DefinitionError(msg)
    return SqlTask(
        flow_name=flow_name,
        task_key=task_key,
        query=query,
        file=None if path is None else str(path),
        database=None if database is None else str(database),
        parameters=dict(parameters),
        values=values,
    )
