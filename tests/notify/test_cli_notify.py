"""flowkit notify test DEST: a sample payload, delivered or not, said in one line."""

from __future__ import annotations

from flowkit.cli import main


def test_a_sample_reaches_a_webhook_and_exits_0(hook, capsys):
    assert main(["notify", "test", hook.url]) == 0
    hook.wait_for(1)
    assert hook.received[0]["event"] == "on_failure"
    assert hook.received[0]["flow"] == "example"
    out = capsys.readouterr().out
    assert "delivered a sample notification to http://127.0.0.1" in out
    assert "secret-token" not in out  # the URL's path is not shown


def test_an_unreachable_destination_exits_1_saying_why(refused_url, capsys):
    assert main(["notify", "test", refused_url]) == 1
    assert "not delivered" in capsys.readouterr().err


def test_a_destination_that_is_not_one_exits_2(capsys):
    assert main(["notify", "test", "not a url"]) == 2
    assert "no scheme" in capsys.readouterr().err


def test_a_secret_in_the_destination_is_filled_and_never_printed(hook, capsys, monkeypatch):
    monkeypatch.setenv("FLOWKIT_SECRET_ALERTS_TOKEN", "tok-xyz-123")
    url = hook.url.replace("secret-token", "{{secrets/alerts/token}}")
    assert main(["notify", "test", url]) == 0
    captured = capsys.readouterr()
    assert "tok-xyz-123" not in captured.out + captured.err
