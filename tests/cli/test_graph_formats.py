"""``flowkit graph --format mermaid|dot``: every task and edge read back, names quoted safely."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from flowkit import Flow
from flowkit._engine.loader import load_flow
from flowkit._planning.plan import Plan
from flowkit._text import escape
from flowkit.cli import main
from flowkit.cli._render.graph import render
from flowkit.cli._render.graph_formats import dot, mermaid

BRANCHING = Path(__file__).resolve().parents[2] / "examples" / "branching.py"
#: Every character that ends, escapes or reinterprets a string in one of the languages.
HOSTILE = 'a"b\\c#35;d&e<br/>`f\x1b]0;title\x07\n}%%{init}%%\u202eg'

DOT_STRING = r'"((?:[^"\\]|\\.)*)"'
DOT_EDGE = re.compile(rf'^    {DOT_STRING} -> {DOT_STRING}(?: \[label="(true|false)"\])?;$')
DOT_NODE = re.compile(rf"^    {DOT_STRING}(?: \[(.*)\])?;$")
MERMAID_NODE = re.compile(r'^    (n\d+)(?:\["([^"]*)"\]|\{"([^"]*)"\})$')
MERMAID_EDGE = re.compile(r"^    (n\d+) -->(?:\|(true|false)\|)? (n\d+)$")


def diamond() -> Plan:
    """fetch -> fresh (a condition) -> load if true / skip if false -> report (none_failed)."""
    flow = Flow("diamond")

    @flow.task
    def fetch():
        pass

    @flow.condition(depends_on=[fetch])
    def fresh():
        return True

    @flow.task(depends_on=[fresh.if_true])
    def load():
        pass

    @flow.task(depends_on=[fresh.if_false])
    def skip():
        pass

    @flow.task(depends_on=[load, skip, fetch], run_if="none_failed")
    def report():
        pass

    return flow.plan()


def edges_of(plan: Plan) -> set[tuple[str, str, str | None]]:
    """(upstream, dependent, "true"/"false"/None) for every edge of the plan."""
    edges = set()
    for dependent, upstream in plan.upstream.items():
        for name in upstream:
            outcome = plan.outcomes.get(dependent, {}).get(name)
            edges.add((name, dependent, None if outcome is None else str(outcome).lower()))
    return edges


def renamed(plan: Plan, names: dict[str, str], flow_name: str) -> Plan:
    """``plan`` with its tasks and flow called otherwise: names a flow could not declare."""

    def new(name: str) -> str:
        return names.get(name, name)

    return attrs.evolve(
        plan,
        flow=attrs.evolve(plan.flow, name=flow_name),
        tasks={new(name): spec for name, spec in plan.tasks.items()},
        order=tuple(map(new, plan.order)),
        upstream={new(name): tuple(map(new, up)) for name, up in plan.upstream.items()},
        downstream={new(name): tuple(map(new, down)) for name, down in plan.downstream.items()},
        levels=tuple(tuple(map(new, level)) for level in plan.levels),
        outcomes={
            new(name): {new(up): outcome for up, outcome in followed.items()}
            for name, followed in plan.outcomes.items()
        },
    )


def dot_unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def mermaid_unquote(text: str) -> str:
    return re.sub(r"#(\d+);", lambda code: chr(int(code[1])), text)


def read_dot(text: str) -> tuple[dict[str, str], set[tuple[str, str, str | None]]]:
    """The node statements (name -> attributes) and the edges of a digraph."""
    nodes: dict[str, str] = {}
    edges = set()
    for line in text.splitlines()[1:-1]:
        if edge := DOT_EDGE.match(line):
            upstream, dependent, label = edge.groups()
            edges.add((dot_unquote(upstream), dot_unquote(dependent), label))
        elif node := DOT_NODE.match(line):
            name = dot_unquote(node[1])
            assert name not in nodes, f"node {name!r} declared twice"
            nodes[name] = node[2] or ""
    return nodes, edges


def read_mermaid(
    text: str,
) -> tuple[dict[str, list[str]], set[tuple[str, str, str | None]], set[str]]:
    """The lines of each node's label by id, the edges by name, and the ids drawn as diamonds."""
    labels: dict[str, list[str]] = {}
    diamonds = set()
    edges = set()
    for line in text.splitlines():
        if node := MERMAID_NODE.match(line):
            node_id, box, diamond_label = node.groups()
            raw = box if box is not None else diamond_label
            labels[node_id] = [mermaid_unquote(part) for part in raw.split("<br/>")]
            if diamond_label is not None:
                diamonds.add(node_id)
        elif edge := MERMAID_EDGE.match(line):
            upstream, outcome, dependent = edge.groups()
            edges.add((labels[upstream][0], labels[dependent][0], outcome))
    return labels, edges, diamonds


# -- dot ---------------------------------------------------------------------------------------
def test_dot_has_every_edge_of_the_plan_with_the_outcomes_labelled() -> None:
    plan = diamond()

    nodes, edges = read_dot(dot(plan))

    assert edges == edges_of(plan)
    assert ("fresh", "load", "true") in edges
    assert ("fresh", "skip", "false") in edges
    assert ("fetch", "report", None) in edges
    assert set(nodes) == set(plan.order)


def test_dot_is_a_top_to_bottom_digraph_named_after_the_flow() -> None:
    lines = dot(diamond()).splitlines()

    assert lines[:5] == [
        'digraph "diamond" {',
        "    rankdir=TB;",
        '    label="diamond";',
        "    labelloc=t;",
        "    node [shape=box];",
    ]
    assert lines[-1] == "}"


def test_dot_marks_the_condition_and_a_run_if() -> None:
    nodes, _ = read_dot(dot(diamond()))

    assert nodes["fresh"] == "shape=diamond"
    assert nodes["report"] == r'label="report\nrun_if=none_failed"'
    assert nodes["fetch"] == nodes["load"] == nodes["skip"] == ""


def test_dot_quotes_and_escapes_every_name() -> None:
    plan = renamed(diamond(), {"load": HOSTILE, "fetch": "x -> y"}, flow_name=HOSTILE)

    text = dot(plan)
    nodes, edges = read_dot(text)

    assert edges == edges_of(renamed(plan, {HOSTILE: escape(HOSTILE)}, escape(HOSTILE)))
    assert escape(HOSTILE) in nodes
    assert ("x -> y", "fresh", None) in edges
    assert text.splitlines()[0] == f'digraph "{dot_escaped(escape(HOSTILE))}" {{'
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", text)


def dot_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


# -- mermaid ------------------------------------------------------------------------------------
def test_mermaid_has_every_edge_of_the_plan_with_the_outcomes_labelled() -> None:
    plan = diamond()

    labels, edges, diamonds = read_mermaid(mermaid(plan))

    assert edges == edges_of(plan)
    assert sorted(labels.values()) == [
        ["fetch"],
        ["fresh"],
        ["load"],
        ["report", "run_if=none_failed"],
        ["skip"],
    ]
    assert [labels[node_id] for node_id in diamonds] == [["fresh"]]


def test_mermaid_is_a_top_down_flowchart_titled_after_the_flow() -> None:
    text = mermaid(diamond())

    assert text.splitlines()[:4] == ["---", 'title: "diamond"', "---", "flowchart TD"]
    # one node line per task, then one edge line per edge: nothing else
    assert len(text.splitlines()) == 4 + 5 + 6


def test_mermaid_ids_are_generated_and_names_are_entity_coded() -> None:
    plan = renamed(diamond(), {"load": HOSTILE, "fetch": "n1"}, flow_name=HOSTILE)

    text = mermaid(plan)
    labels, edges, _ = read_mermaid(text)

    assert edges == edges_of(renamed(plan, {HOSTILE: escape(HOSTILE)}, escape(HOSTILE)))
    assert [escape(HOSTILE)] in labels.values()
    assert set(labels) == {f"n{number}" for number in range(5)}
    assert labels["n0"] == ["n1"]  # a task called n1 is a label, not the id of another node
    hostile_line = next(line for line in text.splitlines() if "#96;" in line)
    assert '"' not in hostile_line[len('    n0["') : -len('"]')]
    assert "<br/>" not in hostile_line
    assert text.splitlines()[1] == (
        r'title: "a\"b\\c#35;d&e<br/>`f\\x1b]0;title\\x07\\n}'
        r'\u0025\u0025{init}\u0025\u0025\\u202eg"'
    )
    assert "%" not in text
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", text)


# -- the command line ---------------------------------------------------------------------------
@pytest.mark.parametrize(("form", "write"), [("mermaid", mermaid), ("dot", dot)])
def test_graph_format_prints_the_text(capsys: pytest.CaptureFixture[str], form, write) -> None:
    assert main(["graph", str(BRANCHING), "--format", form, "--width", "20"]) == 0

    out = capsys.readouterr().out

    assert out == write(load_flow(str(BRANCHING)).plan()) + "\n"  # --width is for text only
    assert "has_rows" in out


def test_graph_format_text_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(BRANCHING), "--width", "80"]) == 0
    default = capsys.readouterr().out
    assert main(["graph", str(BRANCHING), "--width", "80", "--format", "text"]) == 0
    text = capsys.readouterr().out

    assert default == text == render(load_flow(str(BRANCHING)).plan(), width=80) + "\n"


def test_graph_format_unknown_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(BRANCHING), "--format", "svg"]) == 2

    err = capsys.readouterr().err

    assert "invalid choice: 'svg' (choose from 'text', 'mermaid', 'dot')" in err
