"""A task function's parameters, read once per function rather than at every plan and run.

``inspect.signature`` costs ~10 µs a call; a flow of 1,000 tasks would pay it
at every plan (each ``flow.run`` plans again) and again for each attempt's
arguments. A plain function's parameter names and kinds come from its code
object alone, which every closure a loop or a factory makes shares, so they are
read once per code object; which of them have a default comes from the
function's own ``__defaults__`` and ``__kwdefaults__``, read at every call (a
notebook cell run again may hold a function of the same code with other
defaults). Anything else (a wrapper, a partial, a callable object) is read
with ``inspect`` each time.
"""

from __future__ import annotations

import inspect
import types
import weakref
from typing import Any, NamedTuple

_Kind = inspect._ParameterKind  # the public enum's own name
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class Parameter(NamedTuple):
    name: str
    kind: _Kind
    has_default: bool


#: Each plain function's code object: its parameters' names and kinds, in order.
_names_of: weakref.WeakKeyDictionary[types.CodeType, tuple[tuple[str, _Kind], ...]] = (
    weakref.WeakKeyDictionary()
)


def parameters(fn: Any) -> tuple[Parameter, ...] | None:
    """``fn``'s parameters in order; None when it has no signature (some builtins)."""
    if not _plain(fn):
        return _read(fn)
    code = fn.__code__
    names = _names_of.get(code)
    if names is None:
        found = _read(fn)
        if found is None:
            return None
        names = _names_of[code] = tuple((each.name, each.kind) for each in found)
    positional = [name for name, kind in names if kind in _POSITIONAL]
    defaulted = set(positional[len(positional) - len(fn.__defaults__ or ()) :])
    defaulted.update(fn.__kwdefaults__ or ())
    return tuple(Parameter(name, kind, name in defaulted) for name, kind in names)


def _plain(fn: Any) -> bool:
    return isinstance(fn, types.FunctionType) and not (
        "__wrapped__" in fn.__dict__ or "__signature__" in fn.__dict__
    )


def _read(fn: Any) -> tuple[Parameter, ...] | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return tuple(
        Parameter(name, parameter.kind, parameter.default is not inspect.Parameter.empty)
        for name, parameter in signature.parameters.items()
    )
