"""Firing: when a served flow's schedule or trigger is due, as runs to start.

One ``Firing`` per served flow keeps what it must remember in the home
(``Operations.trigger_state``), so a restarted serve neither fires twice nor
forgets: a schedule's last fire, a periodic trigger's anchor, the files a
watched folder held. Each says when serve should next look (``upcoming``) and
hands out the fires due up to a horizon (``take``); serve may start a run a
moment before its time, and the run waits for it (``flowkit run --not-before``).

All times are epoch seconds from serve's clock, so a test drives a week of
fires with a fake clock.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Any, Protocol

from flowkit._definition.schedules import Cron, FileArrival, Periodic
from flowkit._state import RunTrigger
from flowkit._store.operations import Operations

UTC = datetime.timezone.utc
#: A fire found this late (serve was suspended, say) still runs; older ones were missed.
LATE_GRACE = 60.0
#: The longest wait between two polls of a watched folder.
MAX_POLL_INTERVAL = 10.0

Say = Callable[[str], None]


def _moment(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=UTC)


class Firing(Protocol):
    """When one served flow runs by itself."""

    def upcoming(self) -> float | None:
        """When serve should next look: the next fire, or the next poll."""
        ...

    def take(self, now: float, horizon: float) -> list[RunTrigger]:
        """The runs to start: fires due up to ``horizon`` (each then counts as fired)."""
        ...

    def skip(self, now: float) -> None:
        """The flow is paused: fires due by ``now`` pass without a run."""
        ...

    def next_text(self) -> str:
        """The next fire, for a person."""
        ...


class ScheduleFiring:
    """A ``Cron`` schedule's fires; missed ones follow its ``catchup``."""

    def __init__(
        self, flow_name: str, cron: Cron, operations: Operations, *, now: float, say: Say
    ) -> None:
        self.flow_name = flow_name
        self.cron = cron
        self.operations = operations
        self.say = say
        state = operations.trigger_state(flow_name)
        last_fire = state.get("last_fire") if state.get("kind") == "cron" else None
        self._catch_up: list[float] = []
        if last_fire is not None:
            missed = self._fires_between(last_fire, now)
            if missed:
                self._missed(missed, now)
        self._next = self._after(now)

    def _after(self, moment: float) -> float | None:
        fires = self.cron.next_fire_times(_moment(moment), 1)
        return fires[0].timestamp() if fires else None

    def _fires_between(self, start: float, end: float) -> list[float]:
        fires = self.cron.fire_times_between(_moment(start), _moment(end))
        return [fire.timestamp() for fire in fires]

    def _missed(self, missed: list[float], now: float) -> None:
        latest = _moment(missed[-1]).astimezone(self.cron.zone).isoformat(sep=" ")
        if self.cron.catchup == "latest":
            self.say(
                f"flow {self.flow_name}: {len(missed)} fire(s) missed while nothing served; "
                f"running the latest ({latest}) now (catchup='latest')"
            )
            self._catch_up = [missed[-1]]
        else:
            self.say(
                f"flow {self.flow_name}: skipped {len(missed)} fire(s) missed while nothing "
                f"served, the latest {latest} (catchup='none'; catchup='latest' runs it)"
            )
            self._remember(missed[-1])

    def upcoming(self) -> float | None:
        return self._catch_up[0] if self._catch_up else self._next

    def take(self, now: float, horizon: float) -> list[RunTrigger]:
        fires = self._catch_up
        self._catch_up = []
        due: list[float] = []
        while self._next is not None and self._next <= horizon:
            due.append(self._next)
            self._next = self._after(self._next)
        late = [fire for fire in due if fire < now - LATE_GRACE]
        if late:  # serve did not run then (suspended): as missed fires
            self._missed(late, now)
            fires = fires or self._catch_up
            self._catch_up = []
        fires = [*fires, *(fire for fire in due if fire >= now - LATE_GRACE)]
        if fires:
            self._remember(fires[-1])
        return [RunTrigger(type="cron", time=fire) for fire in fires]

    def skip(self, now: float) -> None:
        self._catch_up = []
        while self._next is not None and self._next <= now:
            self._remember(self._next)
            self._next = self._after(self._next)

    def _remember(self, fire: float) -> None:
        self.operations.set_trigger_state(self.flow_name, {"kind": "cron", "last_fire": fire})

    def next_text(self) -> str:
        upcoming = self.upcoming()
        if upcoming is None:
            return "no more fires"
        return _moment(upcoming).astimezone(self.cron.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


class PeriodicFiring:
    """A ``Periodic`` trigger: every interval on a grid anchored when it was first served."""

    def __init__(
        self, flow_name: str, periodic: Periodic, operations: Operations, *, now: float, say: Say
    ) -> None:
        self.flow_name = flow_name
        self.periodic = periodic
        self.operations = operations
        state = operations.trigger_state(flow_name)
        if state.get("kind") == "periodic" and state.get("interval") == periodic.interval:
            self.anchor = float(state["anchor"])
            last_fire = state.get("last_fire")
        else:  # first served, or with another interval: the grid starts now
            self.anchor, last_fire = now, None
            self._remember(None)
        start = self.anchor if last_fire is None else float(last_fire)
        self._next = start + periodic.interval
        if self._next < now:  # overdue after a pause in serving: once, now
            say(f"flow {flow_name}: a periodic fire is overdue; running it now")

    def upcoming(self) -> float | None:
        return self._next

    def take(self, now: float, horizon: float) -> list[RunTrigger]:
        if self._next > horizon:
            return []
        fire = self._next
        self._remember(fire)
        self._next = self._grid_after(max(now, fire))
        return [RunTrigger(type="periodic", time=fire)]

    def skip(self, now: float) -> None:
        if self._next <= now:
            self._remember(self._next)
            self._next = self._grid_after(now)

    def _grid_after(self, moment: float) -> float:
        after = self.periodic.next_fire_times(_moment(moment), 1, anchor=_moment(self.anchor))
        return after[0].timestamp()

    def _remember(self, last_fire: float | None) -> None:
        state = {
            "kind": "periodic",
            "interval": self.periodic.interval,
            "anchor": self.anchor,
            "last_fire": last_fire,
        }
        self.operations.set_trigger_state(self.flow_name, state)

    def next_text(self) -> str:
        return _moment(self._next).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def scan(folder: str) -> dict[str, list[int]]:
    """The files directly in ``folder``: name -> [mtime in ns, size]; empty if it is missing."""
    files: dict[str, list[int]] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_file():
                        status = entry.stat()
                        files[entry.name] = [status.st_mtime_ns, status.st_size]
                except OSError:  # gone between the listing and the stat
                    continue
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return {}
    return files


class FileArrivalFiring:
    """A ``FileArrival`` trigger: polls its folder with ``os.scandir``.

    New or changed files fire once the folder has been quiet for
    ``wait_after_last_change`` seconds, at most once per
    ``min_time_between_triggers``. What the folder held when it was first
    served is remembered as seen and never fires; what changed while nothing
    served does, at the first poll of the next serve.
    """

    def __init__(
        self, flow_name: str, trigger: FileArrival, operations: Operations, *, now: float, say: Say
    ) -> None:
        self.flow_name = flow_name
        self.trigger = trigger
        self.operations = operations
        self.folder = os.path.abspath(trigger.folder)
        state = operations.trigger_state(flow_name)
        if state.get("kind") == "file_arrival" and state.get("folder") == self.folder:
            self.seen: dict[str, Any] = dict(state.get("seen", {}))
            self.last_trigger: float | None = state.get("last_trigger")
        else:
            self.seen, self.last_trigger = scan(self.folder), None
            self._remember()
            if not os.path.isdir(self.folder):
                say(f"flow {flow_name}: folder {self.folder} does not exist (yet); watching for it")
        self.poll_interval = min(MAX_POLL_INTERVAL, max(0.5, trigger.wait_after_last_change / 2))
        self._next_poll = now
        self._changes: dict[str, Any] = {}  # changed since seen, as last polled
        self._last_change: float | None = None

    def upcoming(self) -> float | None:
        return self._next_poll

    def take(self, now: float, horizon: float) -> list[RunTrigger]:
        if now < self._next_poll:
            return []
        self._next_poll = now + self.poll_interval
        current = scan(self.folder)
        changes = {name: stamp for name, stamp in current.items() if self.seen.get(name) != stamp}
        if changes != self._changes:
            self._changes, self._last_change = changes, now
        if not changes or self._last_change is None:
            return []
        quiet_until = self._last_change + self.trigger.wait_after_last_change
        spaced_until = (self.last_trigger or -float("inf")) + self.trigger.min_time_between_triggers
        ready = max(quiet_until, spaced_until)
        if now < ready:
            self._next_poll = min(self._next_poll, ready)
            return []
        self.seen, self.last_trigger = current, now
        self._changes, self._last_change = {}, None
        self._remember()
        return [RunTrigger(type="file_arrival", time=now, file_arrival_location=self.folder)]

    def skip(self, now: float) -> None:
        """Paused: the folder is not watched; what arrives meanwhile fires once resumed."""
        self._next_poll = now + self.poll_interval

    def _remember(self) -> None:
        state = {
            "kind": "file_arrival",
            "folder": self.folder,
            "seen": self.seen,
            "last_trigger": self.last_trigger,
        }
        self.operations.set_trigger_state(self.flow_name, state)

    def next_text(self) -> str:
        return f"when files arrive in {self.folder} (polled every {self.poll_interval:g}s)"


def firing_for(
    flow_name: str,
    fires: Cron | Periodic | FileArrival,
    operations: Operations,
    *,
    now: float,
    say: Say,
) -> Firing:
    """The firing of a flow's schedule or trigger."""
    if isinstance(fires, Cron):
        return ScheduleFiring(flow_name, fires, operations, now=now, say=say)
    if isinstance(fires, Periodic):
        return PeriodicFiring(flow_name, fires, operations, now=now, say=say)
    return FileArrivalFiring(flow_name, fires, operations, now=now, say=say)
