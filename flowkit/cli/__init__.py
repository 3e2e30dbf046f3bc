"""The command line, ``python -m flowkit``: argparse in front of the loader, runtime and graph.

Each command group is a module (``_run``, ``_graph``, ``_history``, ``_repair``;
what they share in ``_common``, text output in ``_render``) with one
``_add_<name>`` function that declares a subcommand's arguments and one
``_<name>`` function that runs it and returns the exit code (0 the run
succeeded, 1 it failed, 2 usage or definition error, 130 interrupted). The
command line is the application: it, not the library, configures logging.

Output to a reader that has gone (``flowkit run ... | head``) is dropped, as a
Unix tool drops it: ``run`` and ``repair`` go on to the run's end, record it
and exit with its code; ``runs``, ``show``, ``logs`` and ``graph`` stop quietly
with exit code 0. Text a task or a user supplied is escaped before it is
printed (``flowkit._text``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from loguru import logger

from flowkit._errors import DefinitionError, ExecutorError, FlowkitError, StoreError
from flowkit._home import HOME_VARIABLE
from flowkit._text import drop_output, escape_lines, write_out
from flowkit.cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SUCCEEDED,
    EXIT_USAGE,
    HOME_HELP,
    LOG_FORMAT,
)
from flowkit.cli._export import _add_export
from flowkit.cli._graph import _add_graph
from flowkit.cli._history import _add_logs, _add_runs, _add_show
from flowkit.cli._notify import _add_notify
from flowkit.cli._repair import _add_repair
from flowkit.cli._report import _add_report, _add_ui
from flowkit.cli._run import _add_run
from flowkit.cli._serve import _add_operations
from flowkit.cli._values import _add_values


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
        os.environ[HOME_VARIABLE] = str(Path(args.home).expanduser().absolute())
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
    _add_report(commands, common)
    _add_ui(commands, common)
    _add_operations(commands, common)
    _add_notify(commands, common)
    _add_values(commands, common)
    _add_export(commands, common)
    return parser


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
