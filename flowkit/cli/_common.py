"""What the commands share: exit codes, help texts, option types, and how a run ends."""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flowkit._errors import (
    DefinitionError,
)
from flowkit._state import RunState
from flowkit._text import escape, write_out

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan
    from flowkit._state import RunResult
from flowkit.cli._render.summary import failure_reports, format_summary

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
    """What ``_engine.run_flow`` gets as ``executor``: a name, an executor object, or None.

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


def _report(result: RunResult, plan: Plan) -> int:
    """Print how the run ended (failures on stderr, the summary on stdout); its exit code."""
    write_out("")  # what the display wrote goes out before the errors
    for text in failure_reports(result, plan):
        write_out(f"{text}\n", sys.stderr)
    if result.cancel_reason:
        ended = f"run {result.state.value}: {escape(result.cancel_reason)}"
        write_out(f"flowkit: {ended}\n", sys.stderr)
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


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """--job and -t/--target: which job of a bundle (or JSON file) TARGET is."""
    group = parser.add_argument_group("Databricks bundles (TARGET is databricks.yml or job.json)")
    group.add_argument("--job", metavar="KEY", default=None, help="the bundle's job to use")
    group.add_argument(
        "-t",
        "--target",
        dest="bundle_target",
        metavar="NAME",
        default=None,
        help="the bundle target whose variables and overrides apply (default: its default)",
    )


def load_any(args: argparse.Namespace) -> Any:
    """The flow ``args.target`` names: a Python flow, a Jobs JSON file or a bundle's job.

    For a command that declared ``add_job_options``.
    """
    from flowkit._interop.targets import load_target

    return load_target(args.target, job=args.job, bundle_target=args.bundle_target)
