"""Amounts of memory as people write them ("2GiB", "512MB", 2_000_000) and as flowkit prints."""

from __future__ import annotations

import re
from typing import Any

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")

#: What a memory option accepts, in words, for error messages.
SIZE_HELP = "a number of bytes or a string such as '512MiB', '2GiB' or '1.5GB'"


def parse_size(value: Any) -> int | None:
    """Bytes from an int or a string with a unit (binary KiB/MiB/GiB, decimal KB/MB/GB).

    None when ``value`` is not a size; a size of 0 bytes is not one either.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    match = _SIZE.fullmatch(value)
    if match is None or match.group(2).lower() not in _UNITS:
        return None
    number = float(match.group(1)) * _UNITS[match.group(2).lower()]
    return int(number) if number >= 1 else None


def format_size(size: float) -> str:
    """Bytes in binary units with one decimal when it says something: '2.3 GiB', '256 MiB'."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            amount = size / scale
            text = f"{amount:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    return f"{int(size)} B"
