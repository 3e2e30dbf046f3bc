"""Shipping a task's function to dask workers: by value with cloudpickle, importables by name."""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cloudpickle

from flowkit._errors import DefinitionError
from flowkit.executors.dask._worker import import_attribute

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan


def imported_modules(fn: Callable[..., Any]) -> tuple[str, ...]:
    """The installed packages ``fn`` imports when it is unpickled: its own, and its globals'.

    A worker's zygote imports them once, so that its attempts do not each import them
    anew (a flow that uses pandas would pay for its import in every attempt). The flow
    files' own modules, sent by value, are not among them.
    """
    by_value = set(cloudpickle.list_registry_pickle_by_value())
    found = {_module_of(fn)}
    code = getattr(fn, "__code__", None)
    global_names = getattr(fn, "__globals__", {})
    stack = [code] if isinstance(code, types.CodeType) else []
    while stack:
        current = stack.pop()
        stack.extend(const for const in current.co_consts if isinstance(const, types.CodeType))
        for name in current.co_names:
            if name in global_names:
                found.add(_module_of(global_names[name]))
    packages = {name.partition(".")[0] for name in found}
    packages -= {"", "__main__", "builtins", "flowkit"}
    return tuple(sorted(name for name in packages if name not in by_value and name in sys.modules))


def _module_of(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return value.__name__
    try:
        module = getattr(value, "__module__", None)
    except Exception:  # an object whose attributes misbehave: it names no module
        return ""
    return module if isinstance(module, str) else ""


def pickle_functions(plan: Plan) -> dict[str, bytes]:
    """Every task's function, pickled by value once; all that cannot be, in one error."""
    pickled, problems = {}, []
    for name, task in plan.tasks.items():
        try:
            pickled[name] = _dumps_function(task.fn)
        except Exception as error:
            problems.append(
                f"flow {plan.name!r}, task {name!r}: its function cannot be pickled to ship it "
                f"to dask workers ({type(error).__name__}: {error}). Create such objects "
                "(locks, connections, open files, clients) inside the function, not around it"
            )
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    return pickled


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, with some objects sent as "import this name" rather than by value."""

    def __init__(self, file: io.BytesIO, references: dict[int, tuple[str, str]]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.references = references

    def reducer_override(self, obj: Any) -> Any:
        reference = self.references.get(id(obj))
        if reference is not None:
            return import_attribute, reference
        return super().reducer_override(obj)


def _dumps_function(fn: Callable[..., Any]) -> bytes:
    """Pickle a task's function by value, its globals too, but for importable singletons.

    A flow file's ``from loguru import logger`` (or any module-level object of an
    installed package) reaches the function as a global; by value, it would be a
    copy (or fail: a logger holds open streams). Such objects go by reference, as
    the package's own name, which workers import from their installation.
    """
    buffer = io.BytesIO()
    _Pickler(buffer, _importable_objects(fn)).dump(fn)
    return buffer.getvalue()


def _importable_objects(fn: Callable[..., Any]) -> dict[int, tuple[str, str]]:
    """Globals and closure values of ``fn`` that an installed module exposes by name."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    names = set(code.co_names)
    candidates = [(name, value) for name, value in fn.__globals__.items() if name in names]
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        with contextlib.suppress(ValueError):  # an empty cell
            candidates.append((name, cell.cell_contents))
    by_value = cloudpickle.list_registry_pickle_by_value()  # the flow files' modules
    found = {}
    for name, value in candidates:
        if isinstance(value, (type, types.ModuleType, types.FunctionType)):
            continue  # cloudpickle already sends these by reference when it can
        module_name = getattr(type(value), "__module__", "") or ""
        for candidate in (module_name.partition(".")[0], module_name):
            module = sys.modules.get(candidate)
            if module is None or candidate in ("builtins", "__main__", fn.__module__):
                continue
            if candidate in by_value:
                continue
            if getattr(module, name, None) is value:
                found[id(value)] = (candidate, name)
                break
    return found
