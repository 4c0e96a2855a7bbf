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


#: characters a middle ellipsis looks ahead (back) for a separator to start the kept end at
_SEPARATORS = "_-. /"
_LOOKAHEAD = 4
_LOOKBACK = 2


def middle_ellipsis(name: str, limit: int) -> str:
    """``name`` shortened to at most ``limit`` characters by an ellipsis in the middle,
    keeping more of the end (where numbered files differ) than of the start; the end
    starts at a separator (``_-. /``) when one is within a few characters. Names of a
    tile, the widgets' grid and the catalogue's HTML view are shortened this way (the
    front end's ``middleEllipsis`` in ``jupyter_ext/frontend/src/names.ts`` is the same
    rule).

    >>> middle_ellipsis("sandstone_03_top_scan_recon_0042.tif", 27)
    'sandstone_0…_recon_0042.tif'
    >>> middle_ellipsis("short.tif", 27)
    'short.tif'
    """
    if len(name) <= limit:
        return name
    if limit < 2:
        return "…"[:limit]
    keep = limit - 1
    tail = keep - keep * 2 // 5
    start = len(name) - tail
    # the end starts at a separator: one a few characters earlier (a longer end), else
    # one a few characters later that skips no digit (a number is kept whole)
    for i in range(start, max(start - _LOOKBACK, len(name) - keep + 1) - 1, -1):
        if name[i] in _SEPARATORS:
            start = i
            break
    else:
        for i in range(start, min(start + _LOOKAHEAD + 1, len(name) - 1)):
            if name[i] in _SEPARATORS:
                start = i
                break
            if name[i].isdigit():
                break
    head = keep - (len(name) - start)
    return name[:head] + "…" + name[start:]


#: at most two lines, broken anywhere (file names have few spaces)
_TWO_LINES = (
    "display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:2;line-clamp:2;"
    "overflow:hidden;overflow-wrap:anywhere;word-break:break-all;line-height:1.25;"
    "height:2.5em"
)


def name_html(name: Any, limit: int, *, style: str = "") -> str:
    """A dataset name as an HTML block of at most two lines: shortened by
    :func:`middle_ellipsis` to ``limit`` characters, the full name in its ``title``
    (shown on hover), everything escaped. ``style`` adds CSS (a font size).

    >>> name_html("a<b>_scan_0001.tif", 12)[-23:]
    '">a&lt;…_0001.tif</div>'
    """
    import html

    text = "" if name is None else str(name)
    css = f"{_TWO_LINES};{style}" if style else _TWO_LINES
    return (
        f'<div class="voxcat-name" title="{html.escape(text, quote=True)}" '
        f'style="{css}">{html.escape(middle_ellipsis(text, limit))}</div>'
    )
