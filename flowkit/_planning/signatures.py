"""A task function's parameters, read once per function rather than at every plan and run.

``inspect.signature`` costs ~10 µs a call; a flow of 1,000 tasks would pay it
at every plan (each ``flow.run`` plans again) and again for each attempt's
arguments. A plain function's parameter names, kinds and whether each has a
default come from its code object alone, which every closure a loop or a
factory makes shares, so the code object is the key; anything else (a wrapper,
a partial, a callable object) is its own key.
"""

from __future__ import annotations

import inspect
import types
import weakref
from typing import Any, NamedTuple


class Parameter(NamedTuple):
    name: str
    kind: inspect._ParameterKind
    has_default: bool


_parameters_of: weakref.WeakKeyDictionary[Any, tuple[Parameter, ...] | None] = (
    weakref.WeakKeyDictionary()
)


def parameters(fn: Any) -> tuple[Parameter, ...] | None:
    """``fn``'s parameters in order; None when it has no signature (some builtins)."""
    key = _key(fn)
    try:
        return _parameters_of[key]
    except KeyError:
        found = _read(fn)
        _parameters_of[key] = found
        return found
    except TypeError:  # a callable that cannot be weakly referenced or hashed
        return _read(fn)


def _key(fn: Any) -> Any:
    if isinstance(fn, types.FunctionType) and not (
        "__wrapped__" in fn.__dict__ or "__signature__" in fn.__dict__
    ):
        return fn.__code__
    return fn


def _read(fn: Any) -> tuple[Parameter, ...] | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return tuple(
        Parameter(name, parameter.kind, parameter.default is not inspect.Parameter.empty)
        for name, parameter in signature.parameters.items()
    )
