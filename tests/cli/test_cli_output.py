"""What the command line prints: safe from what tasks write, quiet into a closed pipe."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowkit._state import RunState, TaskState
from flowkit._store import AttemptRecord, RunRecord, SqliteStore, open_store
from flowkit._store.liveness import this_host
from flowkit._text import escape, escape_lines
from flowkit.cli import main

FLOWS = Path(__file__).parents[1] / "flows"
CHATTY = str(FLOWS / "cli_chatty.py")
HOSTILE = str(FLOWS / "cli_hostile.py")
TITLE = "\x1b]0;pwned\x07"


def only_run(home: Path) -> RunRecord:
    with open_store(home, create=False) as store:
        (run,) = store.list_runs()
    return run


# -- escaping --------------------------------------------------------------------------------
def test_escape_writes_controls_as_repr_escapes_and_keeps_printable_unicode() -> None:
    assert escape(f"{TITLE} é ✓ 数据 \t\r\n\x7f\x9b\u202e") == (
        "\\x1b]0;pwned\\x07 é ✓ 数据 \\t\\r\\n\\x7f\\x9b\\u202e"
    )
    assert escape_lines("a\tb\nc\x1b[2J") == "a\tb\nc\\x1b[2J"


def test_the_run_prints_task_text_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", HOSTILE, "-p", "note=two\nlines"]) == 1

    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert "\x1b" not in stream
        assert "\x07" not in stream
        assert "\x9b" not in stream
    out = captured.out
    assert "params note=two\\nlines, executor" in out.splitlines()[0]  # the header, one line
    assert "[colour] \\x1b[31mred\\x1b[0m and \\x1b]0;owned\\x07 and a bell\\x07" in out
    assert "RuntimeError: \\x1b]0;pwned\\x07 boom\\x9b2J" in out  # state line and summary
    assert out.count("\\x1b]0;pwned\\x07 boom") == 2
    assert "RuntimeError: \\x1b]0;pwned\\x07 boom\\x9b2J" in captured.err  # the traceback


def test_show_and_logs_print_task_text_escaped_and_logs_raw_on_request(
    capsys: pytest.CaptureFixture[str], flowkit_home: Path
) -> None:
    assert main(["run", HOSTILE]) == 1
    run_id = only_run(flowkit_home).run_id
    capsys.readouterr()

    assert main(["show", run_id]) == 0
    shown = capsys.readouterr().out
    assert main(["logs", run_id]) == 0
    logs = capsys.readouterr().out
    assert main(["logs", run_id, "colour", "--raw"]) == 0
    raw = capsys.readouterr().out

    assert "\x1b" not in shown
    assert "RuntimeError: \\x1b]0;pwned\\x07 boom\\x9b2J" in shown
    assert "\x1b" not in logs
    assert "\x07" not in logs
    assert "\\x1b[31mred\\x1b[0m and \\x1b]0;owned\\x07" in logs
    assert "\x1b[31mred\x1b[0m and \x1b]0;owned\x07 and a bell\x07" in raw


def test_a_failed_tasks_logs_end_with_its_traceback(
    capsys: pytest.CaptureFixture[str], flowkit_home: Path
) -> None:
    assert main(["run", HOSTILE]) == 1
    run_id = only_run(flowkit_home).run_id
    capsys.readouterr()

    assert main(["logs", run_id, "retitle"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "== retitle, attempt 1: failed =="
    assert lines[1:3] == ["(no output captured)", "-- error of attempt 1 --"]
    assert lines[3] == "Traceback (most recent call last):"
    assert 'cli_hostile.py", line 19, in retitle' in "\n".join(lines)
    assert lines[-1] == "RuntimeError: \\x1b]0;pwned\\x07 boom\\x9b2J"


# -- a closed pipe ----------------------------------------------------------------------------
def flowkit_process(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowkit", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_lines_then_close(process: subprocess.Popen[str], count: int) -> tuple[list[str], str]:
    """What ``| head -COUNT`` does: read COUNT lines, close the pipe; then stderr to its end."""
    assert process.stdout is not None
    assert process.stderr is not None
    lines = [process.stdout.readline() for _ in range(count)]
    process.stdout.close()
    try:
        err = process.stderr.read()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return lines, err


def test_a_run_into_a_closed_pipe_goes_on_to_its_end_and_exits_with_its_code(
    flowkit_home: Path,
) -> None:
    lines, err = read_lines_then_close(flowkit_process("run", CHATTY), 2)

    assert lines[0].startswith("run ")
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
    run = only_run(flowkit_home)
    assert run.state is RunState.SUCCEEDED
    with open_store(flowkit_home, create=False) as store:
        states = {name: task.state for name, task in store.get_tasks(run.run_id).items()}
    assert states == {"talk": TaskState.SUCCEEDED, "after": TaskState.SUCCEEDED}


def test_a_failing_run_into_a_closed_pipe_still_exits_1(flowkit_home: Path) -> None:
    process = flowkit_process("run", HOSTILE)
    _, err = read_lines_then_close(process, 1)
    assert process.returncode == 1
    assert "BrokenPipe" not in err
    assert only_run(flowkit_home).state is RunState.FAILED


@pytest.mark.parametrize("command", ["logs", "show"])
def test_reading_commands_into_a_closed_pipe_exit_quietly(
    command: str, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", CHATTY]) == 0
    run_id = only_run(flowkit_home).run_id
    if command == "show":  # a page longer than a pipe holds: a value of 100 KiB of rows
        with SqliteStore(flowkit_home / "flowkit.db") as store:
            for index in range(2000):
                store.create_run(
                    RunRecord(run_id=f"child{index:05d}", flow_name="chatty", parent_run_id=run_id),
                    task_keys=["talk"],
                )
    process = flowkit_process(command, run_id)
    lines, err = read_lines_then_close(process, 1)

    assert lines[0].startswith("== talk" if command == "logs" else "run ")
    assert err == ""
    assert process.returncode == 0


# -- small things -------------------------------------------------------------------------------
def test_a_run_of_one_task_says_task(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "one.py"
    path.write_text("from flowkit import Flow\nflow = Flow('one')\nflow.task(name='only')(print)\n")
    assert main(["run", str(path), "--executor", "inline"]) == 0
    assert " started: 1 task, params none" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["graph", CHATTY, "--width", "-5"], "'-5' is not a number of columns"),
        (["graph", CHATTY, "--width", "wide"], "'wide' is not a number of columns"),
        (["run", CHATTY, "--grace-period", "nan"], "'nan' is not a number of seconds"),
        (["run", CHATTY, "--grace-period", "inf"], "'inf' is not a number of seconds"),
        (["run", CHATTY, "--grace-period", "-1"], "'-1' is not a number of seconds"),
    ],
)
def test_bad_numbers_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], flowkit_home: Path
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (flowkit_home / "flowkit.db").exists()  # nothing ran


def test_the_repair_refusal_shows_a_readable_time(
    capsys: pytest.CaptureFixture[str], flowkit_home: Path
) -> None:
    heartbeat = time.time()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with SqliteStore(flowkit_home / "flowkit.db") as store:
            store.create_run(
                RunRecord(
                    run_id="live0123456789",
                    flow_name="chatty",
                    started_at=heartbeat,
                    pid=alive.pid,
                    hostname=this_host(),
                    heartbeat_at=heartbeat,
                ),
                task_keys=["talk", "after"],
            )
        assert main(["repair", "live", CHATTY]) == 2
    finally:
        alive.kill()
        alive.wait()

    err = capsys.readouterr().err
    readable = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(heartbeat))
    assert f"last heartbeat at {readable} local time" in err
    assert str(heartbeat) not in err
    assert str(int(heartbeat)) not in err


def test_an_interrupted_run_shows_when_it_was_last_seen_not_its_start(
    capsys: pytest.CaptureFixture[str], flowkit_home: Path
) -> None:
    started = time.time() - 3600
    with SqliteStore(flowkit_home / "flowkit.db") as store:
        for run_id in ("quiet0000", "busy00000"):
            store.create_run(
                RunRecord(
                    run_id=run_id, flow_name="chatty", started_at=started, heartbeat_at=started
                ),
                task_keys=["talk", "after"],
            )
        store.record_attempt(
            AttemptRecord(
                run_id="busy00000",
                task_key="talk",
                attempt=1,
                state=TaskState.SUCCEEDED,
                started_at=started + 60,
                ended_at=started + 90,
            )
        )
    capsys.readouterr()

    assert main(["show", "quiet"]) == 0
    quiet = capsys.readouterr().out
    assert main(["show", "busy"]) == 0
    busy = capsys.readouterr().out
    assert main(["runs"]) == 0
    runs = capsys.readouterr().out

    assert "state     interrupted" in quiet
    assert "ended     unknown\n" in quiet
    assert "duration  unknown\n" in quiet
    seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started + 90))
    assert f"ended     unknown; last seen {seen}\n" in busy
    assert "duration  >= 1m30s\n" in busy
    assert "unknown" in runs


def test_a_library_run_prints_task_output_escaped(capsys):
    from flowkit import Flow

    flow = Flow("library_hostile")

    @flow.task
    def noisy() -> None:
        print("\x1b]0;owned\x07 title", flush=True)

    flow.run(executor="local", store=False)

    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "[noisy] \\x1b]0;owned\\x07 title" in out
