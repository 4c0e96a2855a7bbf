"""Parsing filter values: comparisons, lengths with units, byte sizes, dates, globs.

>>> split_op("<=5um")
('<=', '5um')
>>> parse_bytes("1.5 GB")
1500000000
>>> period("2024-03")
(datetime.datetime(2024, 3, 1, 0, 0), datetime.datetime(2024, 4, 1, 0, 0))
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from ..errors import QueryError, QueryLimitError
from ..formatting import BYTE_UNITS
from ..inputs import check_number, number
from ..units import parse_length

OPS = ("<=", ">=", "!=", "<", ">", "=")

_BYTES_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def split_op(value: str) -> tuple[str | None, str]:
    """``"<5um"`` -> ``("<", "5um")``; no operator -> ``(None, value)``."""
    s = value.strip()
    for op in OPS:
        if s.startswith(op):
            return op, s[len(op) :].strip()
    return None, value


def has_glob(value: str) -> bool:
    return "*" in value or "?" in value


def glob_to_like(pattern: str) -> str:
    """A glob as a LIKE pattern with ``\\`` escapes: only ``*`` and ``?`` are special.

    >>> glob_to_like("a_b*%?")
    'a\\\\_b%\\\\%_'
    """
    out = []
    for ch in pattern:
        if ch in "\\%_":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def parse_bytes(value: object) -> int:
    """Bytes from a number or ``"500 MB"``, ``"2GiB"`` (decimal and binary units),
    within the 64-bit range of the index's sizes."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        check_number(value)
        return int(check_number(int(value), integer=True))
    m = _BYTES_RE.match(str(value))
    unit = m.group(2).lower() if m else None
    if not m or (unit not in BYTE_UNITS and unit != ""):
        raise QueryError(f"cannot read {value!r} as a size; use bytes or e.g. '500 MB', '2 GiB'")
    size = check_number(float(m.group(1)) * BYTE_UNITS.get(unit or "b", 1))
    return int(check_number(int(size), integer=True))


#: days in a unit of :func:`parse_days`
_DAY_UNITS = {
    "": 1.0,
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "w": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "mo": 30.44,
    "month": 30.44,
    "months": 30.44,
    "y": 365.25,
    "yr": 365.25,
    "year": 365.25,
    "years": 365.25,
}
_DAYS_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_days(value: object) -> float:
    """Days from a number (taken as days) or ``"90d"``, ``"2w"``, ``"6mo"``, ``"5y"``
    (a year is 365.25 days, a month 30.44).

    >>> parse_days("5y"), parse_days(90), parse_days("2 weeks")
    (1826.25, 90.0, 14.0)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(check_number(_float(value)))
    m = _DAYS_RE.match(str(value))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _DAY_UNITS:
        raise QueryError(
            f"cannot read {value!r} as an age; use days or e.g. '90d', '2w', '6mo', '5y'"
        )
    return float(check_number(float(m.group(1)) * _DAY_UNITS[unit or ""]))


def parse_length_value(value: object) -> float:
    """Metres from a number (taken as metres) or ``"5um"``, ``"0.5 mm"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(check_number(_float(value)))
    text = str(value)
    if any(ch.isdigit() and not ch.isascii() for ch in text):
        raise QueryLimitError(f"{text[:40]!r}: write numbers with the digits 0-9")
    try:
        metres = parse_length(text)
    except ValueError as exc:
        raise QueryError(f"{exc}; give a length like '5um', '0.5 mm' or 5e-6 (metres)") from None
    return float(check_number(metres))


def parse_number(value: object) -> int | float:
    """A number from a number or ASCII text (``"3"``, ``"-1.5e3"``), finite, and an
    integer within 64 bits; ``"٣"``, ``"inf"`` and ``"1_000"`` are refused.

    >>> parse_number("3"), parse_number(2.5)
    (3, 2.5)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        found: int | float | None = value
    else:
        found = number(str(value))
    if found is None:
        raise QueryLimitError(f"{str(value)[:40]!r} is not a number (write digits 0-9)")
    return check_number(found, integer=isinstance(found, int))


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        raise QueryLimitError(f"{str(value)[:20]}... is out of range") from None


_ISO_PARTS = (  # ASCII digits only ([0-9], not \\d)
    (re.compile(r"^[0-9]{4}$"), "%Y", "year"),
    (re.compile(r"^[0-9]{4}-[0-9]{2}$"), "%Y-%m", "month"),
    (re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), "%Y-%m-%d", "day"),
)


def _next(start: dt.datetime, unit: str) -> dt.datetime:
    """The start of the next period; the last instant a datetime holds after the
    last period of year 9999."""
    try:
        if unit == "year":
            return start.replace(year=start.year + 1)
        if unit == "month":
            y, m = divmod(start.month, 12)
            return start.replace(year=start.year + y, month=m + 1)
        return start + dt.timedelta(days=1)
    except (ValueError, OverflowError):
        return dt.datetime.max


def period(value: object) -> tuple[dt.datetime, dt.datetime | None]:
    """The half-open time span a value names.

    ``"2024"`` is that year, ``"2024-03"`` that month, a date or ``"2024-03-05"`` that
    day; a datetime or a full ISO timestamp is an instant (end ``None``). Time zones are
    dropped (the index stores local times as the files give them).
    """
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None), None
    if isinstance(value, dt.date):
        start = dt.datetime(value.year, value.month, value.day)
        return start, start + dt.timedelta(days=1)
    text = str(value).strip()
    for pattern, fmt, unit in _ISO_PARTS:
        if pattern.match(text):
            _check_date(text)
            start = dt.datetime.strptime(text, fmt)
            return start, _next(start, unit)
    try:
        if not text.isascii():
            raise ValueError(text)
        return dt.datetime.fromisoformat(text).replace(tzinfo=None), None
    except ValueError:
        _check_date(text[:10])
        raise QueryError(
            f"cannot read {value!r} as a time; use ISO like '2024', '2024-03', '2024-03-05' "
            "or '2024-03-05T14:30', or a datetime"
        ) from None


def _check_date(text: str) -> None:
    """Raise a :class:`QueryError` naming the part of ``YYYY[-MM[-DD]]`` that does not
    exist (month 13, February 30); anything else passes."""
    m = re.match(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$", text)
    if not m:
        return
    year = int(m[1])
    month = int(m[2]) if m[2] else None
    day = int(m[3]) if m[3] else None
    if year < 1:
        raise QueryError(f"{text!r} is not a date: years start at 0001")
    if month is not None and not 1 <= month <= 12:
        raise QueryError(f"{text!r} is not a date: there is no month {month} (01-12)")
    if day is not None and month is not None:
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            name = calendar.month_name[month]
            raise QueryError(f"{text!r} is not a date: {name} {year} has days 01-{last}")
