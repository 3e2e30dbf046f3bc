"""The command line: run and graph, their output, and their exit codes 0, 1, 2 and 130."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flowkit
from flowkit._clock import format_duration
from flowkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "flows"
EXAMPLE = ROOT / "examples" / "lakehouse.py"
FLOWKIT_SOURCE = f"{Path(flowkit.__file__).parent}/"

RUN_ID = r"[0-9a-f]{32}"
TIME = r"\d\d:\d\d:\d\d"


def flow_file(name: str) -> str:
    return str(FLOWS / f"{name}.py")


def run_inline(name: str, *options: str) -> list[str]:
    return ["run", flow_file(name), "--executor", "inline", *options]


def state_lines(out: str, task: str) -> list[str]:
    """The states ``task`` went through, from the progress lines."""
    pattern = re.compile(rf"^{TIME}  {task} +(\w+)", re.MULTILINE)
    return pattern.findall(out)


def summary(out: str) -> list[list[str]]:
    """The summary table's rows (up to the blank line), split on runs of two or more spaces."""
    lines = out.splitlines()
    start = max(index for index, line in enumerate(lines) if line.startswith("task "))
    end = lines.index("", start)
    return [re.split(r"\s{2,}", line.strip()) for line in lines[start:end]]


# -- run: success ---------------------------------------------------------------------------
def test_a_successful_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_inline("cli_simple")) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    started = re.fullmatch(
        rf"run ({RUN_ID}) of flow 'simple' started: 2 tasks, "
        r"params date=2026-01-01, limit=10, query=all, executor inline, max_parallel 1",
        lines[0],
    )
    assert started, lines[0]
    assert re.fullmatch(rf"run {started[1]} succeeded in \d+\.\d\ds", lines[-1]), lines[-1]
    assert state_lines(out, "first") == ["queued", "running", "succeeded"]
    assert state_lines(out, "second") == ["queued", "running", "succeeded"]
    assert "second got hello" in out
    assert summary(out) == [
        ["task", "state", "attempts", "duration", "compute", "error"],
        ["first", "succeeded", "1", summary(out)[1][3], summary(out)[1][4]],
        ["second", "succeeded", "1", summary(out)[2][3], summary(out)[2][4]],
    ]
    assert re.fullmatch(r"\d+\.\d\ds", summary(out)[1][3])
    assert re.fullmatch(r"\d+\.\d\ds", summary(out)[1][4])
    assert lines[-3] == ""
    assert re.fullmatch(r"compute: \d+\.\d\ds in 2 attempts", lines[-2]), lines[-2]


def test_a_state_line_has_time_task_state_and_detail(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_inline("cli_failing")) == 1
    out = capsys.readouterr().out
    assert re.search(rf"^{TIME}  transform  running$", out, re.MULTILINE)
    assert re.search(rf"^{TIME}  transform  failed +ValueError: bad row 7$", out, re.MULTILINE)
    assert re.search(rf"^{TIME}  load       upstream_failed +\(run_if all_success\)$", out, re.M)


def test_params_override_with_type_conversion_and_equals_in_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = ["-p", "date=2026-02-03", "-p", "limit=5", "--param", "query=a=b=c"]
    assert main(run_inline("cli_simple", *options)) == 0
    out = capsys.readouterr().out
    assert "params: date=2026-02-03 limit=5 (int) query=a=b=c" in out
    assert "params date=2026-02-03, limit=5, query=a=b=c" in out.splitlines()[0]


def test_a_module_target_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    assert main(["run", "cli_two_flows:daily", "--executor", "inline"]) == 0
    out = capsys.readouterr().out
    assert "daily report" in out
    assert "nightly backup" not in out


def test_the_default_executor_shows_what_tasks_print(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", flow_file("cli_simple")]) == 0
    out = capsys.readouterr().out
    assert "[second] second got hello" in out
    assert "executor inline" not in out.splitlines()[0]


def test_max_parallel_reaches_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", flow_file("cli_simple"), "--max-parallel", "3"]) == 0
    assert "max_parallel 3" in capsys.readouterr().out.splitlines()[0]


# -- run: the lakehouse example ----------------------------------------------------------------
def test_the_example_retries_clean_and_passes_the_row_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", str(EXAMPLE), "--executor", "inline"]) == 0
    out = capsys.readouterr().out
    assert "clean received 14520 rows" in out
    assert state_lines(out, "clean") == [
        "queued",
        "running",
        "waiting_for_retry",
        "queued",
        "running",
        "succeeded",
    ]
    assert re.search(rf"^{TIME}  clean    running            \(attempt 2 of 4\)$", out, re.M)
    assert re.search(
        r"waiting_for_retry  ConnectionError: warehouse not ready .*; retrying in 0.50s$",
        out,
        re.MULTILINE,
    )
    rows = {row[0]: row[1:3] for row in summary(out)[1:]}
    assert rows == {
        "ingest": ["succeeded", "1"],
        "clean": ["succeeded", "2"],
        "metrics": ["succeeded", "1"],
        "train": ["succeeded", "1"],
        "alert": ["excluded", "0"],
    }
    assert re.fullmatch(rf"run {RUN_ID} succeeded in .*", out.splitlines()[-1])


def test_the_example_warns_when_ingest_found_no_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXAMPLE), "--executor", "inline", "-p", "date=2019-06-01"]) == 0
    captured = capsys.readouterr()
    assert "clean received 0 rows" in captured.out
    assert re.search(
        rf"^{TIME}  WARNING  clean: ingest loaded no rows for 2019-06-01", captured.err, re.M
    )


# -- run: failures and exit codes --------------------------------------------------------------
def test_a_failed_run_exits_1_with_the_error_in_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(run_inline("cli_failing")) == 1
    captured = capsys.readouterr()
    rows = summary(captured.out)
    assert rows[1:] == [
        ["extract", "succeeded", "1", rows[1][3], rows[1][4]],
        ["transform", "failed", "1", rows[2][3], rows[2][4], "ValueError: bad row 7"],
        ["load", "upstream_failed", "0", "-", "-"],
    ]
    assert "second line" not in captured.out
    assert re.fullmatch(rf"run {RUN_ID} failed in .*", captured.out.splitlines()[-1])
    # The whole traceback goes to stderr, from the task's own code.
    assert "task transform failed after 1 attempt(s):" in captured.err
    assert 'cli_failing.py", line 15, in transform' in captured.err
    assert "  the second line stays out of the summary" in captured.err


def test_a_handled_failure_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_inline("cli_handled")) == 0
    out = capsys.readouterr().out
    assert "cleaning up after risky" in out
    assert re.fullmatch(rf"run {RUN_ID} succeeded_with_failures in .*", out.splitlines()[-1])
    assert summary(out)[1][1:3] == ["failed", "1"]


def test_an_interrupted_run_is_cancelled_and_exits_130(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(run_inline("cli_interrupted")) == 130
    captured = capsys.readouterr()
    assert state_lines(captured.out, "second") == ["cancelled"]
    assert [row[:2] for row in summary(captured.out)[1:]] == [
        ["first", "cancelled"],
        ["second", "cancelled"],
    ]
    assert re.fullmatch(rf"run {RUN_ID} cancelled in .*", captured.out.splitlines()[-1])
    assert "interrupted: cancelling" in captured.err


def test_verbose_logs_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_inline("cli_failing")) == 1
    assert "DEBUG" not in capsys.readouterr().err
    assert main([*run_inline("cli_failing"), "-v"]) == 1
    assert re.search(r"DEBUG +task transform attempt 1 ended failed", capsys.readouterr().err)


def test_warnings_become_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_inline("cli_timeout")) == 0
    err = capsys.readouterr().err
    assert re.search(
        rf"^{TIME}  WARNING  flow 'timed': the inline executor runs tasks in its ", err
    )
    assert "timeout is not enforced for: " in err
    assert "RuntimeWarning" not in err


# -- bad input: exit code 2 and a message, no traceback -------------------------------------------
def assert_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert FLOWKIT_SOURCE not in captured.err  # no frame of flowkit's own
    assert captured.out == ""
    return captured.err


def test_param_without_equals(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(
        capsys,
        run_inline("cli_simple", "-p", "date"),
        "error: argument -p/--param: 'date' is not KEY=VALUE; write it as -p date=VALUE",
    )


def test_param_without_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(capsys, run_inline("cli_simple", "-p", "=x"), "'=x' is not KEY=VALUE")


def test_undeclared_param(capsys: pytest.CaptureFixture[str]) -> None:
    err = assert_usage_error(
        capsys,
        run_inline("cli_simple", "-p", "colour=red"),
        "flowkit: error: flow 'simple': unknown parameter 'colour'; "
        "declared parameters: date, limit, query",
    )
    assert "Traceback" not in err


def test_param_of_the_wrong_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(
        capsys,
        run_inline("cli_simple", "-p", "limit=ten"),
        "parameter 'limit'='ten' is not a valid int",
    )


def test_unknown_executor(capsys: pytest.CaptureFixture[str]) -> None:
    err = assert_usage_error(
        capsys,
        ["run", flow_file("cli_simple"), "--executor", "warp"],
        "unknown executor 'warp'; valid executors: inline",
    )
    assert "Traceback" not in err


def test_max_parallel_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(
        capsys,
        run_inline("cli_simple", "--max-parallel", "0"),
        "argument --max-parallel: '0' is not a whole number >= 1",
    )


def test_missing_flow_file(capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(FLOWS / "cli_missing.py")
    assert_usage_error(
        capsys,
        ["run", missing],
        f"flowkit: error: flow file '{missing}' does not exist\n",
    )


def test_flow_file_with_a_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("from flowkit import Flow\n\nflow = Flow('broken'\n")
    err = assert_usage_error(capsys, ["run", str(path)], f"{path}, line 3")
    assert f"flowkit: error: flow file '{path}' has a syntax error at" in err
    assert "Traceback" not in err


def test_flow_file_that_raises_on_import(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "raises.py"
    path.write_text(
        textwrap.dedent(
            """
            SETTINGS = {}
            region = SETTINGS["region"]
            """
        )
    )
    err = assert_usage_error(
        capsys, ["graph", str(path)], f"flow file '{path}' failed to import: KeyError: 'region'"
    )
    assert f'File "{path}", line 3, in <module>' in err
    assert err.count('File "') == 1


def test_module_with_no_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(capsys, ["run", flow_file("cli_no_flow")], "defines no flow")


def test_module_with_two_flows(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(
        capsys,
        ["run", flow_file("cli_two_flows")],
        "defines 2 flows: 'daily' (attribute daily), 'nightly' (attribute nightly_flow)",
    )


def test_unknown_flow_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(
        capsys,
        ["run", f"{flow_file('cli_two_flows')}:weekly"],
        "has no flow 'weekly'; flows found: 'daily' (attribute daily), "
        "'nightly' (attribute nightly_flow)",
    )


def test_invalid_flow_definition(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(
        capsys, ["run", flow_file("cli_cycle")], "flow 'cyclic': dependency cycle a -> b -> a"
    )


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate", "abc"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "-p KEY=VALUE, --param KEY=VALUE" in out
    assert "--max-parallel N" in out


# -- graph --------------------------------------------------------------------------------------
def test_graph_of_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(EXAMPLE), "--width", "80"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:5] == [
        "       ┌────────┐",
        "       │ ingest │",
        "       └───┬────┘",
        "           ▼",
        "       ┌───────┐",
    ]
    assert "     ┌─────┴──────┐\n     ▼            ▼\n┌─────────┐   ┌───────┐\n" in out
    assert "     └──────┬─────┘\n            ▼\n        ┌───────┐\n        │ alert │\n" in out
    assert out.endswith("\nalert: run_if=at_least_one_failed\n")


def test_graph_too_narrow_lists_the_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(EXAMPLE), "--width", "20"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flow 'lakehouse' needs 23 columns to draw and 20 are available")
    assert "level 3  alert    <- metrics, train  (run_if=at_least_one_failed)" in out


def test_graph_of_an_invalid_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(capsys, ["graph", flow_file("cli_cycle")], "dependency cycle a -> b -> a")


# -- as a real process ----------------------------------------------------------------------------
def flowkit(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowkit", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_the_example_as_a_process(tmp_path: Path) -> None:
    done = flowkit("run", str(EXAMPLE), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "clean received 14520 rows" in done.stdout
    assert re.match(rf"run ({RUN_ID}) of flow 'lakehouse' started", done.stdout)
    assert re.search(rf"^run {RUN_ID} succeeded in ", done.stdout, re.MULTILINE)
    assert re.search(r"^alert +excluded +0 +- +-$", done.stdout, re.MULTILINE)
    assert re.search(r"^compute: \S+ in 5 attempts$", done.stdout, re.MULTILINE)


def test_exit_codes_as_a_process(tmp_path: Path) -> None:
    failed = flowkit("run", flow_file("cli_failing"), cwd=tmp_path)
    assert failed.returncode == 1
    assert "ValueError: bad row 7" in failed.stdout
    missing = flowkit("run", "nowhere.py", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == (
        f"flowkit: error: flow file 'nowhere.py' does not exist (relative to {tmp_path})\n"
    )
    interrupted = flowkit("run", flow_file("cli_interrupted"), "--executor", "inline", cwd=tmp_path)
    assert interrupted.returncode == 130


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.004, 9.994, 12.34, 125, 3720)] == [
        "0.00s",
        "9.99s",
        "12.3s",
        "2m05s",
        "1h02m",
    ]
