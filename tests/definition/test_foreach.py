"""For-each tasks: one body per input, isolated iterations, results in order, repair of failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowkit import DefinitionError, Flow, RunState, TaskState, task_values
from flowkit._store import open_store


@pytest.fixture
def iterations(executor: str) -> str:
    """Where the iterations run: in the for-each task's own process (never a cluster)."""
    return "inline" if executor == "inline" else "local"


def _count(folder: Path, name: str) -> int:
    counter = folder / f"{name}.count"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    return count


def test_every_source_of_inputs_and_results_in_input_order(executor, iterations):
    flow = Flow("sources", params={"days": '["mon", "tue"]', "suffix": "!"})

    @flow.task
    def listing():
        task_values.set("files", ["a.csv", "b.csv", "c.csv"])
        return [3, 1, 2]

    @flow.for_each(over=listing, concurrency=2, executor=iterations)
    def from_return_value(item, suffix):
        return f"{item}{suffix}"

    @flow.for_each(over="{{tasks.listing.values.files}}", depends_on=[listing], executor=iterations)
    def from_task_value(item):
        return item.upper()

    @flow.for_each(over="{{job.parameters.days}}", executor=iterations)
    def from_parameter(item):
        return len(item)

    @flow.for_each(over=[10, 20], executor=iterations)
    def from_literal(item):
        return item // 10

    @flow.task(depends_on=[from_return_value, from_task_value, from_parameter, from_literal])
    def collect(from_return_value, from_task_value, from_parameter, from_literal):
        task_values.set("all", [from_return_value, from_task_value, from_parameter, from_literal])

    result = flow.run(executor=executor)

    assert result.state is RunState.SUCCEEDED
    assert result.values["collect"]["all"] == [
        ["3!", "1!", "2!"],
        ["A.CSV", "B.CSV", "C.CSV"],
        [3, 3],
        [1, 2],
    ]
    assert result.values["from_return_value"]["iterations"] == 3


def test_an_empty_list_succeeds_with_an_empty_result(executor, iterations):
    flow = Flow("empty")

    @flow.for_each(over=[], executor=iterations)
    def nothing(item):
        raise AssertionError("never called")

    @flow.task(depends_on=[nothing])
    def after(nothing):
        task_values.set("received", nothing)

    result = flow.run(executor=executor)

    assert result.values["after"] == {"received": []}


def test_a_failing_iteration_is_retried_on_its_own(tmp_path):
    flow = Flow("flaky-iterations")

    @flow.for_each(over=["a", "b", "c"], retries=2)
    def process(item):
        if _count(tmp_path, item) == 1 and item == "b":
            raise RuntimeError("b fails once")
        return item

    result = flow.run()

    assert result.state is RunState.SUCCEEDED
    counts = {name: (tmp_path / f"{name}.count").read_text() for name in "abc"}
    assert counts == {"a": "1", "b": "2", "c": "1"}


def test_repair_reruns_only_the_failed_iterations(tmp_path):
    broken = tmp_path / "broken"
    broken.touch()
    flow = Flow("repair-iterations")

    @flow.for_each(over=["a", "b", "c"])
    def process(item):
        _count(tmp_path, item)
        if item == "b" and broken.exists():
            raise RuntimeError("b is broken")
        return item * 2

    @flow.task(depends_on=[process])
    def report(process):
        task_values.set("doubled", process)

    first = flow.run(echo_output=False)
    error = first.tasks["process"].error
    assert first.tasks["process"].state is TaskState.FAILED
    assert "1 of 3 iterations did not succeed" in error.message
    assert "iteration 1 (input 'b'): failed: RuntimeError: b is broken" in error.message
    child_runs = [run for run in open_store().list_runs() if run.parent_run_id == first.run_id]
    assert [run.flow_name for run in child_runs] == ["repair-iterations.process"]

    broken.unlink()
    repaired = flow.repair(first.run_id, echo_output=False)

    assert repaired.state is RunState.SUCCEEDED
    assert repaired.values["report"] == {"doubled": ["aa", "bb", "cc"]}
    counts = {name: (tmp_path / f"{name}.count").read_text() for name in "abc"}
    assert counts == {"a": "1", "b": "2", "c": "1"}


def test_inputs_that_are_not_a_list_or_too_many_fail_the_task():
    flow = Flow("bad-inputs")

    @flow.task
    def produce():
        return {"not": "a list"}

    @flow.for_each(over=produce, executor="inline")
    def consume(item):
        pass

    @flow.task
    def many():
        return list(range(5))

    @flow.for_each(over=many, executor="inline", max_inputs=3)
    def limited(item):
        pass

    result = flow.run(executor="inline")

    assert "return value of 'produce', which is dict" in result.tasks["consume"].error.message
    assert "has 5 inputs, over the limit of 3" in result.tasks["limited"].error.message


def test_bad_for_each_definitions_are_errors_before_anything_runs():
    flow = Flow("bad-definitions")

    with pytest.raises(DefinitionError, match=r"over=\{'a': 1\} of type dict is invalid"):
        flow.for_each(over={"a": 1})(lambda item: None)
    with pytest.raises(DefinitionError, match="parameter named 'item'"):

        @flow.for_each(over=[1])
        def no_item(value):
            pass

    with pytest.raises(DefinitionError, match="over max_inputs=2"):
        flow.for_each(over=[1, 2, 3], max_inputs=2)(lambda item: None)
    with pytest.raises(DefinitionError, match="retries"):
        flow.for_each(over=[1], retries=-5, name="retried")(lambda item: None)


def test_the_files_example_runs_green_and_show_lists_its_iterations(tmp_path):
    import subprocess
    import sys

    home = tmp_path / "home"
    example = Path(__file__).parents[2] / "examples" / "files.py"

    def flowkit(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "flowkit", "--home", str(home), *arguments]
        return subprocess.run(command, check=False, capture_output=True, text=True)

    ran = flowkit("run", str(example))
    assert ran.returncode == 0, ran.stderr
    assert "9 lines in 3 files" in ran.stdout

    runs = flowkit("runs").stdout.splitlines()
    parent = next(line.split()[0] for line in runs if " files " in line)
    shown = flowkit("show", parent).stdout
    assert "child runs (for-each iterations" in shown
    assert "files.count_lines" in shown
    iterations = next(line.split()[0] for line in runs if "files.count_lines" in line)
    child = flowkit("show", iterations).stdout
    assert all(f"count_lines.{index}" in child for index in range(3))
