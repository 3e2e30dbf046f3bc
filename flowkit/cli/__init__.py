"""The command line, ``python -m flowkit``: argparse in front of the loader, runtime and graph.

Each subcommand is one ``_add_<name>`` function that declares its arguments
and one ``_<name>`` function that runs it and returns the exit code (0 the run
succeeded, 1 it failed, 2 usage or definition error, 130 interrupted). The
command line is the application: it, not the library, configures logging.

Output to a reader that has gone (``flowkit run ... | head``) is dropped, as a
Unix tool drops it: ``run`` and ``repair`` go on to the run's end, record it
and exit with its code; ``runs``, ``show``, ``logs`` and ``graph`` stop quietly
with exit code 0. Text a task or a user supplied is escaped before it is
printed (``_render.text``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from loguru import logger

from flowkit import _engine
from flowkit._errors import (
    DefinitionError,
    ExecutorError,
    FlowkitError,
    RunInterrupted,
    StoreError,
)
from flowkit._state import RunState, TaskState
from flowkit._text import drop_output, escape, escape_lines, write_out
from flowkit.cli._render.progress import format_duration, progress_listener

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan
    from flowkit._state import RunResult

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

HOME_HELP = (
    "where the run history (flowkit.db) and task logs live "
    "(default: $FLOWKIT_HOME, else .flowkit in the working directory)"
)
RUN_ID_HELP = "a run id, or a prefix of one that no other run shares (as `flowkit runs` lists)"
DEFAULT_RUNS_LIMIT = 20
TARGET_HELP = "the flow: a file PATH.py or a module MODULE, then :FLOW when it holds several"
LOG_FORMAT = "<green>{time:HH:mm:ss}</green>  <level>{level: <7}</level>  {message}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse printed the usage error, or --help
        code = exit_request.code
        return code if isinstance(code, int) else EXIT_USAGE
    if args.home is not None:
        # For the whole process, so the local executor's logs follow the store.
        os.environ["FLOWKIT_HOME"] = str(Path(args.home).expanduser().absolute())
    with _logging(verbose=args.verbose):
        try:
            code = args.handler(args)
            sys.stdout.flush()  # a reader gone: said here, not by the interpreter at exit
        except BrokenPipeError:  # the reader has gone (| head): the rest is not wanted
            drop_output()
            return EXIT_SUCCEEDED
        except (DefinitionError, ExecutorError, StoreError) as error:  # nothing ran
            _print_error(error)
            return EXIT_USAGE
        except FlowkitError as error:
            _print_error(error)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("flowkit: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        else:
            return code


def entry_point() -> NoReturn:
    """The ``flowkit`` command and ``python -m flowkit``: ``main``, then exit with its code."""
    code = main()
    # The run is over and reported: a late Ctrl-C, while the interpreter tears down
    # (threads, exit handlers), must not turn the exit code into a death by SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(code)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    from flowkit import __version__

    parser = argparse.ArgumentParser(
        prog="flowkit",
        description="Declare workflow DAGs in Python; run and inspect them.",
    )
    parser.add_argument("--version", action="version", version=f"flowkit {__version__}")
    parser.add_argument("--home", metavar="DIR", default=None, help=HOME_HELP)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="log at DEBUG level instead of INFO"
    )
    # Also after the subcommand; SUPPRESS keeps it from clobbering one given before it.
    common.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS, help=HOME_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_run(commands, common)
    _add_graph(commands, common)
    _add_runs(commands, common)
    _add_show(commands, common)
    _add_logs(commands, common)
    _add_repair(commands, common)
    return parser


# -- run ---------------------------------------------------------------------------------
def _add_run(commands: Any, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a flow to its end",
        description="Run a flow to its end, printing each task's state as it changes.",
    )
    run.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    _add_execution_options(run)
    run.set_defaults(handler=_run)


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    """-p, --executor, --max-parallel and --grace-period: shared by run and repair."""
    from flowkit.executors import EXECUTOR_NAMES

    parser.add_argument(
        "-p",
        "--param",
        dest="params",
        metavar="KEY=VALUE",
        action="append",
        type=_param,
        default=[],
        help="override a declared parameter (repeatable; VALUE may contain '=')",
    )
    parser.add_argument(
        "--executor",
        metavar="NAME",
        default=None,
        help=f"where tasks run: {', '.join(EXECUTOR_NAMES)} (default: the library's default)",
    )
    parser.add_argument(
        "--max-parallel",
        metavar="N",
        type=_positive_int,
        default=None,
        help="how many tasks may run at once (default: the flow's max_parallel)",
    )
    parser.add_argument(
        "--grace-period",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="local and dask executors: seconds between SIGTERM and SIGKILL when a timeout "
        "or a cancel stops a task (default: 5)",
    )
    parser.add_argument(
        "--address",
        metavar="tcp://HOST:PORT",
        default=None,
        help="dask executor: the scheduler to run on (default: $FLOWKIT_DASK_ADDRESS, else an "
        "ephemeral local cluster for the run); implies --executor dask",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=_positive_int,
        default=None,
        help="dask executor: worker processes of the ephemeral cluster (default: one per "
        "core); implies --executor dask",
    )


def _param(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        msg = f"{text!r} is not KEY=VALUE; write it as -p {key or 'KEY'}=VALUE"
        raise argparse.ArgumentTypeError(msg)
    return key, value


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        msg = f"{text!r} is not a whole number >= 1"
        raise argparse.ArgumentTypeError(msg)
    return number


def _columns(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        msg = f"{text!r} is not a number of columns; give a whole number >= 0 (0: no limit)"
        raise argparse.ArgumentTypeError(msg)
    return number


def _seconds(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        msg = f"{text!r} is not a number of seconds; give a finite number >= 0, such as 5 or 0.5"
        raise argparse.ArgumentTypeError(msg)
    return number


def _executor(args: argparse.Namespace, flow_name: str) -> Any:
    """What ``_engine.run`` gets as ``executor``: a name, an executor object, or None.

    The executor options (``--grace-period``, ``--address``, ``--workers``) turn the
    name into an executor object; an option the chosen executor has no use for is an error.
    """
    name = args.executor
    dask_options = [
        option
        for option, value in (("--address", args.address), ("--workers", args.workers))
        if value is not None
    ]
    if dask_options and name is None:
        name = "dask"
    if dask_options and name != "dask":
        verb = "apply" if len(dask_options) > 1 else "applies"
        msg = f"{' and '.join(dask_options)} {verb} to the dask executor, not to {name!r}"
        raise DefinitionError(msg)
    if args.grace_period is not None:
        if name not in (None, "local", "dask"):
            msg = f"--grace-period applies to the local and dask executors, not to {name!r}"
            raise DefinitionError(msg)
        if args.grace_period < 0:
            msg = f"--grace-period {args.grace_period:g} is invalid; give seconds >= 0"
            raise DefinitionError(msg)
    options = {} if args.grace_period is None else {"grace_period": args.grace_period}
    if name == "dask":
        from flowkit.executors import dask_executor

        return dask_executor(
            flow_name=flow_name, address=args.address, workers=args.workers, **options
        )
    if options:
        from flowkit.executors._local import LocalExecutor

        return LocalExecutor(**options)
    return name


@contextlib.contextmanager
def _sigterm_cancels() -> Iterator[None]:
    """While running, SIGTERM cancels the run as Ctrl-C does (then exit 130)."""

    def cancel(signal_number: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    from flowkit._engine.loader import load_flow

    flow = load_flow(args.target)
    plan = flow.plan()  # every definition problem, before anything prints or runs
    printer = progress_listener(plan)
    with _sigterm_cancels():
        try:
            result = _engine.run(
                flow,
                params=dict(args.params),
                params_from_text=True,
                executor=_executor(args, flow.name),
                max_parallel=args.max_parallel,
                listeners=[printer],
            )
        except RunInterrupted as interrupted:  # cancelled and recorded: report it, exit 130
            result = interrupted.result
    return _report(result, plan)


def _report(result: RunResult, plan: Plan) -> int:
    """Print how the run ended (failures on stderr, the summary on stdout); its exit code."""
    write_out("")  # what the display wrote goes out before the errors
    for text in failure_reports(result, plan):
        write_out(f"{text}\n", sys.stderr)
    if result.cancel_reason:
        write_out(f"flowkit: run cancelled: {escape(result.cancel_reason)}\n", sys.stderr)
    write_out(f"{format_summary(result, plan)}\n")
    return exit_code(result.state, cancel_reason=result.cancel_reason)


def exit_code(state: RunState, *, cancel_reason: str | None = None) -> int:
    """The exit code of a run that ended in ``state``.

    A run cancelled because its executor was lost (not by Ctrl-C) failed: exit 1.
    """
    if state.is_success:
        return EXIT_SUCCEEDED
    if state is RunState.CANCELLED and cancel_reason is None:
        return EXIT_INTERRUPTED
    return EXIT_FAILED


def failure_reports(result: RunResult, plan: Plan) -> Iterator[str]:
    """The full error of every task that ended failed or timed out, level by level."""
    for name in _in_level_order(plan):
        task = result.tasks[name]
        if task.state in (TaskState.FAILED, TaskState.TIMED_OUT) and task.error:
            text = escape_lines(task.error.traceback.rstrip() or task.error.summary)
            body = "\n".join(f"  {line}" for line in text.splitlines())
            yield f"task {name} {task.state.value} after {task.attempts} attempt(s):\n{body}"


def format_summary(result: RunResult, plan: Plan) -> str:
    """The table of tasks (state, attempts, duration, compute, error) and the closing lines.

    The closing lines: the compute seconds of the attempts counted, the cluster
    when the executor held one, and how the run ended.
    """
    from flowkit.cli._render.history import format_cluster, format_compute

    header = ("task", "state", "attempts", "duration", "compute", "error")
    rows = [header]
    for name in _in_level_order(plan):
        task = result.tasks[name]
        duration = format_duration(task.duration) if task.duration is not None else "-"
        compute = format_duration(task.compute_seconds) if task.attempts else "-"
        error = escape(task.error.summary) if task.error else ""
        rows.append((name, task.state.value, str(task.attempts), duration, compute, error))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4].rjust(widths[4]),
            row[5],
        ]
        lines.append("  ".join(cells).rstrip())
    attempts = sum(task.attempts for task in result.tasks.values())
    lines.append("")
    lines.append(format_compute(result.compute_seconds, attempts))
    if result.cluster is not None:
        lines.append(format_cluster(result.cluster))
    lines.append(f"run {result.run_id} {result.state.value} in {format_duration(result.duration)}")
    return "\n".join(lines)


def _in_level_order(plan: Plan) -> list[str]:
    """Tasks level by level, in definition order within a level: how the graph draws them."""
    return [name for level in plan.levels for name in level]


# -- graph -------------------------------------------------------------------------------
def _add_graph(commands: Any, common: argparse.ArgumentParser) -> None:
    graph = commands.add_parser(
        "graph",
        parents=[common],
        help="draw a flow's tasks and dependencies",
        description="Draw a flow as boxes and arrows, one row per level of its plan.",
    )
    graph.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    graph.add_argument(
        "--width",
        metavar="N",
        type=_columns,
        default=None,
        help="columns to draw in (default: the terminal's width; 0: no limit); "
        "a wider flow is listed level by level instead",
    )
    graph.set_defaults(handler=_graph)


def _graph(args: argparse.Namespace) -> int:
    from flowkit._engine.loader import load_flow
    from flowkit.cli._render.graph import render

    plan = load_flow(args.target).plan()
    width = shutil.get_terminal_size().columns if args.width is None else args.width
    print(render(plan, width=width or None))
    return EXIT_SUCCEEDED


# -- run history: runs, show, logs ---------------------------------------------------------
def _add_runs(commands: Any, common: argparse.ArgumentParser) -> None:
    runs = commands.add_parser(
        "runs",
        parents=[common],
        help="list recorded runs, newest first",
        description="List recorded runs, newest first: id, flow, state, start (local time), "
        "duration and repair count. A run whose orchestrator died shows as interrupted.",
    )
    runs.add_argument("--flow", metavar="NAME", default=None, help="only runs of this flow")
    runs.add_argument(
        "--limit",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_RUNS_LIMIT,
        help=f"show at most N runs (default: {DEFAULT_RUNS_LIMIT})",
    )
    runs.set_defaults(handler=_runs)


def _runs(args: argparse.Namespace) -> int:
    from flowkit._store import default_path
    from flowkit.cli._render.history import format_runs

    if not default_path().exists():
        print(f"no runs recorded yet in {default_path()}")
        return EXIT_SUCCEEDED
    with _history_store() as store:
        print(format_runs(store.list_runs(flow=args.flow, limit=args.limit)))
    return EXIT_SUCCEEDED


def _add_show(commands: Any, common: argparse.ArgumentParser) -> None:
    show = commands.add_parser(
        "show",
        parents=[common],
        help="show one run and every task of it",
        description="Show a run (id, flow, state, params, start, duration, repair count, "
        "executor) and every task: state, attempts, duration, compute seconds, first line of "
        "its error, task values; then the compute seconds of every attempt of every pass, "
        "and the cluster the run held (dask).",
    )
    show.add_argument("run_id", metavar="RUN_ID", help=RUN_ID_HELP)
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from flowkit.cli._render.history import format_run, format_runs

    with _history_store() as store:
        run_id = store.resolve_run_id(args.run_id)
        run = store.get_run(run_id)
        assert run is not None  # resolve_run_id found it
        print(format_run(run, store.get_tasks(run_id), store.get_attempts(run_id)))
        children = [child for child in store.list_runs() if child.parent_run_id == run_id]
        if children:  # run-flow tasks' child runs and for-each tasks' iterations
            print(f"\nchild runs (for-each iterations, run-flow tasks):\n{format_runs(children)}")
    return EXIT_SUCCEEDED


def _add_logs(commands: Any, common: argparse.ArgumentParser) -> None:
    logs = commands.add_parser(
        "logs",
        parents=[common],
        help="print the captured output of a run's tasks",
        description="Print what a run's task attempts printed: the latest attempt of every "
        "task, or of TASK; with --attempt N, attempt N (of each repair pass that made one). "
        "An attempt that failed ends with its stored traceback. Control characters and "
        "escape sequences in the output are shown escaped (\\x1b), as is every other text a "
        "task wrote; --raw prints the log exactly as the task wrote it.",
    )
    logs.add_argument("run_id", metavar="RUN_ID", help=RUN_ID_HELP)
    logs.add_argument("task", metavar="TASK", nargs="?", default=None, help="only this task")
    logs.add_argument(
        "--attempt", metavar="N", type=_positive_int, default=None, help="this attempt (1-based)"
    )
    logs.add_argument(
        "--raw",
        action="store_true",
        help="print the output as written, escape sequences (colours, titles) included",
    )
    logs.set_defaults(handler=_logs)


def _logs(args: argparse.Namespace) -> int:
    from flowkit.cli._render import history

    with _history_store() as store:
        run_id = store.resolve_run_id(args.run_id)
        tasks = store.get_tasks(run_id)
        if args.task is not None and args.task not in tasks:
            msg = f"run {run_id} has no task {args.task!r}; its tasks: {', '.join(tasks)}"
            raise StoreError(msg)
        attempts = store.get_attempts(run_id, args.task)
    names = [args.task] if args.task is not None else list(tasks)
    if args.attempt is None:
        chosen = history.latest_attempts(attempts)
        selected = {name: [chosen[name]] for name in names if name in chosen}
    else:
        selected = {
            name: [a for a in attempts if a.task_key == name and a.attempt == args.attempt]
            for name in names
        }
        if args.task is not None and not selected[args.task]:
            made = sorted({a.attempt for a in attempts})
            msg = (
                f"task {args.task!r} of run {run_id} has no attempt {args.attempt}; "
                f"its attempts: {', '.join(map(str, made)) or 'none (it never ran)'}"
            )
            raise StoreError(msg)
    home = history.home_folder()
    pages = []
    for name in names:
        if not selected.get(name):
            never = "never ran" if args.attempt is None else f"made no attempt {args.attempt}"
            pages.append(f"== {name}: {never} ({tasks[name].state.value}): no output ==")
            continue
        for attempt in selected[name]:
            text = history.read_log(attempt, home)
            error = history.attempt_error(attempt)
            page = text if error is None else f"{text}\n{error}"
            pages.append(
                f"{history.attempt_heading(attempt)}\n{page if args.raw else escape_lines(page)}"
            )
    print("\n".join(pages))
    return EXIT_SUCCEEDED


@contextlib.contextmanager
def _history_store() -> Iterator[Any]:
    """The store of the current home, opened read-only; a missing one is a StoreError."""
    from flowkit._store import open_store

    store = open_store(create=False, read_only=True)
    try:
        yield store
    finally:
        store.close()


# -- repair ------------------------------------------------------------------------------
def _add_repair(commands: Any, common: argparse.ArgumentParser) -> None:
    repair = commands.add_parser(
        "repair",
        parents=[common],
        help="re-run what failed in a recorded run, inside the same run",
        description="Repair a recorded run: re-run, inside the same run (its repair count "
        "+ 1), the tasks that ended failed, timed_out, upstream_failed or cancelled, or "
        "never ended because the orchestrator died; or only the --task ones. Every other "
        "task keeps its stored state and task values, and the tasks re-run read them as "
        "if the run had never stopped. A repair runs the flow's current code (that is how a "
        "fix gets in), loaded from the target the run was started from, as the run "
        "recorded it, or from TARGET when given.",
    )
    repair.add_argument("run_id", metavar="RUN_ID", help=RUN_ID_HELP)
    repair.add_argument(
        "target",
        metavar="PATH.py[:FLOW]|MODULE[:FLOW]",
        nargs="?",
        default=None,
        help=f"{TARGET_HELP}; its current code is what runs (default: the target the run "
        "was started from, as recorded)",
    )
    repair.add_argument(
        "--task",
        dest="tasks",
        metavar="NAME",
        action="append",
        default=[],
        help="re-run this task, whatever its state (repeatable); the default is every "
        "task that did not succeed",
    )
    repair.add_argument(
        "--rerun-dependents",
        action="store_true",
        help="with --task: also re-run every task downstream of the named ones",
    )
    _add_execution_options(repair)
    repair.set_defaults(handler=_repair)


def _repair(args: argparse.Namespace) -> int:
    from flowkit._engine.repair import refuse_child_run, repair, select_tasks
    from flowkit._store import open_store

    if args.rerun_dependents and not args.tasks:
        msg = "--rerun-dependents needs --task NAME: it re-runs what is downstream of those"
        raise DefinitionError(msg)
    store = open_store(create=False)
    try:
        run_id = store.resolve_run_id(args.run_id)
        record = store.get_run(run_id)  # reading settles a dead orchestrator's run
        assert record is not None
        refuse_child_run(store, record)
        flow = _repair_flow(record, args.target)
        plan = flow.plan()
        if record.flow_name != flow.name:
            msg = (
                f"run {run_id} is a run of flow {record.flow_name!r}, not of {flow.name!r}; "
                f"name the flow that ran it"
            )
            raise DefinitionError(msg)
        states = {name: task.state for name, task in store.get_tasks(run_id).items()}
        selected = select_tasks(
            plan, states, tasks=args.tasks, rerun_dependents=args.rerun_dependents
        )
        if not selected and record.state is not RunState.RUNNING:
            print(
                f"nothing to repair: run {run_id} {record.state.value} "
                "(name tasks with --task to re-run them anyway)"
            )
            return EXIT_SUCCEEDED
        with _sigterm_cancels():
            try:
                result = repair(
                    flow,
                    run_id,
                    tasks=args.tasks,
                    rerun_dependents=args.rerun_dependents,
                    params=dict(args.params),
                    params_from_text=True,
                    executor=_executor(args, flow.name),
                    max_parallel=args.max_parallel,
                    store=store,
                    listeners=[progress_listener(plan)],
                )
            except RunInterrupted as interrupted:  # cancelled and recorded: exit 130
                result = interrupted.result
    finally:
        store.close()
    return _report(result, plan)


def _repair_flow(record: Any, target: str | None) -> Any:
    """The flow a repair runs: loaded from ``target``, else from the target the run recorded."""
    from flowkit._engine.loader import load_flow

    if target is not None:
        return load_flow(target)
    fix = f"pass the flow's target: flowkit repair {record.run_id} PATH.py[:FLOW] or MODULE[:FLOW]"
    if record.target is None:
        msg = (
            f"run {record.run_id} of flow {record.flow_name!r} records no target to load its "
            f"flow from (it was started from Python, or by a flowkit that did not record it); "
            f"{fix}"
        )
        raise DefinitionError(msg)
    try:
        return load_flow(record.target)
    except DefinitionError as error:
        msg = (
            f"run {record.run_id} of flow {record.flow_name!r} was started from "
            f"{record.target}, which does not load now: {error}\nTo load the flow from "
            f"elsewhere, {fix}"
        )
        raise DefinitionError(msg) from error


# -- output ------------------------------------------------------------------------------
def _print_error(error: FlowkitError) -> None:
    write_out("")
    write_out(f"flowkit: error: {escape_lines(error)}\n", sys.stderr)


@contextlib.contextmanager
def _logging(*, verbose: bool) -> Iterator[None]:
    """Send flowkit's logs and warnings to stderr for the duration of a command."""
    with contextlib.suppress(ValueError):  # loguru's default sink: replaced by ours, once
        logger.remove(0)
    sink = logger.add(sys.stderr, level="DEBUG" if verbose else "INFO", format=LOG_FORMAT)
    logger.enable("flowkit")
    show_warning = warnings.showwarning
    warnings.showwarning = _log_warning
    try:
        yield
    finally:
        warnings.showwarning = show_warning
        logger.disable("flowkit")
        logger.remove(sink)


def _log_warning(message: Warning | str, category: type[Warning], *where: Any) -> None:
    """``warnings.showwarning`` for the command line: one log line, no source location."""
    logger.warning("{}", message)
