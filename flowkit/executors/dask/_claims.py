"""Claims: each attempt on dask registers with the scheduler before it starts, in one message.

dask runs a task again when its worker dies. A second run of an attempt that
had started must not run the task again (flowkit retries per ``retries``), so
the worker thread claims the attempt's token first (``claim``) and a run that
finds the claim taken reports the earlier worker as lost instead.

A claim is one call to a handler that a scheduler plugin adds (``install``,
once per run, idempotent): it records the claim in the scheduler's task
metadata and, for an attempt the orchestrator is stopping (``watch``),
publishes its "started" event on the run's topic, so a worker pays one round
trip and the orchestrator hears of a start only when it needs to (when it
stops an attempt, to know whether a worker has processes to stop), not twice
per task. The plugin's class is made in a function, so cloudpickle ships it by
value: the scheduler needs ``distributed``, not flowkit. A scheduler that
refuses it (``distributed.scheduler.pickle: false``, another Python) gets the
claim as two metadata calls, and every start as a worker event.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future
from typing import Any

#: The plugin and its handlers on the scheduler; versioned, so a changed handler
#: never meets an older one installed by another flowkit.
PLUGIN = "flowkit-claims-1"
CLAIM = "flowkit_claim_1"
WATCH = "flowkit_watch_1"
RELEASE = "flowkit_release_1"


def install(client: Any) -> str | None:
    """Add the claim handler to the client's scheduler; its name, or None if refused."""
    try:
        client.register_plugin(_plugin())
    except Exception:  # not allowed, or not loadable there: claims take two calls
        return None
    return CLAIM


def release(client: Any, keys: list[str], topic: str, *, handler: str | None) -> None:
    """Forget a run's claims and its topic (its subscription, its events) on the scheduler.

    With the plugin it returns at once: the request goes before the client closes (a
    closing client can cut it short; what stays behind is a few bytes per attempt).
    """
    if handler is not None:
        _send(client, RELEASE, keys=keys, topic=topic)
        return
    with contextlib.suppress(Exception):
        client.unsubscribe_topic(topic)
        client.set_metadata(keys, {})


def watch(client: Any, keys: list[str], topic: str, *, handler: str | None) -> None:
    """Have the scheduler say on ``topic`` that the attempt ``keys`` began, now or once it does.

    Returns at once; without the plugin every worker says so itself.
    """
    if handler is not None:
        _send(client, WATCH, keys=keys, topic=topic)


def _send(client: Any, handler: str, **arguments: Any) -> None:
    """Call ``handler`` on the client's scheduler without waiting for its answer."""

    async def ask() -> None:
        with contextlib.suppress(Exception):
            await getattr(client.scheduler, handler)(**arguments)

    with contextlib.suppress(Exception):
        client.loop.add_callback(ask)


def claim(
    worker: Any, keys: list[str], *, handler: str | None, topic: str, started: dict[str, Any]
) -> Future[str | None]:
    """Claim an attempt for this worker: the earlier worker, if one had claimed it, to come.

    Returns at once, so the worker thread readies the attempt meanwhile. ``keys``
    name the claim in the scheduler's task metadata (run, then token); ``started``
    is the event that says the attempt began, published if watched.
    """
    address = started["worker"]

    async def ask() -> str | None:
        if handler is not None:
            answer = await getattr(worker.scheduler, handler)(
                keys=keys, worker=address, topic=topic, started=started
            )
            if isinstance(answer, dict):  # None: the scheduler no longer has the handler
                return answer.get("earlier")
        earlier = await worker.scheduler.get_metadata(keys=keys, default=None)
        if earlier is not None:
            return str(earlier)
        await worker.scheduler.set_metadata(keys=keys, value=address)
        with contextlib.suppress(Exception):
            worker.log_event(topic, started)  # no plugin to say it when asked
        return None

    return asyncio.run_coroutine_threadsafe(ask(), worker.loop.asyncio_loop)


def _plugin() -> Any:
    """The scheduler plugin, of a class made here so that it travels by value."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class FlowkitClaims(SchedulerPlugin):
        name = PLUGIN
        idempotent = True

        def start(self, scheduler: Any) -> None:
            self.scheduler = scheduler
            #: Attempts being stopped, not claimed yet: their keys -> the run's topic.
            self.watched: dict[tuple[str, ...], str] = {}
            scheduler.handlers[CLAIM] = self.claim
            scheduler.handlers[WATCH] = self.watch
            scheduler.handlers[RELEASE] = self.release

        def parent_of(self, keys: list[str]) -> dict[str, Any] | None:
            """The metadata that holds ``keys[-1]``, if there is any."""
            node = self.scheduler.task_metadata
            for key in keys[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            return node if isinstance(node, dict) else None

        def claim(
            self, keys: list[str], worker: str, topic: str, started: dict[str, Any]
        ) -> dict[str, Any]:
            node = self.scheduler.task_metadata
            for key in keys[:-1]:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
            earlier = node.get(keys[-1])
            if earlier is not None:
                return {"earlier": str(earlier)}
            node[keys[-1]] = worker
            if self.watched.pop(tuple(keys), None) is not None:
                self.scheduler.log_event(topic, started)
            return {"earlier": None}

        def watch(self, keys: list[str], topic: str) -> None:
            claims = self.parent_of(keys)
            worker = claims.get(keys[-1]) if claims is not None else None
            if worker is None:
                self.watched[tuple(keys)] = topic
            else:
                started = {"token": keys[-1], "started": True, "worker": worker}
                self.scheduler.log_event(topic, started)

        def release(self, keys: list[str], topic: str) -> None:
            node = self.parent_of(keys)
            if node is not None:
                node.pop(keys[-1], None)
            for watched in [key for key in self.watched if list(key[: len(keys)]) == keys]:
                del self.watched[watched]
            # The run's topic goes with it, its events too (output lines, starts, small
            # reports): a long-lived scheduler keeps every topic's last events otherwise.
            topics = getattr(getattr(self.scheduler, "_broker", None), "_topics", None)
            if isinstance(topics, dict):
                topics.pop(topic, None)

    return FlowkitClaims()
