"""``Task``, and the task kinds' registration methods of ``Flow``: shell, compare, sql, ...

Each builds the kind's function (``_definition.kinds``) and registers it with
``task`` or ``condition``, the one way a task enters a flow. ``Flow`` inherits
them; paths a kind takes are relative to ``source_folder``, the folder of the
file that built the flow.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flowkit._definition.kinds import (
    compare,
    dbt,
    for_each,
    notebook,
    run_flow,
    script,
    shell,
    sql,
)
from flowkit._definition.spec import Dependency, TaskSpec
from flowkit._errors import DefinitionError


class Task:
    """A function registered as a task; calling it calls the function in this process."""

    def __init__(self, spec: TaskSpec, flow: Any) -> None:  # flow: the Flow it belongs to
        self.spec = spec
        self.flow = flow
        functools.update_wrapper(self, spec.fn)

    @property
    def fn(self) -> Callable[..., Any]:
        return self.spec.fn

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.spec.fn(*args, **kwargs)

    @property
    def if_true(self) -> Dependency:
        """A dependency followed when this condition task returned True."""
        return self._outcome(outcome=True)

    @property
    def if_false(self) -> Dependency:
        """A dependency followed when this condition task returned False."""
        return self._outcome(outcome=False)

    def _outcome(self, *, outcome: bool) -> Dependency:
        if not self.spec.condition:
            branch = "if_true" if outcome else "if_false"
            msg = (
                f"flow {self.flow.name!r}, task {self.name!r} is not a condition task, so "
                f"it has no {branch} outcome to depend on; declare it with "
                f"@{self.flow.name}.condition, or depend on the task itself"
            )
            raise DefinitionError(msg)
        return Dependency(self.name, self.flow.name, outcome=outcome)

    def __repr__(self) -> str:
        return f"<Task {self.flow.name}.{self.name}>"


class TaskKinds:
    """The kinds of task a flow registers besides plain functions."""

    name: str
    source_folder: Path
    task: Callable[..., Any]
    condition: Callable[..., Any]

    def shell(
        self,
        name: str,
        command: str,
        *,
        depends_on: Iterable[Any] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Task:
        """Register a shell task: ``command`` runs through ``/bin/sh`` as the task.

        ``{{job.parameters.NAME}}``, ``{{tasks.NAME.values.KEY}}`` and the other
        references in ``command``, ``env`` and ``cwd`` are filled in when the attempt
        starts (in ``command`` each as one quoted shell word); ``env`` adds variables
        to the attempt's environment, ``cwd`` sets its directory; ``options`` are those
        of ``@flow.task``.
        """
        function = shell.shell_command(
            self.name, name, command, env=env, cwd=cwd, task_options=options
        )
        return self.task(name=name, depends_on=depends_on, **options)(function)

    def compare(
        self,
        name: str,
        left: Any,
        op: str,
        right: Any,
        *,
        depends_on: Iterable[Any] = (),
        **options: Any,
    ) -> Task:
        """Register a declarative condition task: ``left op right`` (Databricks If/else).

        ``==`` and ``!=`` compare as text, ``>``, ``>=``, ``<``, ``<=`` as numbers;
        either side may be a ``{{...}}`` reference. Dependents follow ``.if_true`` or
        ``.if_false``; ``options`` are those of ``@flow.task``.
        """
        function = compare.comparison(self.name, name, left, op, right)
        return self.condition(name=name, depends_on=depends_on, **options)(function)

    def run_flow(
        self,
        name: str,
        child: Any,  # a Flow
        *,
        params: Mapping[str, Any] | None = None,
        depends_on: Iterable[Any] = (),
        executor: Any = "local",
        **options: Any,
    ) -> Task:
        """Register a task that runs ``child`` as a child run (Databricks Run Job).

        ``params`` override the child's parameters (string values may hold
        references); ``executor`` is where the child's tasks run (``"local"`` or
        ``"inline"``); ``options`` are those of ``@flow.task``. The task returns
        ``{"flow", "run_id", "state"}`` and sets the values ``run_id`` and ``state``.
        """
        function = run_flow.run_flow(self, name, child, params=params, executor=executor)
        return self.task(name=name, depends_on=depends_on, **options)(function)

    def for_each(
        self,
        *,
        over: Any,
        name: str | None = None,
        concurrency: int = 4,
        depends_on: Iterable[Any] = (),
        executor: str = "local",
        max_inputs: int = for_each.DEFAULT_MAX_INPUTS,
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Task]:
        """Register a for-each task: ``@flow.for_each(over=[...], concurrency=4)``.

        The function runs once per input, which it receives as ``item``. ``over`` is
        a list, an upstream task (its return value), or a reference to a list;
        ``retries``, ``retry_delay``, ``retry_backoff``, ``retry_on_timeout`` and
        ``timeout`` apply to each iteration, the other options to the task.
        """

        def register(body: Callable[..., Any]) -> Task:
            dependencies = list(depends_on)
            source_task = None
            if isinstance(over, Task):
                source_task = over.name
                if over not in dependencies and over.name not in dependencies:
                    dependencies.append(over)
            task_options = dict(options)
            function = for_each.for_each(
                self.name,
                body,
                over=over,
                source_task=source_task,
                name=name,
                concurrency=concurrency,
                executor=executor,
                max_inputs=max_inputs,
                task_options=task_options,  # keeps the options of the task itself
            )
            return self.task(name=function.task_key, depends_on=dependencies, **task_options)(
                function
            )

        return register

    def python_script(
        self,
        path: str | os.PathLike[str],
        *,
        args: Iterable[Any] = (),
        name: str | None = None,
        depends_on: Iterable[Any] = (),
        **options: Any,
    ) -> Any:
        """Register a task that runs ``sys.executable PATH ARGS`` (Databricks' Python script).

        ``path`` is relative to the flow file's folder; the task's name is its stem
        unless ``name`` is given; references in ``args`` are filled when it starts.
        """
        function = script.python_script(self.name, name, path, args, self.source_folder)
        return self.task(name=function.task_key, depends_on=depends_on, **options)(function)

    def notebook(
        self,
        path: str | os.PathLike[str],
        *,
        parameters: Mapping[str, Any] | None = None,
        name: str | None = None,
        depends_on: Iterable[Any] = (),
        **options: Any,
    ) -> Any:
        """Register a notebook task (extra ``flowkit[notebook]``): ``.ipynb`` or Databricks source.

        ``parameters`` become variables in a cell after the one tagged ``parameters``
        and ``dbutils.widgets``; references in them are filled when it starts; what
        ``dbutils.notebook.exit(value)`` gives is the task's return value.
        """
        function = notebook.notebook_task(
            self.name, name, path, {} if parameters is None else parameters, self.source_folder
        )
        return self.task(name=function.task_key, depends_on=depends_on, **options)(function)

    def dbt(
        self,
        commands: Iterable[str],
        *,
        project_dir: str | os.PathLike[str] = ".",
        profiles_dir: str | os.PathLike[str] | None = None,
        target: str | None = None,
        name: str | None = None,
        depends_on: Iterable[Any] = (),
        **options: Any,
    ) -> Any:
        """Register a dbt task (extra ``flowkit[dbt]``): dbt-core's ``dbtRunner`` in the attempt.

        The status counts are the task value ``dbt``; a failed node fails the task.
        """
        function = dbt.dbt_task(
            self.name,
            name,
            list(commands) if not isinstance(commands, str) else commands,
            project_dir=project_dir,
            profiles_dir=profiles_dir,
            target=target,
            folder=self.source_folder,
        )
        return self.task(name=function.task_key, depends_on=depends_on, **options)(function)

    def sql(
        self,
        name: str | None = None,
        *,
        query: str | None = None,
        file: str | os.PathLike[str] | None = None,
        database: str | os.PathLike[str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        values: str | None = None,
        depends_on: Iterable[Any] = (),
        **options: Any,
    ) -> Any:
        """Register a SQL task on DuckDB (extra ``flowkit[sql]``): ``query=`` or ``file=``.

        Parameters are bound as ``$name``; the last statement's row count is the task
        value ``rows``, and ``values="first_row"`` adds its first row's columns.
        """
        function = sql.sql_task(
            self.name,
            name,
            query=query,
            file=file,
            database=database,
            parameters={} if parameters is None else parameters,
            values=values,
            folder=self.source_folder,
        )
        return self.task(name=function.task_key, depends_on=depends_on, **options)(function)
