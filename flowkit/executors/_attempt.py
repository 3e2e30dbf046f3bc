"""The attempt entry point shared by every executor: run one attempt, report data.

``execute`` installs the task context, calls the function and turns whatever
happens into an ``AttemptOutcome``: the return value, the values set, or the
error as text. It never lets an exception out, except ``KeyboardInterrupt``,
which belongs to whoever runs the scheduler.
"""

from __future__ import annotations

import time

from flowkit import _channel
from flowkit._context import TaskContext, exported, installed
from flowkit._state import ErrorInfo, TaskState
from flowkit.executors._base import AttemptOutcome, AttemptRequest, failed_outcome


def execute(request: AttemptRequest) -> AttemptOutcome:
    """Run one attempt in this process and report how it ended."""
    context = TaskContext(
        run_id=request.run_id,
        flow_name=request.flow_name,
        task_key=request.task_key,
        attempt=request.attempt,
        params=request.params,
        upstream_values=request.upstream_values,
        upstream_edges=request.upstream_edges,
        repair_count=request.repair_count,
        run_started_at=request.run_started_at,
        trigger=request.trigger,
    )
    started_at = time.time()
    # Every process the attempt starts reads this context and sends its values back.
    folder = _channel.export(
        exported(context),
        run_id=request.run_id,
        task_key=request.task_key,
        attempt=request.attempt,
        edges=request.upstream_edges,
    )
    try:
        with installed(context):
            result = request.fn(**request.arguments)
    except KeyboardInterrupt:
        _channel.collect(folder)
        raise
    except BaseException as error:
        # Skip this frame: the traceback starts in the task's own code.
        error.__traceback__ = error.__traceback__.tb_next if error.__traceback__ else None
        _channel.collect(folder)
        return failed_outcome(
            request.task_key,
            request.attempt,
            ErrorInfo.from_exception(error),
            started_at=started_at,
        )
    return AttemptOutcome(
        task_key=request.task_key,
        attempt=request.attempt,
        state=TaskState.SUCCEEDED,
        started_at=started_at,
        ended_at=time.time(),
        # Values set by its other processes, then its own (set in-process last, they win).
        values={**_channel.collect(folder), **context.values_set},
        result=result,
    )
