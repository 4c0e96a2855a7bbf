"""Physical units, one table: parse the many spellings formats use, convert lengths to
metres, and name units as OME-NGFF does (:func:`ngff_unit`, :func:`ngff_time_unit`).

>>> to_metres(2.5, "µm")
2.5e-06
>>> normalise_unit("micron")
'µm'
"""

from __future__ import annotations

import math

# canonical spelling: (metres = value * num / den, its OME-NGFF name). Dividing by 1e6
# is exact where multiplying by 1e-6 is not
_UNITS = {
    "km": (1e3, 1.0, "kilometer"),
    "m": (1.0, 1.0, "meter"),
    "cm": (1.0, 1e2, "centimeter"),
    "mm": (1.0, 1e3, "millimeter"),
    "µm": (1.0, 1e6, "micrometer"),
    "nm": (1.0, 1e9, "nanometer"),
    "Å": (1.0, 1e10, "angstrom"),
    "pm": (1.0, 1e12, "picometer"),
    "in": (0.0254, 1.0, "inch"),
}
_FACTORS = {u: (n, d) for u, (n, d, _) in _UNITS.items()}
_METRES = {u: n / d for u, (n, d) in _FACTORS.items()}
#: OME-NGFF names of the canonical length units (``"µm"`` -> ``"micrometer"``)
NGFF_UNITS = {u: ngff for u, (_, _, ngff) in _UNITS.items()}
#: OME-NGFF names of time units, from the spellings files use
NGFF_TIME_UNITS = {
    "s": "second",
    "sec": "second",
    "second": "second",
    "seconds": "second",
    "ms": "millisecond",
    "millisecond": "millisecond",
    "milliseconds": "millisecond",
    "us": "microsecond",
    "µs": "microsecond",
    "microsecond": "microsecond",
    "microseconds": "microsecond",
    "ns": "nanosecond",
    "nanosecond": "nanosecond",
    "nanoseconds": "nanosecond",
    "min": "minute",
    "minute": "minute",
    "minutes": "minute",
    "h": "hour",
    "hour": "hour",
    "hours": "hour",
    "day": "day",
    "days": "day",
}

_ALIASES = {
    "kilometer": "km",
    "kilometre": "km",
    "meter": "m",
    "metre": "m",
    "meters": "m",
    "metres": "m",
    "centimeter": "cm",
    "centimetre": "cm",
    "millimeter": "mm",
    "millimetre": "mm",
    "millimeters": "mm",
    "um": "µm",
    "μm": "µm",  # greek mu
    "micron": "µm",
    "microns": "µm",
    "micrometer": "µm",
    "micrometre": "µm",
    "micrometers": "µm",
    "\\u00b5m": "µm",
    "nanometer": "nm",
    "nanometre": "nm",
    "angstrom": "Å",
    "angstroms": "Å",
    "ångström": "Å",
    "a": "Å",
    "å": "Å",
    "picometer": "pm",
    "inch": "in",
    "inches": "in",
}


def normalise_unit(unit: str | None) -> str | None:
    """Return the canonical spelling of a length unit, or ``None`` if it is not one.

    >>> normalise_unit("Micrometer")
    'µm'
    """
    if unit is None:
        return None
    u = str(unit).strip()
    if not u:
        return None
    if u in _METRES:
        return u
    low = u.lower()
    if low in _METRES:
        return low
    return _ALIASES.get(low) or _ALIASES.get(u)


def to_metres(value: float | None, unit: str | None) -> float | None:
    """Convert a length in ``unit`` to metres; ``None`` when unit or value is unknown.

    >>> to_metres(0.5, "mm")
    0.0005
    """
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v) or v <= 0:
        return None
    canon = normalise_unit(unit)
    if canon is None:
        return None
    num, den = _FACTORS[canon]
    return v * num / den


def from_metres(value: float, unit: str) -> float:
    """Convert metres to ``unit`` (the inverse of :func:`to_metres`)."""
    canon = normalise_unit(unit)
    if canon is None:
        raise ValueError(f"not a length unit: {unit!r}")
    num, den = _FACTORS[canon]
    return value * den / num


def best_unit(metres: float) -> str:
    """Pick a readable unit for a length in metres.

    >>> best_unit(3.2e-6)
    'µm'
    """
    for unit in ("m", "mm", "µm", "nm"):
        if metres >= _METRES[unit]:
            return unit
    return "Å" if metres >= 1e-10 else "pm"


def parse_length(text: str) -> float:
    """Parse ``"5um"``, ``"0.5 mm"`` or ``"2e-6"`` (metres) into metres.

    >>> parse_length("5 um")
    5e-06
    """
    s = str(text).strip()
    i = len(s)
    while i > 0 and not (s[i - 1].isdigit() or s[i - 1] == "."):
        i -= 1
    number, unit = s[:i].strip(), s[i:].strip()
    if not number:
        raise ValueError(f"no number in length {text!r}")
    value = float(number)
    if not unit:
        return value
    m = to_metres(value, unit)
    if m is None:
        raise ValueError(f"unknown length unit {unit!r} in {text!r} (use m, mm, um, nm or Å)")
    return m


def ngff_unit(unit: str | None) -> str | None:
    """The OME-NGFF name of a length unit in any spelling; ``None`` if it is not one.

    >>> ngff_unit("um"), ngff_unit("Å"), ngff_unit("pixel")
    ('micrometer', 'angstrom', None)
    """
    canon = normalise_unit(unit)
    return NGFF_UNITS[canon] if canon is not None else None


def ngff_time_unit(unit: str | None) -> str | None:
    """The OME-NGFF name of a time unit (``"ms"`` -> ``"millisecond"``), else ``None``.

    >>> ngff_time_unit("ms"), ngff_time_unit("frames")
    ('millisecond', None)
    """
    return NGFF_TIME_UNITS.get(str(unit)) if unit is not None else None
