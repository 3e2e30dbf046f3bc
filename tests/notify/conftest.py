"""A real HTTP server and a real SMTP server on 127.0.0.1 that keep what they receive."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flowkit._notify import notifier


class Hook:
    """What the webhook server received, and the status it answers with."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.received: list[dict] = []
        self.status = 200
        self.arrived = threading.Condition()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/T1/secret-token"

    def events(self) -> list[tuple[str, str | None]]:
        return [(body["event"], body["task"]) for body in self.received]

    def wait_for(self, count: int, seconds: float = 20.0) -> None:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, seconds)


@pytest.fixture
def hook() -> Iterator[Hook]:
    holder: dict[str, Hook] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            receiver = holder["hook"]
            self.send_response(receiver.status)
            self.end_headers()
            if receiver.status < 400:
                with receiver.arrived:
                    receiver.received.append(body)
                    receiver.arrived.notify_all()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["hook"] = Hook(server)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield holder["hook"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three tries, as always, with short pauses between them."""
    monkeypatch.setattr(notifier, "RETRY_DELAYS", (0.01, 0.02))
