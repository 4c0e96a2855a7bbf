"""Conditions on one field's value, built once from a search value and then either
written as SQL (DuckDB evaluates them on the index) or evaluated on numpy arrays of
the listing snapshot. Both renderings come from the same small tree, so the two
ways of answering a search cannot drift apart.

>>> sql(AllOf((Cmp(">=", 1), Cmp("<=", 5))), "d.levels")
('d.levels >= ? AND d.levels <= ?', [1, 5])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np

SQL = tuple[str, list[Any]]


class Pred:
    """A condition on one value; only rows where it is TRUE match (NULL never does)."""


@dataclasses.dataclass(frozen=True)
class Cmp(Pred):
    op: str  # = < <= > >=
    value: Any


@dataclasses.dataclass(frozen=True)
class LowerEq(Pred):
    """Text equal ignoring case (DuckDB's ``lower`` on both sides)."""

    value: str


@dataclasses.dataclass(frozen=True)
class Like(Pred):
    """``ILIKE pattern ESCAPE '\\'`` (globs become these)."""

    pattern: str


@dataclasses.dataclass(frozen=True)
class IsNull(Pred):
    pass


@dataclasses.dataclass(frozen=True)
class NotNull(Pred):
    pass


@dataclasses.dataclass(frozen=True)
class AnyOf(Pred):
    parts: tuple[Pred, ...]


@dataclasses.dataclass(frozen=True)
class AllOf(Pred):
    parts: tuple[Pred, ...]


@dataclasses.dataclass(frozen=True)
class Negated(Pred):
    """TRUE where ``part`` is not TRUE (FALSE or NULL)."""

    part: Pred


def sql(pred: Pred, col: str) -> SQL:
    """``(sql, params)`` of ``pred`` applied to the SQL expression ``col``."""
    if isinstance(pred, Cmp):
        return f"{col} {pred.op} ?", [pred.value]
    if isinstance(pred, LowerEq):
        return f"lower({col}) = lower(?)", [pred.value]
    if isinstance(pred, Like):
        return f"{col} ILIKE ? ESCAPE '\\'", [pred.pattern]
    if isinstance(pred, IsNull):
        return f"{col} IS NULL", []
    if isinstance(pred, NotNull):
        return f"{col} IS NOT NULL", []
    if isinstance(pred, Negated):
        s, p = sql(pred.part, col)
        return f"NOT coalesce(({s}), FALSE)", p
    if isinstance(pred, AnyOf) and len(pred.parts) > MANY and _all_lower_eq(pred.parts):
        # one list for many values (an id list): binding thousands of ORs takes seconds
        values = [p.value for p in pred.parts]  # type: ignore[attr-defined]
        return f"list_contains(list_transform(?::VARCHAR[], lambda v: lower(v)), lower({col}))", [
            values
        ]
    if isinstance(pred, AnyOf | AllOf):
        parts = [sql(x, col) for x in pred.parts]
        if isinstance(pred, AnyOf):
            return " OR ".join(f"({s})" for s, _ in parts), [v for _, ps in parts for v in ps]
        return " AND ".join(s for s, _ in parts), [v for _, ps in parts for v in ps]
    raise TypeError(f"not a condition: {pred!r}")  # pragma: no cover


#: lists of more values than this are matched through one list parameter
MANY = 8


def _all_lower_eq(parts: tuple[Pred, ...]) -> bool:
    return all(isinstance(p, LowerEq) and isinstance(p.value, str) for p in parts)


_OPS = {
    "=": np.equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


class Unsupported(Exception):
    """This condition is left to DuckDB (text patterns, NaN, time zones...)."""


def _evaluate(pred: Pred, leaf: Any) -> np.ndarray:
    """``NOT``/``OR``/``AND`` of boolean masks; ``leaf(pred)`` decides the rest."""
    if isinstance(pred, Negated):
        return ~_evaluate(pred.part, leaf)
    if isinstance(pred, AnyOf | AllOf):
        combine = np.logical_or if isinstance(pred, AnyOf) else np.logical_and
        return combine.reduce([_evaluate(p, leaf) for p in pred.parts])
    return leaf(pred)


def on_array(pred: Pred, values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Boolean mask of the rows of a numeric or time column where ``pred`` is TRUE.

    ``values`` may hold anything in NULL slots, ``valid`` marks the non-NULL rows
    (``None``: all). Raises :class:`Unsupported` for conditions numpy cannot decide
    exactly as DuckDB.
    """

    def leaf(p: Pred) -> np.ndarray:
        if isinstance(p, IsNull):
            return np.zeros(len(values), bool) if valid is None else ~valid
        if isinstance(p, NotNull):
            return np.ones(len(values), bool) if valid is None else valid.copy()
        if isinstance(p, Cmp):
            out = _OPS[p.op](values, _number_like(p.value, values.dtype))
            return out if valid is None else out & valid
        raise Unsupported(type(p).__name__)

    return _evaluate(pred, leaf)


def _number_like(value: Any, dtype: np.dtype) -> Any:
    if dtype.kind == "M":
        if not isinstance(value, dt.datetime) or value.tzinfo is not None:
            raise Unsupported("time value")
        return np.datetime64(value, "us")
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise Unsupported("non-numeric value")
    if value != value or dtype.kind not in "iuf":  # NaN: DuckDB orders it above all
        raise Unsupported("NaN")
    if dtype.kind in "iu" and isinstance(value, float) and abs(value) >= 2**53:
        raise Unsupported("imprecise integer")
    return value


def on_dictionary(pred: Pred, values: list[Any], lowered: np.ndarray) -> np.ndarray:
    """Boolean mask over the distinct values of a dictionary-encoded text column
    (``None`` among them is NULL; ``lowered`` holds DuckDB's ``lower`` of each).

    Case-insensitive equality needs the searched value lower-cased as DuckDB would:
    done here for ASCII text only; other conditions on text raise :class:`Unsupported`
    except comparisons of text with text (byte order, as DuckDB's).
    """
    null = np.fromiter((v is None for v in values), bool, len(values))

    def leaf(p: Pred) -> np.ndarray:
        if isinstance(p, IsNull):
            return null
        if isinstance(p, NotNull):
            return ~null
        if isinstance(p, LowerEq):
            if not isinstance(p.value, str) or not p.value.isascii():
                raise Unsupported("non-ASCII text")
            return (lowered == p.value.lower()) & ~null
        if isinstance(p, Cmp) and isinstance(p.value, str):
            op = _OPS[p.op]
            return np.fromiter(
                (v is not None and bool(op(v, p.value)) for v in values), bool, len(values)
            )
        raise Unsupported(type(p).__name__)

    return _evaluate(pred, leaf)
