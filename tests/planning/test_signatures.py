"""A function's parameters are read once per code object, and read right for every kind."""

from __future__ import annotations

import functools
import inspect

from flowkit._planning import signatures
from flowkit._planning.signatures import Parameter


def _factory(default: int):
    def body(upstream, scale=default, *, flag: bool) -> int:
        return upstream * scale

    return body


def test_closures_of_one_code_object_share_a_reading_and_keep_their_kinds() -> None:
    first, second = _factory(1), _factory(2)
    found = signatures.parameters(first)
    assert found == (
        Parameter("upstream", inspect.Parameter.POSITIONAL_OR_KEYWORD, False),
        Parameter("scale", inspect.Parameter.POSITIONAL_OR_KEYWORD, True),
        Parameter("flag", inspect.Parameter.KEYWORD_ONLY, False),
    )
    assert signatures.parameters(second) == found  # read once, for the shared code object


def test_a_partial_and_a_wrapper_are_read_as_they_are_called() -> None:
    def body(a, b, c=3):
        return a + b + c

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        return body(*args, **kwargs)

    assert [p.name for p in signatures.parameters(functools.partial(body, b=2))] == ["a", "b", "c"]
    # The wrapper's own code takes *args/**kwargs; its signature is the wrapped one's.
    assert [p.name for p in signatures.parameters(wrapper)] == ["a", "b", "c"]


def test_a_callable_without_weak_references_or_a_signature() -> None:
    class Slotted:
        __slots__ = ()

        def __call__(self, x):
            return x

    assert [p.name for p in signatures.parameters(Slotted())] == ["x"]
    assert signatures.parameters(max) is None  # a builtin inspect cannot read


def test_defaults_are_each_functions_own_though_the_code_is_shared() -> None:
    first, second = _factory(1), _factory(2)
    signatures.parameters(first)
    second.__defaults__ = None  # as a cell run again without the default would give
    second.__kwdefaults__ = {"flag": True}
    assert [(p.name, p.has_default) for p in signatures.parameters(second)] == [
        ("upstream", False),
        ("scale", False),
        ("flag", True),
    ]
    assert [p.has_default for p in signatures.parameters(first)] == [False, True, False]
