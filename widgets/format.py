"""Human-readable values for widget labels; everything a user or a file supplied is
escaped before it reaches HTML.

>>> human_bytes(1_250_000)
'1.2 MB'
>>> human_length(6.5e-6)
'6.5 µm'
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from catalog import formatting


def esc(value: Any) -> str:
    """``value`` as text safe to put in HTML (quotes included, for attributes).

    >>> esc('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape("" if value is None else str(value), quote=True)


def missing(value: Any) -> bool:
    """``None``, NaN or pandas' NA: a value the index does not have."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def human_bytes(n: float | None) -> str:
    """Bytes in decimal units (``"4.1 KB"``), ``"–"`` when unknown
    (:func:`catalog.formatting.human_bytes`)."""
    return "–" if missing(n) else formatting.human_bytes(n)


def human_length(metres: float | None) -> str:
    """A length in metres in a readable unit (``"6.5 µm"``), ``"–"`` when unknown
    (:func:`catalog.formatting.human_length`)."""
    return formatting.human_length(metres)


def human_shape(shape: Sequence[int] | None, axes: str | None = None) -> str:
    """``"48×96×96 zyx"`` or ``"–"``."""
    if shape is None or len(shape) == 0:
        return "–"
    text = "×".join(str(int(s)) for s in shape)
    return f"{text} {axes}" if axes else text


def human_value(value: Any) -> str:
    """Any index value as short text (lists joined, missing values as ``"–"``)."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # a numpy array
        value = value.tolist()
    if isinstance(value, list | tuple):
        return ", ".join(human_value(v) for v in value) if value else "–"
    if missing(value):
        return "–"
    if hasattr(value, "hour"):  # datetime, pandas Timestamp
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def axis_unit(unit: str | None) -> str:
    """The unit to print on a plot axis: ``"px"`` for pixel indices."""
    if not unit or unit == "index":
        return "px"
    return "µm" if unit == "um" else unit
