"""``flowkit report``: the file's structure, its escaping, its policy and its links.

Checked with an HTML parser: one node per task, one bar per attempt, nothing
loaded from elsewhere, and what a task supplied shows as text.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import re
import stat
from pathlib import Path

import pytest

from flowkit._store import open_store
from flowkit.cli import main


class Page(html.parser.HTMLParser):
    """Every element's tag and attributes, and the text of style and script elements."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._inside: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._inside = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside == "script":
            self.scripts.append(data)
        elif self._inside == "style":
            self.styles.append(data)

    def having(self, attribute: str, tag: str | None = None) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.elements
            if attribute in attrs and (tag is None or name == tag)
        ]


def report_of(run_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    target = tmp_path / "report.html"
    assert main(["report", run_id[:8], "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    return target.read_text(encoding="utf-8")


def test_one_node_per_task_and_one_bar_per_attempt(
    hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = Page(report_of(hostile_run, tmp_path, capsys))
    with open_store() as store:
        tasks = store.get_tasks(hostile_run)
        attempts = store.get_attempts(hostile_run)
    nodes = page.having("data-state", "g")
    assert sorted(node["data-task"] for node in nodes) == sorted(tasks)  # type: ignore[type-var]
    assert {node["data-task"]: node["data-state"] for node in nodes} == {
        key: task.state.value for key, task in tasks.items()
    }
    bars = page.having("data-attempt", "rect")
    assert sorted((bar["data-task"], bar["data-attempt"]) for bar in bars) == sorted(  # type: ignore[type-var]
        (attempt.task_key, str(attempt.attempt)) for attempt in attempts
    )
    assert len(attempts) == 6  # load was retried once
    waits = [attrs for _, attrs in page.elements if "wait" in str(attrs.get("class")).split()]
    assert ("load", "wait retry") in {(wait["data-task"], wait["class"]) for wait in waits}


def test_condition_branches_are_labelled_and_states_coloured(
    hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = report_of(hostile_run, tmp_path, capsys)
    page = Page(text)
    states = {node["data-task"]: node["data-state"] for node in page.having("data-state", "g")}
    assert states["skipped"] == "excluded"
    assert states["after"] == "upstream_failed"
    assert states["broken"] == "failed"
    with open_store() as store:
        shape = store.get_shape(hostile_run)
    assert shape is not None
    edge_count = sum(len(task["depends_on"]) for task in shape["tasks"])
    edges = [
        attrs for tag, attrs in page.elements if tag == "path" and "edge" in str(attrs.get("class"))
    ]
    assert len(edges) == edge_count
    assert re.search(r'<text class="branch"[^>]*>true</text>', text)
    assert re.search(r'<text class="branch"[^>]*>false</text>', text)
    legend = re.findall(r'<li><span class="state (\w+)">', text)
    assert {"succeeded", "failed", "excluded", "upstream_failed"} <= set(legend)


def test_nothing_is_loaded_from_elsewhere(
    hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = Page(report_of(hostile_run, tmp_path, capsys))
    for _, attrs in page.elements:
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name)
            if value is not None:
                # Only in-page anchors and the child run's report beside this one.
                assert value.startswith("#") or re.fullmatch(r"[0-9a-f]{32}\.html", value), value
    for css in page.styles:
        for url in re.findall(r"url\(([^)]*)\)", css):
            assert url.startswith("#"), url
    assert not page.having("src", "script")
    assert not page.having("rel", "link")


def test_the_policy_lets_only_flowkits_own_script_and_style_in(
    hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = Page(report_of(hostile_run, tmp_path, capsys))
    policies = [
        attrs["content"]
        for attrs in page.having("http-equiv", "meta")
        if attrs["http-equiv"] == "Content-Security-Policy"
    ]
    assert len(policies) == 1
    policy = dict(part.strip().split(" ", 1) for part in policies[0].split(";"))  # type: ignore[union-attr]
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'none'"
    (script,) = page.scripts
    (style,) = page.styles

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert policy["script-src"] == f"'sha256-{digest(script)}'"
    assert policy["style-src"] == f"'sha256-{digest(style)}'"
    assert "unsafe-inline" not in policies[0]


def test_what_tasks_supply_shows_as_text(
    hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = report_of(hostile_run, tmp_path, capsys)
    page = Page(text)
    assert len(page.scripts) == 1  # flowkit's own; the task's printed <script> is text
    assert not [attrs for _, attrs in page.elements if any(k.startswith("on") for k in attrs)]
    assert not page.having("src", "img")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text  # ingest's log tail
    assert "&lt;script&gt;window.__pwned=5&lt;/script&gt; broke" in text  # broken's error
    assert "&lt;b&gt;bold&lt;/b&gt;" in text  # a parameter
    assert "javascript:" not in " ".join(str(a.get("href")) for _, a in page.elements)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\x1b[31mred" in text  # the escape, shown as text


def test_the_child_run_gets_a_report_beside_and_a_link(
    hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = Page(report_of(hostile_run, tmp_path, capsys))
    with open_store() as store:
        child_id = store.get_values(hostile_run)["fan"]["run_id"]
        child = store.get_run(child_id)
    assert child is not None
    assert child.parent_run_id == hostile_run
    links = [attrs["href"] for attrs in page.having("href", "a")]
    assert f"{child_id}.html" in links
    child_page = Page((tmp_path / f"{child_id}.html").read_text(encoding="utf-8"))
    assert len(child_page.having("data-state", "g")) == 2  # one iteration per input
    assert "report.html" not in str(child_page.having("href"))  # parent named -o: not linked


def test_the_default_file_is_private_in_the_homes_reports(
    hostile_run: str, flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", hostile_run]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == flowkit_home / "reports" / f"{hostile_run}.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_run_with_report_writes_it_when_the_run_ends(
    flowkit_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = Path(__file__).parents[1] / "flows"
    assert main(["run", str(flows / "cli_simple.py"), "--report"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("report: ")]
    path = Path(line.removeprefix("report: "))
    assert path.parent == flowkit_home / "reports"
    assert 'data-state="succeeded"' in path.read_text(encoding="utf-8")


def test_an_unknown_run_is_a_clear_error(
    hostile_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "nosuchrun"]) == main(["show", "nosuchrun"]) == 2
    err = capsys.readouterr().err
    assert "no run with id or id prefix 'nosuchrun'" in err
    assert "Traceback" not in err


def test_an_unwritable_file_is_a_clear_error(
    hostile_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-folder" / "sub" / "r.html"
    (tmp_path / "missing-folder").write_text("a file, not a folder")
    assert main(["report", hostile_run, "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write the report of run {hostile_run}" in err
    assert "Traceback" not in err


def test_a_repaired_run_shows_each_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recorded import run_flow

    monkeypatch.setenv("FLOWKIT_TEST_DIR", str(tmp_path))
    (tmp_path / "broken").write_text("")
    run_id = run_flow("history_repairable")
    (tmp_path / "broken").unlink()
    assert main(["repair", run_id]) == 0
    capsys.readouterr()
    text = report_of(run_id, tmp_path, capsys)
    page = Page(text)
    passes = {
        (bar["data-task"], bar.get("data-repair", "0"), str(bar["class"]).split()[1])
        for bar in page.having("data-attempt", "rect")
    }
    assert ("transform", "0", "failed") in passes
    assert ("transform", "1", "succeeded") in passes
    assert ("ingest", "0", "succeeded") in passes
    assert ("ingest", "1", "succeeded") not in passes  # kept, not run again
    assert re.search(r'<text class="pass-label"[^>]*>repair 1</text>', text)
    assert "<dt>repairs</dt><dd>1</dd>" in text
