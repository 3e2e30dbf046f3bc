"""Where a run's flow came from: the target a repair loads again.

A run records what ``flowkit run`` would take to load its flow: the absolute
path of a flow file (a file the command line loaded, or the script run as
``__main__``) or the name of an importable module, then ``:`` and the module
attribute holding the flow. It is found from the flow's task functions and the
modules they live in, so a run started from Python records it as well as one
started by the command line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from flowkit._flow import Flow
from flowkit._planning.plan import Plan

#: The prefix of the ``sys.modules`` names the loader gives flow files
#: (``flowkit._engine.loader.MODULE_PREFIX``; a test keeps the two equal).
FILE_MODULE_PREFIX = "flowkit_flow_"


def flow_target(plan: Plan) -> str | None:
    """The target ``plan``'s flow can be loaded from again, or None when none is known."""
    if plan.flow.origin is not None:
        return plan.flow.origin
    for module in _candidate_modules(plan):
        attribute = next(
            (
                name
                for name, value in vars(module).items()
                if isinstance(value, Flow) and value.name == plan.name
            ),
            None,
        )
        if attribute is None:
            continue
        name = module.__name__
        if name == "__main__" or name.startswith(FILE_MODULE_PREFIX):
            file = getattr(module, "__file__", None)
            if not file:
                continue  # an interactive session: nothing to load it from
            return f"{Path(file).resolve()}:{attribute}"
        return f"{name}:{attribute}"
    return None


def _candidate_modules(plan: Plan) -> Iterator[ModuleType]:
    """The modules of the flow's own task functions first, then flow files and the script."""
    names = [getattr(spec.fn, "__module__", None) for spec in plan.tasks.values()]
    names += [name for name in list(sys.modules) if name.startswith(FILE_MODULE_PREFIX)]
    names.append("__main__")
    seen: set[str] = set()
    for name in names:
        if not name or name in seen or name.split(".")[0] == "flowkit":
            continue  # flowkit's own kinds (shell, for-each) build functions of flowkit's
        seen.add(name)
        module = sys.modules.get(name)
        if module is not None:
            yield module
