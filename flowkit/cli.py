"""The command line, ``python -m flowkit``: argparse in front of the loader, runtime and graph.

Each subcommand is one ``_add_<name>`` function that declares its arguments
and one ``_<name>`` function that runs it and returns the exit code (0 the run
succeeded, 1 it failed, 2 usage or definition error, 130 interrupted). The
command line is the application: it, not the library, configures logging.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from flowkit import runtime
from flowkit.errors import DefinitionError, FlowkitError
from flowkit.state import RunState, TaskRun, TaskState

if TYPE_CHECKING:
    from flowkit.plan import Plan
    from flowkit.runtime import ActiveRun
    from flowkit.state import RunResult

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

TARGET_HELP = "the flow: a file PATH.py or a module MODULE, then :FLOW when it holds several"
LOG_FORMAT = "<green>{time:HH:mm:ss}</green>  <level>{level: <7}</level>  {message}"
STATE_WIDTH = max(len(state.value) for state in TaskState)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse printed the usage error, or --help
        code = exit_request.code
        return code if isinstance(code, int) else EXIT_USAGE
    with _logging(verbose=args.verbose):
        try:
            return args.handler(args)
        except DefinitionError as error:
            _print_error(error)
            return EXIT_USAGE
        except FlowkitError as error:
            _print_error(error)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("flowkit: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    from flowkit import __version__

    parser = argparse.ArgumentParser(
        prog="flowkit",
        description="Declare workflow DAGs in Python; run and inspect them.",
    )
    parser.add_argument("--version", action="version", version=f"flowkit {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="log at DEBUG level instead of INFO"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_run(commands, common)
    _add_graph(commands, common)
    return parser


# -- run ---------------------------------------------------------------------------------
def _add_run(commands: Any, common: argparse.ArgumentParser) -> None:
    from flowkit.executors import EXECUTOR_NAMES

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a flow to its end",
        description="Run a flow to its end, printing each task's state as it changes.",
    )
    run.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    run.add_argument(
        "-p",
        "--param",
        dest="params",
        metavar="KEY=VALUE",
        action="append",
        type=_param,
        default=[],
        help="override a declared parameter (repeatable; VALUE may contain '=')",
    )
    run.add_argument(
        "--executor",
        metavar="NAME",
        default=None,
        help=f"where tasks run: {', '.join(EXECUTOR_NAMES)} (default: the library's default)",
    )
    run.add_argument(
        "--max-parallel",
        metavar="N",
        type=_positive_int,
        default=None,
        help="how many tasks may run at once (default: the flow's max_parallel)",
    )
    run.add_argument(
        "--grace-period",
        metavar="SECONDS",
        type=float,
        default=None,
        help="local executor: seconds between SIGTERM and SIGKILL when a timeout or a "
        "cancel stops a task (default: 5)",
    )
    run.set_defaults(handler=_run)


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


def _executor(args: argparse.Namespace) -> Any:
    """What ``runtime.run`` gets as ``executor``: the name as given, or None for the default.

    The seam for executor options (a cluster address, a worker count): they
    will turn the name and those options into an executor object here.
    """
    if args.grace_period is None:
        return args.executor
    if args.executor not in (None, "local"):
        msg = f"--grace-period applies to the local executor, not to {args.executor!r}"
        raise DefinitionError(msg)
    if args.grace_period < 0:
        msg = f"--grace-period {args.grace_period:g} is invalid; give seconds >= 0"
        raise DefinitionError(msg)
    from flowkit.executors.local import LocalExecutor

    return LocalExecutor(grace_period=args.grace_period)


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
    from flowkit.loader import load_flow

    flow = load_flow(args.target)
    plan = flow.plan()  # every definition problem, before anything prints or runs
    printer = ProgressPrinter(plan)
    with _sigterm_cancels():
        result = runtime.run(
            flow,
            params=dict(args.params),
            params_from_text=True,
            executor=_executor(args),
            max_parallel=args.max_parallel,
            listeners=[printer],
        )
    sys.stdout.flush()
    for text in failure_reports(result, plan):
        print(text, file=sys.stderr, flush=True)
    print(format_summary(result, plan), flush=True)
    return exit_code(result.state)


def exit_code(state: RunState) -> int:
    """The exit code of a run that ended in ``state``."""
    if state.is_success:
        return EXIT_SUCCEEDED
    if state is RunState.CANCELLED:
        return EXIT_INTERRUPTED
    return EXIT_FAILED


class ProgressPrinter(runtime.EchoOutput):
    """Prints the run id when a run starts, one line per task state change, and task output."""

    def __init__(self, plan: Plan, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.plan = plan
        self.name_width = max(len(name) for name in plan.order)

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)

    def run_started(self, run: ActiveRun) -> None:
        params = ", ".join(f"{key}={value}" for key, value in run.params.items()) or "none"
        executor = getattr(run.executor, "name", type(run.executor).__name__)
        self._print(
            f"run {run.run_id} of flow {run.name!r} started: {len(run.tasks)} tasks, "
            f"params {params}, executor {executor}, max_parallel {run.max_parallel}"
        )

    def task_changed(self, run: ActiveRun, task: TaskRun) -> None:
        line = (
            f"{time.strftime('%H:%M:%S')}  {task.name:<{self.name_width}}  "
            f"{task.state.value:<{STATE_WIDTH}}  {self._detail(task)}"
        )
        self._print(line.rstrip())

    def _detail(self, task: TaskRun) -> str:
        spec = self.plan.tasks[task.name]
        state = task.state
        if state is TaskState.RUNNING and spec.retries:
            of = f" of {spec.retries + 1}" if spec.retries > 0 else ""
            return f"(attempt {task.attempts}{of})"
        if state is TaskState.WAITING_FOR_RETRY:
            delay = spec.retry.delay_before(task.attempts)
            when = f"in {format_duration(delay)}" if delay > 0 else "now"
            error = f"{task.error.summary}; " if task.error else ""
            return f"{error}retrying {when}"
        if state in (TaskState.FAILED, TaskState.TIMED_OUT) and task.error:
            return task.error.summary
        if state is TaskState.SUCCEEDED and task.duration is not None:
            return f"({format_duration(task.duration)})"
        if state in (TaskState.UPSTREAM_FAILED, TaskState.EXCLUDED):
            return f"(run_if {spec.run_if.value})"
        return ""


def failure_reports(result: RunResult, plan: Plan) -> Iterator[str]:
    """The full error of every task that ended failed or timed out, level by level."""
    for name in _in_level_order(plan):
        task = result.tasks[name]
        if task.state in (TaskState.FAILED, TaskState.TIMED_OUT) and task.error:
            text = task.error.traceback.rstrip() or task.error.summary
            body = "\n".join(f"  {line}" for line in text.splitlines())
            yield f"task {name} {task.state.value} after {task.attempts} attempt(s):\n{body}"


def format_summary(result: RunResult, plan: Plan) -> str:
    """The table of tasks (state, attempts, duration, error) and the run's closing line."""
    header = ("task", "state", "attempts", "duration", "error")
    rows = [header]
    for name in _in_level_order(plan):
        task = result.tasks[name]
        duration = format_duration(task.duration) if task.duration is not None else "-"
        error = task.error.summary if task.error else ""
        rows.append((name, task.state.value, str(task.attempts), duration, error))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4],
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append(f"run {result.run_id} {result.state.value} in {format_duration(result.duration)}")
    return "\n".join(lines)


def _in_level_order(plan: Plan) -> list[str]:
    """Tasks level by level, in definition order within a level: how the graph draws them."""
    return [name for level in plan.levels for name in level]


def format_duration(seconds: float) -> str:
    """``0.42s``, ``12.3s``, ``2m05s`` or ``1h02m``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{whole_seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


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
        type=int,
        default=None,
        help="columns to draw in (default: the terminal's width; 0: no limit); "
        "a wider flow is listed level by level instead",
    )
    graph.set_defaults(handler=_graph)


def _graph(args: argparse.Namespace) -> int:
    from flowkit.graph import render
    from flowkit.loader import load_flow

    plan = load_flow(args.target).plan()
    width = shutil.get_terminal_size().columns if args.width is None else args.width
    print(render(plan, width=width or None))
    return EXIT_SUCCEEDED


# -- output ------------------------------------------------------------------------------
def _print_error(error: FlowkitError) -> None:
    sys.stdout.flush()
    print(f"flowkit: error: {error}", file=sys.stderr, flush=True)


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
