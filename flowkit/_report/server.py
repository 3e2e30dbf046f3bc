"""``flowkit ui``: a read-only local web app over the home (DESIGN.md §6).

Routes::

    /                              runs, newest first (filter by flow and state, paginated)
    /runs/ID                       the run's report, refreshed while the run is live
    /runs/ID/tasks/TASK/logs       the task's whole log (latest attempt; ?attempt=N&repair=N)
    /flows                         flows with their schedule, paused state and next fire
    /api/runs, /api/runs/ID        the same as JSON

Python's own ``http.server`` (one thread a request) serves it: the ui is a
handful of read-only routes for one person on one machine, which needs no
framework and no extra install. It opens the store read-only (it never writes
the home), binds loopback by default, refuses a request whose Host header names
another host (a page elsewhere cannot reach it by DNS rebinding), serves no
file but an attempt's log inside the home, and answers anything it does not
know with a 404 page.
"""

from __future__ import annotations

import codecs
import http.server
import ipaddress
import json
import re
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flowkit._errors import StoreError
from flowkit._home import store_file
from flowkit._report.html import Links, render_page, render_run
from flowkit._report.model import inside_home, read_run
from flowkit._report.pages import flows_rows, run_json, runs_json
from flowkit._state import RunState
from flowkit._store.sqlite import SqliteStore
from flowkit._text import escape_lines

PAGE_SIZE = 50
MAX_API_LIMIT = 500
#: The most bytes of a log the ui sends (its end: the first part is skipped).
LOG_CAP = 8 * 1024 * 1024
_CHUNK = 64 * 1024
_RUN = re.compile(r"/runs/([^/]+)")
_LOG = re.compile(r"/runs/([^/]+)/tasks/([^/]+)/logs")
_API_RUN = re.compile(r"/api/runs/([^/]+)")
_LINKS = Links(run_pattern="/runs/{run_id}", log_pattern="/runs/{run_id}/tasks/{task}/logs")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UiServer(http.server.ThreadingHTTPServer):
    """The ui's HTTP server; ``store_path`` is the home's run store, opened read-only."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, store_path: Path | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.store_path = store_path or store_file()
        self.loopback = is_loopback(host)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def open_store(self) -> SqliteStore | None:
        """The home's store for reading; None before anything was recorded."""
        if not self.store_path.exists():
            return None
        return SqliteStore(self.store_path, read_only=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: UiServer
    server_version = "flowkit-ui"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the ui is quiet unless something is wrong."""

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_allowed():
            self._send(421, "text/plain; charset=utf-8", b"misdirected request\n")
            return
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        path = parsed.path
        store = None
        try:
            store = self.server.open_store()
            self._route(store, path, query)
        except LookupError as error:  # no such route, run, task or log
            self._not_found(str(error))
        except ValueError as error:  # a query value that is not a number or a state
            body = render_page("message.html.j2", title="bad request", message=str(error))
            self._send(400, "text/html; charset=utf-8", body.encode())
        except StoreError as error:
            body = render_page("message.html.j2", title="cannot read the home", message=str(error))
            self._send(500, "text/html; charset=utf-8", body.encode())
        finally:
            if store is not None:
                store.close()

    def _route(self, store: SqliteStore | None, path: str, query: dict[str, list[str]]) -> None:
        if path == "/":
            self._runs_page(store, query)
        elif path == "/flows":
            rows = flows_rows(store) if store is not None else []
            self._html(render_page("flows.html.j2", title="flows", flows=rows))
        elif path == "/api/runs":
            self._json(runs_json(store, **self._listing(query, api=True)))
        elif match := _API_RUN.fullmatch(path):
            view = read_run(store, _unquote(match[1])) if store is not None else None
            if view is None:
                msg = f"no run {_unquote(match[1])!r}"
                raise LookupError(msg)
            self._json(run_json(view))
        elif match := _LOG.fullmatch(path):
            self._log(store, _unquote(match[1]), _unquote(match[2]), query)
        elif match := _RUN.fullmatch(path):
            view = read_run(store, _unquote(match[1])) if store is not None else None
            if view is None:
                msg = f"no run {_unquote(match[1])!r} in this home"
                raise LookupError(msg)
            self._html(render_run(view, links=_LINKS, ui=True))
        else:
            msg = f"no page {path!r}"
            raise LookupError(msg)

    def _listing(self, query: dict[str, list[str]], *, api: bool = False) -> dict[str, Any]:
        flow = query.get("flow", [""])[0] or None
        state_text = query.get("state", [""])[0] or None
        state = RunState(state_text) if state_text else None  # a ValueError names it
        if api:
            limit = min(int(query.get("limit", [str(PAGE_SIZE)])[0]), MAX_API_LIMIT)
            offset = int(query.get("offset", ["0"])[0])
        else:
            limit = PAGE_SIZE
            offset = (max(1, int(query.get("page", ["1"])[0])) - 1) * PAGE_SIZE
        if limit < 1 or offset < 0:
            msg = "limit must be >= 1 and offset >= 0"
            raise ValueError(msg)
        return {"flow": flow, "state": state, "limit": limit, "offset": offset}

    def _runs_page(self, store: SqliteStore | None, query: dict[str, list[str]]) -> None:
        listing = self._listing(query)
        found = runs_json(store, **listing)
        page = listing["offset"] // PAGE_SIZE + 1
        filters = {"flow": listing["flow"] or "", "state": listing["state"]}

        def page_link(number: int) -> str:
            kept = {key: value for key, value in filters.items() if value}
            kept = {key: getattr(value, "value", value) for key, value in kept.items()}
            return "/?" + urllib.parse.urlencode({**kept, "page": number})

        body = render_page(
            "runs.html.j2",
            title="runs",
            runs=found["runs"],
            page=page,
            previous=page_link(page - 1) if page > 1 else None,
            next=page_link(page + 1) if found["next_offset"] is not None else None,
            flow=filters["flow"],
            state=listing["state"].value if listing["state"] else "",
            states=[state.value for state in RunState],
        )
        self._html(body)

    def _log(
        self, store: SqliteStore | None, run_id: str, task: str, query: dict[str, list[str]]
    ) -> None:
        attempts = store.get_attempts(run_id, task) if store is not None else []
        wanted_attempt = query.get("attempt", [None])[0]
        wanted_repair = query.get("repair", [None])[0]
        chosen = [
            attempt
            for attempt in attempts
            if attempt.log_path is not None
            and (wanted_attempt is None or str(attempt.attempt) == wanted_attempt)
            and (wanted_repair is None or str(attempt.repair) == wanted_repair)
        ]
        path = inside_home(chosen[-1].log_path) if chosen else None  # type: ignore[arg-type]
        if path is None:
            msg = f"no log of task {task!r} in run {run_id!r}"
            raise LookupError(msg)
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in _HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            self.wfile.write(b"0\r\n\r\n")
            return
        if size > LOG_CAP:
            skipped = f"[the first {size - LOG_CAP} bytes of {size} are not shown]\n"
            self._chunk(skipped.encode())
        for text in _read_log(path, max(0, size - LOG_CAP)):
            self._chunk(text.encode("utf-8"))
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _not_found(self, message: str) -> None:
        body = render_page("message.html.j2", title="not found", message=message)
        self._send(404, "text/html; charset=utf-8", body.encode())

    def _html(self, body: str) -> None:
        self._send(200, "text/html; charset=utf-8", body.encode())

    def _json(self, data: Any) -> None:
        self._send(200, "application/json", json.dumps(data, default=str).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _host_allowed(self) -> bool:
        """On loopback, only requests addressed to this machine (no DNS rebinding)."""
        if not self.server.loopback:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name.strip("[]"))


def _unquote(text: str) -> str:
    return urllib.parse.unquote(text)


def _read_log(path: Path, start: int) -> Iterator[str]:
    """The log from byte ``start``, decoded in pieces, control characters escaped."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with path.open("rb") as handle:
        handle.seek(start)
        while data := handle.read(_CHUNK):
            yield escape_lines(decoder.decode(data))
        yield escape_lines(decoder.decode(b"", final=True))
