"""flowkit._engine.loader: targets, loading by path and by module, picking the flow, bad targets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest

from flowkit import DefinitionError
from flowkit._engine.loader import Target, load_flow, module_name_for, parse_target

FLOWS = Path(__file__).resolve().parents[1] / "flows"


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


@pytest.mark.parametrize(
    ("text", "source", "flow_name"),
    [
        ("flows/etl.py", "flows/etl.py", None),
        ("flows/etl.py:daily", "flows/etl.py", "daily"),
        ("pipelines.etl", "pipelines.etl", None),
        ("pipelines.etl:nightly", "pipelines.etl", "nightly"),
        ("a:b:flow", "a:b", "flow"),
        ("C:\\flows\\etl.py", "C:\\flows\\etl.py", None),
        ("C:\\flows\\etl.py:daily", "C:\\flows\\etl.py", "daily"),
        ("/srv/x:y/etl.py", "/srv/x:y/etl.py", None),
    ],
)
def test_parse_target(text: str, source: str, flow_name: str | None) -> None:
    assert parse_target(text) == Target(source=source, flow_name=flow_name)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("etl.py:", "ends with ':'; name the flow after it"),
        (":daily", "names no file or module"),
        ("", "names no file or module"),
    ],
)
def test_parse_target_rejects(text: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse_target(text)


def test_a_path_loads_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    flow = load_flow(str(FLOWS / "cli_simple.py"))
    assert flow.name == "simple"
    name = module_name_for(FLOWS / "cli_simple.py")
    assert name.startswith("flowkit_flow_cli_simple_")
    assert sys.modules[name].flow is flow
    assert Path(sys.modules[name].__file__) == FLOWS / "cli_simple.py"


def test_a_relative_path_is_relative_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(FLOWS.parent)
    assert load_flow("flows/cli_failing.py").name == "failing"


def test_two_files_of_one_name_get_two_modules(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "etl.py", tmp_path / "b" / "etl.py"
    assert module_name_for(first) != module_name_for(second)
    assert module_name_for(first) == module_name_for(Path(str(first)))


def test_a_loaded_file_pickles_by_value_into_a_process_that_cannot_import_it(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "shipped.py",
        """
        from flowkit import Flow

        flow = Flow("shipped")
        FACTOR = 6


        @flow.task
        def answer():
            return FACTOR * 7
        """,
    )
    payload = cloudpickle.dumps(load_flow(str(path)).tasks["answer"].fn)
    unpickle = "import sys, cloudpickle; print(cloudpickle.loads(sys.stdin.buffer.read())())"
    done = subprocess.run(
        [sys.executable, "-c", unpickle],
        input=payload,
        capture_output=True,
        cwd=FLOWS,  # not tmp_path: the child cannot import shipped.py
        check=False,
    )
    assert done.stderr.decode() == ""
    assert done.stdout.decode().strip() == "42"


def test_a_flow_file_can_import_its_neighbours(tmp_path: Path) -> None:
    write(tmp_path / "cli_neighbour_helpers.py", "ROWS = 12\n")
    path = write(
        tmp_path / "uses_helper.py",
        """
        from cli_neighbour_helpers import ROWS
        from flowkit import Flow

        flow = Flow(f"rows_{ROWS}")
        """,
    )
    assert load_flow(str(path)).name == "rows_12"


def test_a_module_name_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    assert load_flow("cli_two_flows:nightly").name == "nightly"


def test_a_module_in_the_working_directory_loads_without_being_on_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "cli_cwd_module.py", "from flowkit import Flow\nflow = Flow('from_cwd')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "cli_cwd_module", raising=False)
    assert load_flow("cli_cwd_module").name == "from_cwd"


# -- picking the flow -------------------------------------------------------------------------
def test_the_only_flow_is_picked() -> None:
    assert load_flow(str(FLOWS / "cli_failing.py")).name == "failing"


def test_several_flows_are_listed_once_each() -> None:
    with pytest.raises(DefinitionError) as raised:
        load_flow(str(FLOWS / "cli_two_flows.py"))
    message = str(raised.value)
    assert (
        "defines 2 flows: 'daily' (attribute daily), 'nightly' (attribute nightly_flow)" in message
    )
    assert "cli_two_flows.py:FLOW" in message


def test_flow_by_attribute_then_by_name() -> None:
    target = str(FLOWS / "cli_two_flows.py")
    assert load_flow(f"{target}:nightly_flow").name == "nightly"
    assert load_flow(f"{target}:nightly").name == "nightly"
    assert load_flow(f"{target}:also_daily").name == "daily"


def test_an_unknown_flow_name_lists_the_flows() -> None:
    with pytest.raises(DefinitionError) as raised:
        load_flow(f"{FLOWS / 'cli_two_flows.py'}:weekly")
    assert "has no flow 'weekly'; flows found: 'daily' (attribute daily)" in str(raised.value)


def test_an_attribute_that_is_not_a_flow() -> None:
    with pytest.raises(DefinitionError, match="attribute 'report' is a Task, not a Flow"):
        load_flow(f"{FLOWS / 'cli_two_flows.py'}:report")


def test_a_module_without_a_flow() -> None:
    with pytest.raises(DefinitionError, match=r"cli_no_flow.py' defines no flow; define one"):
        load_flow(str(FLOWS / "cli_no_flow.py"))


# -- bad files and modules --------------------------------------------------------------------
def test_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DefinitionError) as raised:
        load_flow("flows/missing.py")
    assert str(raised.value) == (
        f"flow file 'flows/missing.py' does not exist (relative to {tmp_path})"
    )


def test_a_directory_is_not_a_flow_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"is not a file; give the \.py file"):
        load_flow(f"{tmp_path}/")


def test_a_syntax_error_shows_file_line_and_caret(tmp_path: Path) -> None:
    path = write(
        tmp_path / "broken.py",
        """
        from flowkit import Flow

        flow = Flow("broken")
        def ingest(:
            pass
        """,
    )
    with pytest.raises(DefinitionError) as raised:
        load_flow(str(path))
    assert str(raised.value).splitlines() == [
        f"flow file '{path}' has a syntax error at {path}, line 5: invalid syntax",
        "    def ingest(:",
        "               ^",
    ]
    assert not any(name.startswith("flowkit_flow_broken_") for name in sys.modules)


def test_an_error_on_import_shows_the_users_traceback_only(tmp_path: Path) -> None:
    path = write(
        tmp_path / "raises.py",
        """
        def connect():
            raise RuntimeError("database is down")


        connect()
        """,
    )
    with pytest.raises(DefinitionError) as raised:
        load_flow(str(path))
    lines = str(raised.value).splitlines()
    assert lines[0] == f"flow file '{path}' failed to import: RuntimeError: database is down"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: database is down"
    files = [line.strip() for line in lines if line.strip().startswith("File ")]
    assert files == [
        f'File "{path}", line 6, in <module>',
        f'File "{path}", line 3, in connect',
    ]


def test_system_exit_on_import_is_a_definition_error(tmp_path: Path) -> None:
    path = write(tmp_path / "exits.py", "import sys\nsys.exit(3)\n")
    with pytest.raises(DefinitionError, match="failed to import: SystemExit: 3"):
        load_flow(str(path))


def test_an_unknown_module() -> None:
    with pytest.raises(DefinitionError) as raised:
        load_flow("no_such_module_here:flow")
    assert "no flow file or module named 'no_such_module_here'" in str(raised.value)


def test_a_module_whose_own_import_is_missing_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "cli_needs_missing.py", "import no_such_dependency_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DefinitionError) as raised:
        load_flow("cli_needs_missing")
    message = str(raised.value)
    assert message.startswith(
        "module 'cli_needs_missing' failed to import: ModuleNotFoundError: "
        "No module named 'no_such_dependency_here'"
    )


def test_a_definition_error_on_import_is_one_paragraph_at_the_users_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad_retries.py",
        """
        from flowkit import Flow

        flow = Flow("bad")


        @flow.task(retries=-2)
        def a():
            pass
        """,
    )
    with pytest.raises(DefinitionError) as excinfo:
        load_flow(str(path))
    message = str(excinfo.value)
    assert message == (
        f"flow file {str(path)!r} defines an invalid flow ({path}, line 7): flow 'bad', "
        "task 'a': option retries=-2 is invalid; allowed: an integer >= 0, or -1 for unlimited"
    )
    assert excinfo.value.problems == [message.partition("line 7): ")[2]]


def test_a_definition_error_on_import_of_a_module_says_where_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "bad_module_xyz.py", 'from flowkit import Flow\nFlow("no spaces allowed")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DefinitionError) as excinfo:
        load_flow("bad_module_xyz")
    message = str(excinfo.value)
    assert message.startswith("module 'bad_module_xyz' defines an invalid flow (")
    assert "bad_module_xyz.py, line 2): " in message
    assert "Traceback" not in message
