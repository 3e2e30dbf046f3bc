"""``flowkit values set KEY JSON`` and ``flowkit values get TASK KEY``: task values from a shell.

They work in any process a running task started (a shell step, a script),
through the context the attempt exported (``_channel``), with every rule of
``task_values``: JSON, at most 48 KiB, reads of upstream tasks only.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from flowkit._context import MISSING, current_context, task_values
from flowkit._errors import DefinitionError, TaskValueError
from flowkit._text import write_out
from flowkit.cli._common import EXIT_SUCCEEDED


def _add_values(commands: Any, common: argparse.ArgumentParser) -> None:
    values = commands.add_parser(
        "values",
        parents=[common],
        help="set or get task values from a shell command of a running task",
        description=(
            "Task values from any process a running task started (a shell step, a "
            "script): `set KEY JSON` sets a value of this task, `get TASK KEY` prints an "
            "upstream task's value as JSON."
        ),
    )
    actions = values.add_subparsers(title="actions", metavar="ACTION", required=True)
    set_value = actions.add_parser("set", parents=[common], help="set KEY to the JSON value")
    set_value.add_argument("key", metavar="KEY")
    set_value.add_argument("value", metavar="JSON", help='e.g. 14520, "text", [1, 2]')
    set_value.set_defaults(handler=_set)
    get_value = actions.add_parser("get", parents=[common], help="print TASK's value KEY as JSON")
    get_value.add_argument("task", metavar="TASK")
    get_value.add_argument("key", metavar="KEY")
    get_value.add_argument("--default", metavar="JSON", help="printed when TASK set no KEY")
    get_value.set_defaults(handler=_get)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        msg = (
            f"{what} {text!r} is not JSON; quote text as JSON does: "
            f"flowkit values set name '\"text\"'"
        )
        raise DefinitionError(msg) from None


def _running() -> None:
    if current_context() is None:
        msg = (
            "flowkit values works inside a running task (a shell step, or a process one "
            "started): no task's context was found in this process's environment"
        )
        raise TaskValueError(msg)


def _set(args: argparse.Namespace) -> int:
    _running()
    task_values.set(args.key, _json(args.value, "value"))
    return EXIT_SUCCEEDED


def _get(args: argparse.Namespace) -> int:
    _running()
    default = MISSING if args.default is None else _json(args.default, "--default")
    value = task_values.get(task_key=args.task, key=args.key, default=default)
    write_out(json.dumps(value, ensure_ascii=False) + "\n")
    return EXIT_SUCCEEDED
