"""Shell tasks: output in the log, env and cwd, exit codes, retries, references, timeouts."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from proctools import processes_with, wait_until_gone

from flowkit import DefinitionError, Flow, RunState, ShellCommandFailed, TaskState, task_values
from flowkit._definition.kinds.shell import ShellCommand
from flowkit._errors import FlowkitError
from flowkit._planning.plan import build_plan
from flowkit.testing import task_context


@pytest.fixture(params=["inline", "local"])
def executor(request: pytest.FixtureRequest) -> str:
    return request.param


def test_output_lands_in_the_attempt_log():
    flow = Flow("shell_log")
    flow.shell("greet", "echo hello from the shell; echo to stderr >&2")

    result = flow.run(executor="local")

    assert result.state is RunState.SUCCEEDED
    log = Path(result.tasks["greet"].log_path).read_text()
    assert "hello from the shell" in log
    assert "to stderr" in log


def test_env_and_cwd_reach_the_command(executor, tmp_path):
    flow = Flow("shell_env")
    out = tmp_path / "out.txt"
    flow.shell(
        "where",
        f'printf "%s %s" "$GREETING" "$(pwd)" > {out}',
        env={"GREETING": "bonjour"},
        cwd=tmp_path,
    )

    result = flow.run(executor=executor)

    assert result.state is RunState.SUCCEEDED
    assert out.read_text() == f"bonjour {tmp_path.resolve()}"


def test_the_environment_of_the_attempt_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWKIT_TEST_INHERITED", "inherited")
    flow = Flow("shell_inherit")
    out = tmp_path / "out.txt"
    flow.shell("inherit", f'echo "$FLOWKIT_TEST_INHERITED $EXTRA" > {out}', env={"EXTRA": "x"})

    flow.run(executor="local")

    assert out.read_text() == "inherited x\n"


def test_a_non_zero_exit_fails_with_the_exit_code_and_is_retried(executor, tmp_path):
    flow = Flow("shell_fail")
    tries = tmp_path / "tries"
    flow.shell("flaky", f"echo try >> {tries}; exit 3", retries=2)

    result = flow.run(executor=executor)

    task = result.tasks["flaky"]
    assert task.state is TaskState.FAILED
    assert task.attempts == 3
    assert tries.read_text().count("try") == 3
    assert task.error.type_name == "ShellCommandFailed"
    assert "flow 'shell_fail', task 'flaky'" in task.error.message
    assert "exited with code 3" in task.error.message
    assert f"echo try >> {tries}; exit 3" in task.error.message


def test_a_command_that_succeeds_on_a_retry_succeeds(tmp_path):
    flow = Flow("shell_retry")
    marker = tmp_path / "second"
    flow.shell("second_time", f"test -e {marker} || {{ touch {marker}; exit 1; }}", retries=1)

    result = flow.run(executor="local")

    assert result.tasks["second_time"].state is TaskState.SUCCEEDED
    assert result.tasks["second_time"].attempts == 2


def test_a_command_killed_by_a_signal_names_the_signal():
    command = ShellCommand(flow_name="f", task_key="t", command="kill -TERM $$")

    with pytest.raises(ShellCommandFailed, match=r"killed by SIGTERM \(signal 15\)"):
        command()


def test_references_to_a_parameter_and_an_upstream_value_are_filled_in(executor, tmp_path):
    flow = Flow("shell_refs", params={"model": "orders", "target": "dev"})
    out = tmp_path / "out.txt"

    @flow.task
    def ingest():
        task_values.set("row_count", 14520)

    flow.shell(
        "dbt_run",
        f"echo run {{{{job.parameters.model}}}} {{{{ tasks.ingest.values.row_count }}}} "
        f'"$TARGET" {{{{job.name}}}} > {out}',
        depends_on=[ingest],
        env={"TARGET": "{{job.parameters.target}}"},
    )

    result = flow.run(executor=executor, params={"model": "customers"})

    assert result.state is RunState.SUCCEEDED
    assert out.read_text() == "run customers 14520 dev shell_refs\n"


def test_a_value_is_one_shell_word_and_never_runs_as_a_command(executor, tmp_path):
    pwned = tmp_path / "pwned"
    hostile = f"x; touch {pwned}; $(touch {pwned}) `touch {pwned}` 'q' \"d\" *"
    flow = Flow("shell_words", params={"model": "orders"})
    out = tmp_path / "out"

    @flow.task
    def ingest():
        task_values.set("name", hostile)

    flow.shell(
        "echo",
        f"printf '%s|' {{{{tasks.ingest.values.name}}}} {{{{job.parameters.model}}}} > {out}",
        depends_on=[ingest],
    )

    result = flow.run(executor=executor, params={"model": hostile})

    assert result.state is RunState.SUCCEEDED, result.tasks["echo"].error
    assert not pwned.exists()
    assert out.read_text() == f"{hostile}|{hostile}|"


def test_a_parameter_given_with_p_is_one_shell_word(tmp_path):
    flow_file = tmp_path / "build.py"
    flow_file.write_text(
        "from flowkit import Flow\n"
        "flow = Flow('build', params={'model': 'orders'})\n"
        "flow.shell('build', 'echo building {{job.parameters.model}} from 14520 rows')\n"
    )

    completed = subprocess.run(
        [sys.executable, "-m", "flowkit", "run", str(flow_file), "-p", "model=x; touch pwned"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert not (tmp_path / "pwned").exists()
    assert "building x; touch pwned from 14520 rows" in completed.stdout


@pytest.mark.parametrize(
    ("command", "where"),
    [
        ('echo "rows={{tasks.ingest.values.n}}"', "double quotes"),
        ("echo 'rows={{tasks.ingest.values.n}}'", "single quotes"),
        ("echo $'{{tasks.ingest.values.n}}'", "$'...' quotes"),
        ("echo $(( {{tasks.ingest.values.n}} + 1 ))", "an arithmetic expansion"),
        ('echo "`echo {{tasks.ingest.values.n}}`"', "backquotes inside double quotes"),
        ("cat <<EOF\nrows {{tasks.ingest.values.n}}\nEOF", "a here-document"),
        ('echo "$( echo ")" ) {{tasks.ingest.values.n}}"', "double quotes"),
    ],
)
def test_a_reference_inside_quotes_is_refused_when_the_task_is_defined(command, where):
    flow = Flow("shell_quoted")

    with pytest.raises(DefinitionError) as raised:
        flow.shell("quoted", command)

    (problem,) = raised.value.problems
    assert problem.startswith("flow 'shell_quoted', task 'quoted': option command=")
    assert f"reference {{{{tasks.ingest.values.n}}}} inside {where}" in problem
    assert 'pass it through env (env={"VALUE": "{{tasks.ingest.values.n}}"})' in problem
    assert flow.tasks == {}


@pytest.mark.parametrize(
    "command",
    [
        "echo rows={{tasks.ingest.values.n}} --vars={{ tasks.ingest.values.n }}/x",
        'echo "$(cat {{tasks.ingest.values.n}})" `cat {{tasks.ingest.values.n}}`',
        "echo \\'{{tasks.ingest.values.n}}\\' \\\"{{tasks.ingest.values.n}}\\\"",
        "docker inspect -f '{{.State.Status}}' {{tasks.ingest.values.n}} # 'comment",
        "cat <<'EOF'\n'\nEOF\necho {{tasks.ingest.values.n}}",
        'echo "rows=$ROWS" {{tasks.ingest.values.n}}',
    ],
)
def test_a_reference_outside_quotes_is_accepted(command):
    flow = Flow("shell_unquoted")

    assert flow.shell("fine", command).fn.command == command


def test_text_for_inside_quotes_goes_through_env_as_it_is(tmp_path):
    flow = Flow("shell_env_raw")
    out = tmp_path / "out"

    @flow.task
    def ingest():
        task_values.set("n", "14 520")

    flow.shell(
        "echo",
        f'echo "rows=$ROWS" > {out}',
        depends_on=[ingest],
        env={"ROWS": "{{tasks.ingest.values.n}}"},
    )

    assert flow.run(executor="inline").state is RunState.SUCCEEDED
    assert out.read_text() == "rows=14 520\n"


def test_a_cwd_may_hold_references(tmp_path):
    flow = Flow("shell_cwd", params={"where": str(tmp_path)})
    flow.shell("here", "pwd > out.txt", cwd="{{job.parameters.where}}")

    flow.run(executor="local")

    assert (tmp_path / "out.txt").read_text().strip() == str(tmp_path.resolve())


def test_a_missing_upstream_value_fails_the_attempt_clearly():
    flow = Flow("shell_missing")

    @flow.task
    def ingest():
        task_values.set("other", 1)

    flow.shell("uses", "echo {{tasks.ingest.values.row_count}}", depends_on=[ingest])

    result = flow.run(executor="local")

    error = result.tasks["uses"].error
    assert result.tasks["uses"].state is TaskState.FAILED
    assert error.type_name == "TaskValueError"
    assert "set no value 'row_count'" in error.message


def test_a_timeout_kills_the_command_and_everything_it_started():
    marker = f"flowkit-shell-{uuid.uuid4().hex}"
    flow = Flow("shell_timeout")
    sleeper = f"{sys.executable} -c 'import time; time.sleep(300)' {marker}"
    # The shell starts a background grandchild and then waits on a foreground one.
    flow.shell("hangs", f"{sleeper} & {sleeper}; wait", timeout=1)

    started = time.monotonic()
    result = flow.run(executor="local")
    elapsed = time.monotonic() - started

    assert result.tasks["hangs"].state is TaskState.TIMED_OUT
    assert wait_until_gone(marker) == []
    assert processes_with(marker) == []
    assert elapsed < 30


# -- definition -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", "   ", None, ["echo", "hi"]])
def test_the_command_must_be_a_non_empty_string(command):
    flow = Flow("shell_bad")

    with pytest.raises(DefinitionError) as caught:
        flow.shell("bad", command)

    message = str(caught.value)
    assert "flow 'shell_bad', task 'bad'" in message
    assert "option command=" in message
    assert "a non-empty string" in message
    assert flow.tasks == {}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"env": {"N": 1}}, "env"),
        ({"env": ["A=1"]}, "env"),
        ({"cwd": 3}, "cwd"),
        ({"retries": -2}, "retries"),
        ({"depends_on": "ingest"}, "depends_on"),
    ],
)
def test_invalid_options_name_flow_task_and_option(options, option):
    flow = Flow("shell_bad")

    with pytest.raises(DefinitionError, match=rf"flow 'shell_bad', task 'bad': option {option}="):
        flow.shell("bad", "echo hi", **options)


def test_a_shell_task_is_a_task_that_carries_its_references():
    flow = Flow("shell_spec")

    task = flow.shell("step", "echo {{job.run_id}}", env={"A": "{{job.name}}"}, cwd="/tmp")

    assert flow.tasks["step"] is task
    assert isinstance(task.fn, ShellCommand)
    assert task.fn.__flowkit_references__ == ["echo {{job.run_id}}", "{{job.name}}", "/tmp"]
    assert pickle.loads(pickle.dumps(task.fn)) == task.fn
    assert build_plan(flow.spec()).order == ("step",)


def test_the_plan_reports_every_bad_reference_in_command_env_and_cwd():
    flow = Flow("shell_plan", params={"date": "2026-11-23"})

    @flow.task
    def ingest(): ...

    @flow.task
    def elsewhere(): ...

    task = flow.shell(
        "step",
        "echo {{job.parameters.date}} {{job.parameters.day}} {{tasks.elsewhere.values.k}}",
        depends_on=[ingest],
        env={"A": "{{job.nam}}", "B": "{{job.parameters.day}}"},
        cwd="{{jobs.run_id}}",
    )

    with pytest.raises(DefinitionError) as raised:
        flow.plan()
    problems = raised.value.problems

    assert task.name == "step"
    assert len(problems) == 4  # the undeclared 'day' twice in the text, reported once
    assert all(problem.startswith("flow 'shell_plan', task 'step': ") for problem in problems)
    assert "undeclared parameter 'day'" in problems[0]
    assert "task 'elsewhere', which is not upstream" in problems[1]
    assert "{{job.nam}}" in problems[2]
    assert "unknown namespace 'jobs'" in problems[3]


def test_the_plan_accepts_good_references_in_a_shell_task():
    flow = Flow("shell_plan", params={"date": "2026-11-23"})

    @flow.task
    def ingest(): ...

    task = flow.shell(
        "step", "echo {{job.parameters.date}} {{tasks.ingest.values.k}}", depends_on=[ingest]
    )

    assert flow.plan().order == ("ingest", "step")
    assert task.fn.__flowkit_references__ == [
        "echo {{job.parameters.date}} {{tasks.ingest.values.k}}"
    ]


# -- calling the task in a test ------------------------------------------------------


def test_calling_a_shell_task_in_a_task_context_resolves_against_it(tmp_path, capfd):
    flow = Flow("shell_unit")
    task = flow.shell("echo", "echo {{tasks.ingest.values.n}} {{job.parameters.day}}")

    with task_context(values={"ingest": {"n": 5}}, params={"day": "monday"}):
        assert task() is None

    assert capfd.readouterr().out == "5 monday\n"


def test_calling_a_shell_task_with_references_outside_a_run_says_what_to_do():
    flow = Flow("shell_unit")
    task = flow.shell("echo", "echo {{job.run_id}}")

    with pytest.raises(FlowkitError, match=r"outside a run.*task_context"):
        task()


def test_calling_a_shell_task_without_references_outside_a_run_runs_it(capfd):
    flow = Flow("shell_unit")
    task = flow.shell("echo", "echo plain")

    task()

    assert capfd.readouterr().out == "plain\n"


# -- the example ---------------------------------------------------------------------


def test_the_shell_step_example_runs_green_from_the_command_line():
    example = Path(__file__).resolve().parents[2] / "examples" / "shell_step.py"

    completed = subprocess.run(
        [sys.executable, "-m", "flowkit", "run", str(example), "-p", "model=customers"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "building customers from 14520 rows" in completed.stdout


def test_flow_shell_registers_a_shell_task_and_its_references_are_checked_at_plan_time():
    flow = Flow("wired", params={"model": "orders"})

    @flow.task
    def ingest():
        pass

    flow.shell("ok", "echo {{job.parameters.model}}", depends_on=[ingest])
    flow.shell("bad", "echo {{tasks.later.values.rows}} {{job.parameters.modl}}")

    @flow.task
    def later():
        pass

    with pytest.raises(DefinitionError) as caught:
        flow.plan()

    problems = caught.value.problems
    assert len(problems) == 2
    assert any("'later'" in problem and "not upstream" in problem for problem in problems)
    assert any("'modl'" in problem for problem in problems)
