"""The public surface: __all__ lists exactly flowkit's public names; importing it logs nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import flowkit


def _defined_by_flowkit(value: object) -> bool:
    """Whether a value comes from flowkit itself (its class or it lives in a flowkit module)."""
    module = getattr(value, "__module__", None) or type(value).__module__
    return module == "flowkit" or module.startswith("flowkit.")


def test_all_is_sorted() -> None:
    assert flowkit.__all__ == sorted(flowkit.__all__)
    assert len(set(flowkit.__all__)) == len(flowkit.__all__)


def test_all_equals_the_public_names() -> None:
    # httpx's test_exported_members: nothing public is left out of __all__, and nothing
    # that is not flowkit's own (a submodule, a third-party import) is in it.
    public = {
        name
        for name, value in vars(flowkit).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and _defined_by_flowkit(value)
    }
    assert set(flowkit.__all__) == public


def test_all_equals_what_init_imports_from_flowkit() -> None:
    source = Path(flowkit.__file__).read_text(encoding="utf-8")
    imported = {
        alias.asname or alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flowkit")
        for alias in node.names
        if not (alias.asname or alias.name).startswith("_")
    }
    assert set(flowkit.__all__) == imported


#: The public modules (DESIGN.md §4); every other module of flowkit is private.
PUBLIC_MODULES = {
    "flowkit",
    "flowkit.__main__",
    "flowkit.cli",
    "flowkit.compat",
    "flowkit.executors",
    "flowkit.executors.dask",
    "flowkit.pytest_plugin",
    "flowkit.testing",
}


def test_every_module_but_the_public_ones_is_private() -> None:
    package = Path(flowkit.__file__).parent
    modules = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.add(".".join(parts))
    public = {
        name
        for name in modules
        if not any(part.startswith("_") for part in name.split(".")[1:] if part != "__main__")
    }
    assert public == PUBLIC_MODULES


def test_every_name_in_all_resolves() -> None:
    namespace: dict[str, object] = {}
    exec("from flowkit import *", namespace)  # the star import is what is tested
    assert set(flowkit.__all__) <= set(namespace)
    for name in flowkit.__all__:
        assert namespace[name] is getattr(flowkit, name)


def test_version_is_a_string() -> None:
    assert isinstance(flowkit.__version__, str)
    assert flowkit.__version__.count(".") >= 1


# A flow whose task fails and is retried: the scheduler has things to log.
_FAILING_RUN = textwrap.dedent(
    """
    import sys

    from flowkit import FakeClock, Flow

    {setup}

    flow = Flow("noisy")

    @flow.task(retries=1)
    def breaks():
        raise RuntimeError("fails on purpose")

    @flow.task(depends_on=[breaks])
    def skipped(): ...

    result = flow.run(executor="inline", clock=FakeClock())
    sys.stdout.write(result.state.value)
    """
)


def _run_script(setup: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _FAILING_RUN.format(setup=setup)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_flowkit_configures_no_logging_output(capfd) -> None:
    # In a fresh interpreter: no test run before it can have enabled flowkit's logs.
    quiet = _run_script(setup="")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "failed"
    assert quiet.stderr == ""
    # The control: the same run does log once an application enables flowkit, so the
    # silence above is loguru being disabled, not the scheduler having nothing to say.
    loud = _run_script(setup="from loguru import logger; logger.enable('flowkit')")
    assert loud.returncode == 0, loud.stderr
    assert "breaks" in loud.stderr
    # And nothing leaked into this process's own stdout or stderr.
    captured = capfd.readouterr()
    assert captured.err == ""
