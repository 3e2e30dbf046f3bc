"""``flowkit serve``: fire the served flows' schedules and triggers, one run process each.

One serve per home: it holds the store's ``serve`` lease while it runs (a
second serve is refused, naming the first's pid; the lease of a serve killed
with SIGKILL is free again). Its loop sleeps on its clock until the nearest of:
a fire (less ``lead``: the run's process starts ahead and waits for its time),
a watched folder's next poll, and the next housekeeping tick (``tick``, one
second: paused flows, changed flow files, ended runs). A test passes a fake
clock and a fake launcher, and a simulated week takes no time.

Stopping (Ctrl-C, SIGTERM: a KeyboardInterrupt here) stops firing, stops every
run it started (each cancels its tasks cleanly) and gives the lease back.
A serve killed with SIGKILL leaves its runs to finish on their own.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from flowkit._clock import Clock, SystemClock
from flowkit._errors import DefinitionError, ServeRefused
from flowkit._notify.notifier import Deliveries, orchestrator_died
from flowkit._operations.firing import Firing, firing_for
from flowkit._operations.launcher import Ended, Launch, Launcher
from flowkit._operations.targets import Served, Sources
from flowkit._planning.shape import flow_shape
from flowkit._state import RunState
from flowkit._store.operations import Operations
from flowkit._text import escape

LEASE = "serve"
#: The shortest wait between two rounds, in seconds.
MIN_WAIT = 0.01


class Server:
    """Fires the flows ``sources`` hold; see the module docstring.

    Args:
        sources: the targets, loaded again when their files change.
        operations: the home's lease, paused flows and trigger state.
        launcher: starts each run as a process (a fake in tests).
        clock: wall time and waiting (``time`` and ``sleep``).
        say: where serve's lines go (printed by the command line).
        tick: the housekeeping interval, seconds: pause and resume take effect within it.
        lead: how long before its time a run's process is started.
    """

    def __init__(
        self,
        sources: Sources,
        operations: Operations,
        launcher: Launcher,
        *,
        clock: Clock | None = None,
        say: Callable[[str], None] = print,
        tick: float = 1.0,
        lead: float = 2.0,
        runs: Any = None,
        deliveries: Deliveries | None = None,
    ) -> None:
        self.sources = sources
        self.operations = operations
        self.launcher = launcher
        self.clock = clock or SystemClock()
        self.say = say
        self.tick = tick
        self.lead = lead
        self.served: dict[str, Served] = {}
        self.firings: dict[str, Firing] = {}
        self._paused: dict[str, bool] = {}
        self.started = 0
        #: The run history, to find a run whose orchestrator died, and where its alerts go.
        self.runs = runs
        self.deliveries = deliveries or Deliveries(runs)

    # -- the loop ----------------------------------------------------------------------------
    def serve(self, *, until: float | None = None) -> None:
        """Fire until interrupted (KeyboardInterrupt, after stopping) or until ``until``.

        Raises:
            ServeRefused: another serve holds the home.
            KeyboardInterrupt: Ctrl-C or SIGTERM, once every run was stopped.
        """
        holder = self.operations.take_lease(LEASE)
        if holder is not None:
            since = datetime.datetime.fromtimestamp(holder.since).strftime("%Y-%m-%d %H:%M:%S")
            msg = (
                f"another flowkit serve (pid {holder.pid} on {holder.hostname}, since {since}) "
                "serves this home; one serve per home. Stop it first, or serve another home "
                "with --home"
            )
            raise ServeRefused(msg)
        try:
            self.reload(first=True)
            while until is None or self.clock.time() < until:
                self.step()
                self.clock.sleep(self._wait(until))
        finally:
            try:
                self._stop()
                self.deliveries.drain()
            finally:
                self.operations.release_lease(LEASE)

    def step(self) -> None:
        """One round: reload what changed, follow pauses, reap runs, start the due ones."""
        now = self.clock.time()
        if self.sources.changed():
            self.reload(first=False)
        self._follow_pauses()
        for ended in self.launcher.ended():
            launch = ended.launch
            code = ended.exit_code
            state = "succeeded" if code == 0 else f"ended with exit code {code}"
            self.say(f"run of {launch.flow_name} ({_trigger_text(launch)}) {state}")
            if code < 0:  # killed by a signal: it could not tell anyone itself
                self._orchestrator_died(ended)
        for name, firing in self.firings.items():
            if self._paused.get(name):
                firing.skip(now)
                continue
            for trigger in firing.take(now, now + self.lead):
                not_before = trigger.time if trigger.time and trigger.time > now else None
                launch = Launch(self.served[name].target, name, trigger, not_before)
                self.launcher.start(launch)
                self.started += 1
                self.say(f"started a run of {name} ({_trigger_text(launch)})")

    def _orchestrator_died(self, ended: Ended) -> None:
        """Send ``on_failure`` for the run a killed orchestrator left ``interrupted``."""
        served = self.served.get(ended.launch.flow_name)
        notify = served.flow.spec().notify if served is not None else None
        if self.runs is None or notify is None or ended.pid is None:
            return
        for run in self.runs.list_runs(flow=ended.launch.flow_name, limit=50):
            if run.pid == ended.pid and run.state is RunState.INTERRUPTED:
                self.say(f"run {run.run_id[:12]} of {run.flow_name} was interrupted; notifying")
                orchestrator_died(self.deliveries, notify, run, self.runs.get_tasks(run.run_id))

    def _wait(self, until: float | None) -> float:
        """Seconds to sleep: to the nearest fire (less the lead), poll or tick."""
        now = self.clock.time()
        moments = [now + self.tick]
        for name, firing in self.firings.items():
            upcoming = firing.upcoming()
            if upcoming is not None and not self._paused.get(name):
                # a fire is taken ``lead`` early; a poll (or a fire within it) at its time
                early = upcoming - self.lead
                moments.append(early if early > now else upcoming)
        if until is not None:
            moments.append(until)
        # Whatever was due was taken this round: never a zero wait, never a spin.
        return max(MIN_WAIT, min(moments) - now)

    def _stop(self) -> None:
        running = self.launcher.running()
        if running:
            self.say(f"stopping: cancelling {running} run(s)")
        self.launcher.stop_all()

    # -- what is served ----------------------------------------------------------------------
    def reload(self, *, first: bool) -> None:
        """Load the targets (again): new flows are served, changed ones re-planned."""
        found = self.sources.load()
        if first and found.problems and not found.served:  # nothing to serve: a usage error
            raise DefinitionError("; ".join(found.problems))
        for problem in found.problems:
            self.say(f"cannot serve: {escape(problem)}")
        now = self.clock.time()
        served = {item.flow.name: item for item in found.served}
        for name in set(self.served) - set(served):
            self.say(f"no longer serving {name}")
            self.firings.pop(name, None)
        for name, item in served.items():
            fires = item.flow.spec().fires
            # The ui's flows page shows a served flow, and its next fire, before it ever ran.
            self.operations.note_flow(flow_shape(item.flow.plan()))
            old = self.served.get(name)
            if old is None or old.flow.spec().fires != fires:
                assert fires is not None
                self.firings[name] = firing_for(name, fires, self.operations, now=now, say=self.say)
                if not first:
                    self.say(f"{'now serving' if old is None else 'reloaded'} {name}")
        self.served = served
        self._follow_pauses(announce=False)
        if first:
            self.say(self.listing())

    def _follow_pauses(self, *, announce: bool = True) -> None:
        settings = self.operations.paused_settings()
        for name, item in self.served.items():
            fires: Any = item.flow.spec().fires
            paused = settings.get(name, bool(fires.paused))
            if announce and paused != self._paused.get(name, paused):
                if paused:
                    withdrawn = self.launcher.withdraw(name)
                    extra = f"; withdrew {withdrawn} run(s) waiting to start" if withdrawn else ""
                    self.say(f"paused {name}{extra}")
                else:
                    self.say(f"resumed {name}: next {self.firings[name].next_text()}")
            self._paused[name] = paused

    def listing(self) -> str:
        """Every served flow with its schedule or trigger and its next fire."""
        if not self.served:
            return "serving no flow: none of the targets defines a flow with a schedule or trigger"
        lines = [f"serving {len(self.served)} flow(s):"]
        for name, item in sorted(self.served.items()):
            fires: Any = item.flow.spec().fires
            state = "paused" if self._paused.get(name) else f"next {self.firings[name].next_text()}"
            lines.append(f"  {name}  {escape(fires.describe())}  {state}")
        return "\n".join(lines)


def _trigger_text(launch: Launch) -> str:
    trigger = launch.trigger
    if trigger.time is None:
        return trigger.type
    moment = datetime.datetime.fromtimestamp(trigger.time).strftime("%Y-%m-%d %H:%M:%S")
    return f"{trigger.type} {moment}"
