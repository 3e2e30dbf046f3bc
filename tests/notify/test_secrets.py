"""Secrets: read from the environment or a private secrets.toml; never shown, logged or kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowkit import Flow, Notify, RunState, SecretError, secrets, task_values
from flowkit._secrets import REDACTED, Redactor, known_values, variable_name
from flowkit._store import open_store
from flowkit.compat import dbutils

PASSWORD = "s3cr3t-hunter2"


@pytest.fixture
def secret_file(flowkit_home: Path) -> Path:
    flowkit_home.mkdir(parents=True, exist_ok=True)
    path = flowkit_home / "secrets.toml"
    path.write_text('[warehouse]\npassword = "from-the-file"\n[alerts]\ntoken = "tok-123456"\n')
    path.chmod(0o600)
    return path


def test_the_environment_variable_name_is_upper_case_with_underscores():
    assert variable_name("warehouse", "password") == "FLOWKIT_SECRET_WAREHOUSE_PASSWORD"
    assert variable_name("my-scope", "api.key") == "FLOWKIT_SECRET_MY_SCOPE_API_KEY"


def test_a_secret_is_read_from_the_environment_first_then_the_file(monkeypatch, secret_file):
    assert secrets.get("warehouse", "password") == "from-the-file"
    assert dbutils.secrets.get(scope="alerts", key="token") == "tok-123456"
    monkeypatch.setenv("FLOWKIT_SECRET_WAREHOUSE_PASSWORD", PASSWORD)
    assert secrets.get("warehouse", "password") == PASSWORD


def test_a_missing_secret_names_scope_key_and_where_to_put_it_never_a_value(secret_file):
    with pytest.raises(SecretError) as raised:
        secrets.get("warehouse", "user")
    message = str(raised.value)
    assert "'user'" in message
    assert "'warehouse'" in message
    assert "FLOWKIT_SECRET_WAREHOUSE_USER" in message
    assert "from-the-file" not in message


def test_a_secrets_file_others_can_read_is_refused(secret_file):
    secret_file.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        secrets.get("warehouse", "password")
    assert known_values() == frozenset()  # and its values are not used at all


def test_a_secrets_file_that_is_not_toml_is_a_clear_error(secret_file):
    secret_file.write_text("[warehouse\npassword = \n")
    with pytest.raises(SecretError, match="cannot be read as TOML"):
        secrets.get("warehouse", "password")


def test_the_redactor_replaces_every_value_in_text_bytes_and_data():
    redactor = Redactor(["hunter2", "hunter22", "ab"])
    assert redactor.text("a hunter22 and hunter2") == f"a {REDACTED} and {REDACTED}"
    assert redactor.bytes(b"x hunter2 y") == f"x {REDACTED} y".encode()
    assert redactor.data({"k": ["hunter2", 3], "hunter2": True}) == {
        "k": [REDACTED, 3],
        REDACTED: True,
    }
    assert not Redactor([]).active
    assert Redactor([]).text("hunter2") == "hunter2"


def test_known_values_skip_values_too_short_to_redact(monkeypatch):
    monkeypatch.setenv("FLOWKIT_SECRET_A_B", "xy")
    monkeypatch.setenv("FLOWKIT_SECRET_C_D", PASSWORD)
    assert PASSWORD in known_values()
    assert "xy" not in known_values()


FLOW = """
import sys, time
from flowkit import Flow, Notify, secrets, task_values

flow = Flow("leaky", notify=Notify(on_failure=["{hook}"]))

@flow.task
def leak():
    password = secrets.get("warehouse", "password")
    print("the password is", password)
    sys.stdout.write(password[:5]); sys.stdout.flush(); time.sleep(0.3)
    sys.stdout.write(password[5:] + " came in two writes\\n")
    task_values.set("password", password)
    task_values.set("nested", {{"list": [password]}})

flow.shell(
    "shell",
    'echo "env has $PASSWORD"; [ "$PASSWORD" = "{password}" ] && echo the env value is right',
    env={{"PASSWORD": "{{{{secrets/warehouse/password}}}}"}},
    depends_on=["leak"],
)

@flow.task(depends_on=["shell"])
def fail():
    raise RuntimeError("cannot log in with " + secrets.get("warehouse", "password"))
"""


def test_a_secret_never_appears_in_output_logs_show_the_store_or_payloads(tmp_path, hook):
    flow_file = tmp_path / "leaky.py"
    flow_file.write_text(FLOW.format(hook=hook.url, password=PASSWORD))
    home = tmp_path / "home"
    env = {**os.environ, "FLOWKIT_HOME": str(home), "FLOWKIT_SECRET_WAREHOUSE_PASSWORD": PASSWORD}

    def flowkit(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowkit", *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    run = flowkit("run", str(flow_file))
    assert run.returncode == 1
    assert PASSWORD not in run.stdout + run.stderr
    assert f"the password is {REDACTED}" in run.stdout
    assert f"{REDACTED} came in two writes" in run.stdout  # redacted whole across two reads
    assert f"env has {REDACTED}" in run.stdout
    assert "the env value is right" in run.stdout  # the command had the real value
    assert f"cannot log in with {REDACTED}" in run.stderr

    run_id = flowkit("runs").stdout.splitlines()[1].split()[0]
    for command in (("show", run_id), ("logs", run_id), ("logs", run_id, "--raw")):
        shown = flowkit(*command)
        assert shown.returncode in (0, 1), shown.stderr
        assert PASSWORD not in shown.stdout + shown.stderr
    assert REDACTED in flowkit("show", run_id).stdout  # the task values, redacted
    for path in home.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path

    hook.wait_for(1)
    assert PASSWORD not in str(hook.received)
    assert REDACTED in str(hook.received)


def test_a_secret_in_a_destination_url_is_filled_when_sent_and_never_kept(hook, monkeypatch):
    token = "tok-abcdef-987"
    monkeypatch.setenv("FLOWKIT_SECRET_ALERTS_TOKEN", token)
    url = hook.url.replace("secret-token", "{{secrets/alerts/token}}")
    flow = Flow("tokened", notify=Notify(on_success=[url]))

    @flow.task
    def work():
        task_values.set("note", "nothing secret")

    result = flow.run(executor="local")

    assert result.state is RunState.SUCCEEDED
    hook.wait_for(1)
    with open_store() as store:
        (delivery,) = store.get_deliveries(result.run_id)
    assert delivery.ok
    assert token not in delivery.destination
