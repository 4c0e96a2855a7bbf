"""Sizes and lengths as people read them, one way for the CLI, the HTML summary, the
widgets and the server: ``"1.2 GB"`` (decimal units), ``"6.5 µm"``.

>>> human_bytes(1_250_000), human_length(6.5e-6)
('1.2 MB', '6.5 µm')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .units import from_metres, normalise_unit, to_metres

#: bytes per unit, for sizes written as text (lower case; decimal and binary units)
BYTE_UNITS = {
    "": 1,
    "b": 1,
    "bytes": 1,
    **{u + b: 10 ** (3 * i) for i, u in enumerate("kmgtp", 1) for b in ("", "b")},
    **{u + "ib": 2 ** (10 * i) for i, u in enumerate("kmgtp", 1)},
}
_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
#: the units :func:`human_length` chooses from by default, largest first
LENGTH_UNITS = ("m", "mm", "µm", "nm", "Å", "pm")
#: the units of voxel sizes in the CLI's tables and ``voxcat summary``
VOXEL_UNITS = ("mm", "µm", "nm", "Å")


def _number(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing (None, NaN, pandas' NA)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def human_bytes(n: Any, *, missing: str = "–", largest: str = "PB") -> str:
    """A size in bytes in decimal units, one decimal (``"4.1 KB"``), bytes as a whole
    number; ``missing`` when unknown (None, NaN). Units stop at ``largest``.

    >>> human_bytes(999), human_bytes(1500), human_bytes(2.5e12), human_bytes(None)
    ('999 B', '1.5 KB', '2.5 TB', '–')
    >>> human_bytes(3e15, largest="TB")
    '3000.0 TB'
    """
    value = _number(n)
    if value is None:
        return missing
    units = _SIZE_UNITS[: _SIZE_UNITS.index(largest) + 1]
    for unit in units:
        if abs(value) < 1000 or unit == largest:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def human_length(metres: Any, *, units: Sequence[str] = LENGTH_UNITS, missing: str = "–") -> str:
    """A length in metres in the largest of ``units`` it reaches (else the smallest),
    three significant digits; ``missing`` when unknown or not positive.

    >>> human_length(6.5e-6), human_length(0.002), human_length(3e-11)
    ('6.5 µm', '2 mm', '30 pm')
    >>> human_length(2.0, units=("mm", "µm", "nm", "Å")), human_length(0)
    ('2e+03 mm', '–')
    """
    value = _number(metres)
    if value is None or not math.isfinite(value) or value <= 0:
        return missing
    canon = [normalise_unit(u) or u for u in units]
    unit = next((u for u in canon if value >= (to_metres(1.0, u) or math.inf)), canon[-1])
    return f"{from_metres(value, unit):.3g} {unit}"
