"""The README shows what the examples run: its snippets are the example files' code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _code_of(example: Path) -> str:
    """The example's source after its module docstring and ``from __future__`` line."""
    source = example.read_text()
    body = ast.parse(source).body
    first = next(
        node
        for node in body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    )
    return "\n".join(source.splitlines()[first.lineno - 1 :]) + "\n"


def test_the_readme_opens_with_the_code_of_the_lakehouse_example():
    snippet = _python_blocks(README)[0]

    assert snippet == _code_of(ROOT / "examples" / "lakehouse.py")
    assert "examples/lakehouse.py" in README[: README.index(snippet)]
