"""Pools: named caps on how many tasks run at once (DESIGN.md §9).

``Flow(pools={"warehouse": 2})`` caps the tasks of one run;
``Flow(pools={"warehouse": Pool(2, shared=True)})`` caps the tasks of every run
of the home at once (``flowkit serve``'s runs, a backfill's, a user's), through
the store's slot table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowkit._errors import DefinitionError


def _validate_size(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = f"Pool(size={value!r}) is invalid; allowed: how many tasks may run at once (>= 1)"
        raise DefinitionError(msg)


@attrs.frozen
class Pool:
    """A pool's size, and whether it is shared by every run of the home (``shared=True``)."""

    size: int = attrs.field(validator=_validate_size)
    shared: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


def pool_sizes(pools: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """Sizes by name (a ``Pool`` becomes its size) and the names of the shared pools."""
    sizes = {
        name: value.size if isinstance(value, Pool) else value for name, value in pools.items()
    }
    shared = frozenset(
        name for name, value in pools.items() if isinstance(value, Pool) and value.shared
    )
    return sizes, shared
