"""``flowkit repair``: re-run what failed or never ran in a recorded run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from flowkit._errors import (
    DefinitionError,
    RunInterrupted,
)
from flowkit._state import RunState
from flowkit.cli._render.progress import progress_listener

if TYPE_CHECKING:
    pass
from flowkit.cli._common import (
    EXIT_SUCCEEDED,
    RUN_ID_HELP,
    TARGET_HELP,
    _add_execution_options,
    _executor,
    _report,
    _sigterm_cancels,
)


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
    from flowkit._interop.targets import load_target

    if target is not None:
        return load_target(target)
    fix = f"pass the flow's target: flowkit repair {record.run_id} PATH.py[:FLOW] or MODULE[:FLOW]"
    if record.target is None:
        msg = (
            f"run {record.run_id} of flow {record.flow_name!r} records no target to load its "
            f"flow from (it was started from Python, or by a flowkit that did not record it); "
            f"{fix}"
        )
        raise DefinitionError(msg)
    try:
        return load_target(record.target)
    except DefinitionError as error:
        msg = (
            f"run {record.run_id} of flow {record.flow_name!r} was started from "
            f"{record.target}, which does not load now: {error}\nTo load the flow from "
            f"elsewhere, {fix}"
        )
        raise DefinitionError(msg) from error
