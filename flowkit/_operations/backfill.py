"""``flowkit backfill``: one run per time slot of a past range, trigger ``backfill``.

The slots are the flow's own schedule's fire times in the range, or every
``--every`` from its start; each run sees its slot as ``{{job.trigger.time.*}}``.
The runs of one backfill share a backfill id (``flowkit runs`` shows it), run as
processes of their own, at most ``max_concurrent`` at a time (and the flow's
``max_concurrent_runs`` still holds: a run beyond it queues).
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable

from flowkit._clock import Clock
from flowkit._definition.schedules import Cron
from flowkit._errors import DefinitionError
from flowkit._operations.launcher import Launch, Launcher
from flowkit._state import RunTrigger

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EVERY = re.compile(r"(?P<count>\d+(?:\.\d+)?)(?P<unit>[smhdw])")
#: How often the backfill looks for ended runs, in seconds.
POLL_INTERVAL = 0.1


def parse_every(text: str) -> datetime.timedelta:
    """``1d``, ``6h``, ``30m``, ``1w``, ``90s`` as a timedelta.

    Raises:
        DefinitionError: not of that form, or zero.
    """
    match = _EVERY.fullmatch(text.strip())
    seconds = float(match.group("count")) * _UNITS[match.group("unit")] if match else 0
    if not seconds:
        msg = f"--every {text!r} is invalid; allowed: a number and a unit s, m, h, d or w (1d, 6h)"
        raise DefinitionError(msg)
    return datetime.timedelta(seconds=seconds)


def parse_moment(text: str, zone: datetime.tzinfo, *, option: str) -> datetime.datetime:
    """A date or ISO time; without an offset it is a wall time in ``zone``.

    Raises:
        DefinitionError: not an ISO date or time.
    """
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        msg = f"{option} {text!r} is not a date or time; give 2026-11-01 or 2026-11-01T03:00"
        raise DefinitionError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def slots(
    schedule: Cron | None,
    start: datetime.datetime,
    end: datetime.datetime,
    every: datetime.timedelta | None,
) -> list[datetime.datetime]:
    """The slots of ``[start, end]``: every ``every`` from ``start``, or the schedule's fires.

    Raises:
        DefinitionError: the range is empty or backwards.
    """
    if end < start:
        msg = f"--end {end.isoformat()} is before --start {start.isoformat()}; swap them"
        raise DefinitionError(msg)
    if every is None and schedule is not None:
        return schedule.fire_times_between(start - datetime.timedelta(microseconds=1), end)
    step = every or datetime.timedelta(days=1)
    found, moment = [], start
    while moment <= end:
        found.append(moment)
        moment += step
    return found


class Backfill:
    """Starts the runs of one backfill and waits for them; see the module docstring."""

    def __init__(
        self,
        target: str,
        flow_name: str,
        launcher: Launcher,
        clock: Clock,
        *,
        max_concurrent: int,
        say: Callable[[str], None] = print,
    ) -> None:
        self.target = target
        self.flow_name = flow_name
        self.launcher = launcher
        self.clock = clock
        self.max_concurrent = max_concurrent
        self.say = say
        self.backfill_id = uuid.uuid4().hex[:12]

    def run(self, moments: list[datetime.datetime]) -> int:
        """Run one run per slot; how many ended otherwise than succeeded.

        Raises:
            KeyboardInterrupt: Ctrl-C, once the started runs were stopped.
        """
        pending = list(moments)
        failed = 0
        try:
            while pending or self.launcher.running():
                while pending and self.launcher.running() < self.max_concurrent:
                    slot = pending.pop(0)
                    trigger = RunTrigger(
                        type="backfill", time=slot.timestamp(), backfill_id=self.backfill_id
                    )
                    self.launcher.start(Launch(self.target, self.flow_name, trigger))
                for ended in self.launcher.ended():
                    slot = ended.launch.trigger.time or 0.0
                    shown = datetime.datetime.fromtimestamp(slot).isoformat(sep=" ")
                    if ended.exit_code == 0:
                        self.say(f"slot {shown}: succeeded")
                    else:
                        failed += 1
                        self.say(f"slot {shown}: failed (exit code {ended.exit_code})")
                if pending or self.launcher.running():
                    self.clock.sleep(POLL_INTERVAL)
        except KeyboardInterrupt:
            self.launcher.stop_all()
            raise
        return failed
