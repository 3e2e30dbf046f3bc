"""Destinations: checked when built and planned, masked when shown, mail through Apprise."""

from __future__ import annotations

import email
import importlib.util
import socket

import pytest
from aiosmtpd.controller import Controller

from flowkit import DefinitionError, Flow, Health, Notify, RunState
from flowkit._definition import notify as notify_module
from flowkit._definition.notify import masked
from flowkit._store import open_store


@pytest.mark.parametrize(
    ("destination", "shown"),
    [
        ("https://hooks.example.com/T1/B2/secret", "https://hooks.example.com/***"),
        ("https://user:pw@hooks.example.com:8443/x?token=1", "https://hooks.example.com:8443/***"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("slack://T1/B2/C3", "slack://***"),
        ("mailto://ops:password@example.com", "mailto://***"),
        ("not a url", "***"),
    ],
)
def test_a_destination_is_shown_without_credentials_tokens_or_paths(destination, shown):
    assert masked(destination) == shown


def test_a_callable_is_shown_by_its_name():
    def page_me(payload):
        return None

    assert masked(page_me).endswith("page_me")


@pytest.mark.parametrize("bad", ["", "no scheme here", "https://", 42, "https://host:99999/x"])
def test_a_destination_that_is_not_a_url_or_callable_is_refused_when_built(bad):
    with pytest.raises(DefinitionError, match="destination"):
        Notify(on_failure=[bad])


def test_a_secret_reference_in_a_url_is_accepted():
    notify = Notify(on_failure=["https://hooks.example.com/{{secrets/alerts/token}}"])
    assert notify.on_failure


def test_an_unknown_scheme_is_a_plan_time_error():
    flow = Flow("bad_scheme", notify=Notify(on_failure=["nosuchservice://x"]))
    flow.shell("a", "true")
    with pytest.raises(DefinitionError, match="not a URL Apprise knows"):
        flow.plan()


def test_an_apprise_destination_without_apprise_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        notify_module.importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "apprise" else real(name, *rest),
    )
    flow = Flow("no_apprise", notify=Notify(on_failure=["slack://T1/B2/C3"]))
    flow.shell("a", "true")
    with pytest.raises(DefinitionError) as raised:
        flow.plan()
    assert "flowkit-workflows[notify]" in str(raised.value)
    assert "slack://***" in str(raised.value)
    assert "T1" not in str(raised.value)


def test_health_needs_someone_to_warn_and_a_positive_limit():
    with pytest.raises(DefinitionError, match="warns nobody"):
        Flow("lonely", health=Health(run_duration_over=60))
    with pytest.raises(DefinitionError, match="run_duration_over=0"):
        Health(run_duration_over=0)


def test_a_task_cannot_have_a_duration_warning():
    flow = Flow("tasky")
    with pytest.raises(DefinitionError, match="on_duration_warning belongs"):
        flow.task(name="slow", notify=Notify(on_duration_warning=[print]))(lambda: None)


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def test_a_mailto_alert_reaches_a_real_smtp_server_through_apprise(mailbox):
    box, port = mailbox
    url = f"mailto://127.0.0.1:{port}?from=flowkit@example.com&to=ops@example.com"
    flow = Flow("mailing", notify=Notify(on_failure=[url]))

    @flow.task
    def broken():
        raise RuntimeError("disk full")

    result = flow.run(executor="local")

    assert result.state is RunState.FAILED
    assert len(box.messages) == 1
    sender, recipients, content = box.messages[0]
    assert (sender, recipients) == ("flowkit@example.com", ["ops@example.com"])
    message = email.message_from_bytes(content)
    assert "flow mailing" in message["Subject"]
    assert "failed" in message["Subject"]
    text = "".join(
        part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    )
    assert result.run_id in text
    assert "RuntimeError: disk full" in text
    with open_store() as store:
        (delivery,) = store.get_deliveries(result.run_id)
    assert delivery.ok
    assert delivery.destination == "mailto://***"
