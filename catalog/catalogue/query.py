"""Search queries as small frozen dataclasses compiled to parameterised SQL.

A catalogue holds one query tree; ``search`` wraps it in :class:`And`, ``|`` in
:class:`Or`, ``-`` in :class:`And` with :class:`Not`, ``head`` in :class:`Limit`.
Compiling gives a ``WHERE`` clause over ``datasets d`` and its parameters; values
never become SQL text.

>>> q = And((Text(("sandstone",)), Field(resolve("modality"), "CT")))
>>> sql, params = compile_query(q)
>>> "?" in sql and "sandstone" not in sql and params[-1]
'CT'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import QueryError, QueryLimitError
from ..index import Connection
from ..index.listing import overlay
from ..index.readcache import _stamp
from ..index.search_text import words
from ..inputs import check_filter_text, check_number, number
from ..paths import to_db
from . import predicates
from .fields import (
    BYTES,
    DAYS,
    INT,
    LENGTH,
    META_KEY_SQL,
    PATH,
    TEXT,
    TEXT_LIST,
    TIME,
    Target,
    meta_key_params,
    resolve,
)
from .predicates import AllOf, AnyOf, Cmp, IsNull, Like, LowerEq, Negated, NotNull, Pred
from .values import (
    glob_to_like,
    has_glob,
    parse_bytes,
    parse_days,
    parse_length_value,
    parse_number,
    period,
    split_op,
)

SQL = tuple[str, list[Any]]
ORDERED = {INT, BYTES, LENGTH, TIME, DAYS}


class Query:
    """Base of query nodes; never usable as a boolean (``and``/``or`` would lie)."""

    def __bool__(self) -> bool:
        raise TypeError("combine queries with & | - on catalogues, not and/or/not")

    def sql(self) -> SQL:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Everything(Query):
    def sql(self) -> SQL:
        return "TRUE", []


@dataclasses.dataclass(frozen=True)
class Text(Query):
    """Every term must match (case-insensitive) in name, paths, fields, metadata
    values, tags or notes; a term with a leading ``-`` must not.

    A word matches the start of a word (``sand`` finds ``sandstone``, through the
    sorted ``terms`` index); a term with several words or punctuation
    (``"pore network"``, ``paper-2025``) must also occur as written.
    """

    terms: tuple[str, ...]
    #: candidates of the positive words, looked up once at search time, valid while
    #: the index file is unchanged (``stamp``); otherwise the terms table is queried
    index: str | None = None
    stamp: tuple | None = None
    nums: tuple[int, ...] | None = None

    def resolve(self, con: Connection, index: str | os.PathLike[str]) -> Text:
        """This query with its word candidates looked up now (a constant list scans
        far faster than a join); unchanged when there are too many to be worth it."""
        pieces = [w for t in self.terms if not _negative(t) for w in words(to_db(t))]
        if not pieces:
            return self
        seen = overlay.view(index, con)
        snap, ov = seen if seen is not None else (None, None)
        rows = snap.word_rows(pieces) if snap is not None else None
        # the snapshot's word index (same answer, no DuckDB), and for the rows changed
        # since it was built the terms table
        if snap is not None and rows is not None:
            if len(rows) > MAX_RESOLVED:
                return self
            nums = snap.num[rows]
            stamp = snap.stamp
            if ov is not None:
                nums = np.setdiff1d(nums, snap.num[ov.stale], assume_unique=True)
                if len(ov.nums):
                    sub, params = _pieces_sql(pieces)
                    now = con.execute(
                        f"SELECT num FROM ({sub}) WHERE num IN (SELECT unnest(?))",
                        [*params, ov.nums.tolist()],
                    ).fetchnumpy()["num"]
                    nums = np.union1d(nums, np.asarray(now, dtype=np.int64))
                stamp = ov.stamp
            return dataclasses.replace(
                self, index=str(Path(index)), stamp=stamp, nums=tuple(nums.tolist())
            )
        sub, params = _pieces_sql(pieces)
        found = con.execute(f"SELECT num FROM ({sub}) LIMIT ?", [*params, MAX_RESOLVED + 1])
        nums = np.sort(found.fetchnumpy()["num"])
        if len(nums) > MAX_RESOLVED:
            return self
        path = Path(index)
        return dataclasses.replace(
            self, index=str(path), stamp=_stamp(path), nums=tuple(nums.tolist())
        )

    def valid(self) -> bool:
        """Whether the looked-up candidates still describe the index."""
        return self.nums is not None and _stamp(Path(self.index or "")) == self.stamp

    def sql(self) -> SQL:
        resolved = self.valid()
        parts, params = self._conditions(resolved)
        if resolved:
            parts.insert(0, "d.num IN (SELECT unnest(?))")
            params.insert(0, list(self.nums or ()))
        return " AND ".join(parts) or "TRUE", params

    def residual(self) -> SQL | None:
        """What must hold besides being a looked-up candidate (phrases, excluded
        words); ``None`` when nothing."""
        parts, params = self._conditions(True)
        return (" AND ".join(parts), params) if parts else None

    def _conditions(self, resolved: bool) -> tuple[list[str], list[Any]]:
        parts, params = [], []
        for term in self.terms:
            neg = _negative(term)
            text = to_db(term[1:] if neg else term)
            cond, p = _term_sql(text, lookup=neg or not resolved)
            if cond:
                parts.append(f"NOT coalesce(({cond}), FALSE)" if neg else f"({cond})")
                params.extend(p)
        return parts, params


_TOP = chr(0x10FFFF)  # sorts after every token that starts with a given prefix
MAX_RESOLVED = 200_000


def _negative(term: str) -> bool:
    return term.startswith("-") and len(term) > 1


def _pieces_sql(pieces: Sequence[str]) -> SQL:
    sub = " INTERSECT ".join(
        "SELECT num FROM terms WHERE token >= ? AND token < ?" for _ in pieces
    )
    return sub, [v for piece in pieces for v in (piece, piece + _TOP)]


def _term_sql(text: str, lookup: bool = True) -> SQL:
    pieces = words(text)
    conds: list[str] = []
    params: list[Any] = []
    if pieces and lookup:
        sub, params = _pieces_sql(pieces)
        conds.append(f"d.num IN ({sub})")
    if pieces != [text]:  # phrases and punctuation: the exact text must occur too
        conds.append("coalesce(contains(d.search_text, ?), FALSE)")
        params.append(text)
    return " AND ".join(conds), params


@dataclasses.dataclass(frozen=True)
class Field(Query):
    target: Target
    value: Any

    def sql(self) -> SQL:
        t = self.target
        if t.kind == "meta":
            return _meta_sql(t, self.value)
        if t.kind == "lineage":
            from . import lineage

            ids = [self.value] if isinstance(self.value, str) else self.value
            if not isinstance(ids, list | tuple | set) or not all(isinstance(i, str) for i in ids):
                raise QueryError(
                    f"{t.key} takes a dataset id or a list of ids, not {self.value!r}"
                )
            return f"d.id IN ({getattr(lineage, t.sql)})", [list(ids)]
        if t.table is not None:
            cond, params = _value_sql(TEXT, t.sql, self.value)
            return f"d.id IN (SELECT dataset_id FROM {t.table} WHERE {cond})", params
        if t.kind == TEXT_LIST:
            if self.value is None:
                return f"({t.sql} IS NULL OR len({t.sql}) = 0)", []
            cond, params = _value_sql(TEXT, "x", self.value)
            return f"coalesce(len(list_filter({t.sql}, lambda x: {cond})) > 0, FALSE)", params
        return _value_sql(t.kind, t.sql, self.value)


@dataclasses.dataclass(frozen=True)
class And(Query):
    parts: tuple[Query, ...]

    def sql(self) -> SQL:
        return _join(self.parts, "AND")


@dataclasses.dataclass(frozen=True)
class Or(Query):
    parts: tuple[Query, ...]

    def sql(self) -> SQL:
        return _join(self.parts, "OR")


@dataclasses.dataclass(frozen=True)
class Not(Query):
    part: Query

    def sql(self) -> SQL:
        s, p = self.part.sql()
        return f"NOT coalesce(({s}), FALSE)", p


@dataclasses.dataclass(frozen=True)
class Limit(Query):
    """The first ``n`` datasets of ``part`` in ``order`` after skipping ``offset`` of them
    (so ``head`` and ``page`` compose)."""

    part: Query
    order: str
    n: int
    offset: int = 0  #: rows of ``part`` skipped first (``page``)

    def sql(self) -> SQL:
        s, p = self.part.sql()
        sub = f"SELECT d.id FROM datasets d WHERE {s} ORDER BY {self.order} LIMIT ?"
        if self.offset:
            return f"d.id IN ({sub} OFFSET ?)", [*p, self.n, self.offset]
        return f"d.id IN ({sub})", [*p, self.n]


@dataclasses.dataclass(frozen=True)
class Access(Query):
    """The datasets an account may see (see :mod:`catalog.catalogue.access`); a
    catalogue bound to a user ANDs this with every query it runs."""

    user: Any  # catalog.users.User

    def sql(self) -> SQL:
        from .access import access_predicate

        return access_predicate(self.user, alias="d")

    def admits(self, access: str | None) -> bool:
        """Whether a dataset whose ``access`` is ``access`` passes (as the SQL decides)."""
        from .access import admits

        return admits(self.user, access)


def compile_query(query: Query) -> SQL:
    """``(where_sql, params)`` for a query tree."""
    return query.sql()


def _join(parts: Sequence[Query], op: str) -> SQL:
    sqls, params = [], []
    for part in parts:
        s, p = part.sql()
        sqls.append(f"({s})")
        params.extend(p)
    if not sqls:
        return ("TRUE" if op == "AND" else "FALSE"), []
    return f" {op} ".join(sqls), params


# -- values -----------------------------------------------------------------------------

_PHRASE = re.compile(r'(-?)"([^"]*)"|(\S+)')


def parse_text(text: str) -> tuple[str, ...]:
    """Words and ``"quoted phrases"`` of a text search, lower-cased.

    >>> parse_text('Sandstone "pore network" -raw')
    ('sandstone', 'pore network', '-raw')
    """
    terms = []
    for m in _PHRASE.finditer(text):
        neg, phrase, word = m.groups()
        term = (neg + phrase) if phrase is not None else word
        if term and term != "-":
            terms.append(term.lower())
    return tuple(terms)


def count_words(text: str) -> int:
    """How many words a text search looks up: the index's words of every term (a
    term of punctuation only counts as one).

    >>> count_words('sandstone "pore-network" -raw')
    4
    """
    n = 0
    for term in parse_text(text):
        body = term[1:] if _negative(term) else term
        n += max(1, len(words(to_db(body))))
    return n


def count_values(value: Any) -> int:
    """How many values a filter value holds (a list counts its items, nested ones too)."""
    if isinstance(value, list | set | frozenset):
        return sum(count_values(v) for v in value)
    return 1


def _scalar(kind: str, value: Any) -> Any:
    """A single comparison value for a field kind."""
    if kind == LENGTH:
        return parse_length_value(value)
    if kind == BYTES:
        return parse_bytes(value)
    if kind == INT:
        return parse_number(value)
    if kind == DAYS:
        return parse_days(value)
    if kind == PATH:
        return to_db(str(value))
    return value


def _value_sql(kind: str, col: str, value: Any) -> SQL:
    return predicates.sql(value_pred(kind, value), col)


def value_pred(kind: str, value: Any) -> Pred:
    """The condition a search value puts on a field of ``kind`` (raises
    :class:`QueryError` for values the field cannot hold)."""
    if value is None:
        return IsNull()
    if isinstance(value, list | set | frozenset):
        if not value:
            raise QueryError("an empty list matches nothing; give at least one value")
        return AnyOf(tuple(value_pred(kind, v) for v in value))
    if isinstance(value, tuple):
        if len(value) != 2:
            raise QueryError(
                f"a range is a (low, high) pair with None for an open end, not {value!r}"
            )
        return _range_pred(kind, *value)
    if isinstance(value, bool):
        raise QueryError(f"{value!r} is not a value this field holds")
    if isinstance(value, str):
        if kind in (TEXT, PATH):
            check_filter_text(value, "the value", path=kind == PATH)
        op, rest = split_op(value)
        if op is not None and (kind in ORDERED or op == "!="):
            return _compare_pred(kind, op, rest)
        if kind in (TEXT, PATH) and has_glob(value):
            return Like(glob_to_like(to_db(value) if kind == PATH else value))
    if kind == TIME:
        start, end = period(value)
        if end is None:
            return Cmp("=", start)
        return AllOf((Cmp(">=", start), Cmp("<", end)))
    if kind in (TEXT, PATH):
        if not isinstance(value, str | int | float):
            raise QueryError(f"{value!r} is not text; give a string, a list or a glob")
        if kind == PATH:
            return Cmp("=", to_db(str(value)))
        return LowerEq(str(value))
    return Cmp("=", _scalar(kind, value))


def _compare_pred(kind: str, op: str, rest: str) -> Pred:
    if op == "!=":
        return Negated(value_pred(kind, rest))
    if kind == TIME:
        start, end = period(rest)
        if op == "=":
            return value_pred(kind, rest)
        if op in ("<", ">=") or end is None:  # before / from a period, or an instant
            return Cmp(op, start)
        return Cmp(">=" if op == ">" else "<", end)  # after / up to a period
    return Cmp("=" if op == "=" else op, _scalar(kind, rest))


def _range_pred(kind: str, lo: Any, hi: Any) -> Pred:
    if kind not in ORDERED and kind not in (TEXT, PATH):
        raise QueryError("ranges work on numbers, sizes, lengths, times, ages and text")
    if kind in (TEXT, PATH):  # text ranges compare text: 1..9 is "1".."9"
        lo, hi = (v if v is None else _text_bound(kind, v) for v in (lo, hi))
    parts: list[Cmp] = []
    if lo is not None:
        parts.append(Cmp(">=", period(lo)[0] if kind == TIME else _scalar(kind, lo)))
    if hi is not None:
        if kind == TIME:
            start, end = period(hi)
            parts.append(Cmp("<", end) if end else Cmp("<=", start))
        else:
            parts.append(Cmp("<=", _scalar(kind, hi)))
    if len(parts) == 2 and kind != TIME and parts[0].value > parts[1].value:
        raise QueryError(f"empty range: low {lo!r} is above high {hi!r}")
    return AllOf(tuple(parts)) if parts else NotNull()


def _text_bound(kind: str, value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise QueryError(f"{value!r} is not text; a text range takes strings")
    text = check_filter_text(str(value), "the value", path=kind == PATH)
    return to_db(text) if kind == PATH else text


def _meta_sql(t: Target, value: Any) -> SQL:
    """Nested metadata: numbers compare with ``num``, everything else with text; the
    values of a list are tested in one lookup of the metadata table."""
    key_sql, key_params = META_KEY_SQL, meta_key_params(t.meta_key or "")
    items = _flatten(value) if isinstance(value, list | set | frozenset) else [value]
    if not items:
        raise QueryError("an empty list matches nothing; give at least one value")
    parts, params = [], []
    if any(v is None for v in items):  # missing: no such key
        parts.append(f"d.id NOT IN (SELECT dataset_id FROM metadata WHERE {key_sql})")
        params.extend(key_params)
    values = [v for v in items if v is not None]
    # many plain strings or numbers are tested as one list each (an OR of thousands of
    # conditions takes DuckDB seconds to bind)
    plain = [v for v in values if _plain_text(v)]
    nums = [_meta_number(v) for v in values if _is_number(v)]
    conds = [_meta_cond(v) for v in values if not _plain_text(v) and not _is_number(v)]
    if plain:
        conds.append(_value_sql(TEXT, "value", plain if len(plain) > 1 else plain[0]))
    if len(nums) > 1:
        conds.append(("list_contains(?::DOUBLE[], num)", [nums]))
    elif nums:
        conds.append(("num = ?", nums))
    if conds:
        cond = " OR ".join(f"({c})" for c, _ in conds)
        parts.append(f"d.id IN (SELECT dataset_id FROM metadata WHERE {key_sql} AND ({cond}))")
        params.extend([*key_params, *(p for _, ps in conds for p in ps)])
    return " OR ".join(f"({p})" for p in parts), params


def _flatten(values: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        out.extend(_flatten(v) if isinstance(v, list | set | frozenset) else [v])
    return out


def _plain_text(value: Any) -> bool:
    """Whether a metadata search value is compared as text for equality (a string,
    not a comparison or a glob)."""
    return isinstance(value, str) and split_op(value)[0] is None and not has_glob(value)


def _meta_cond(value: Any) -> SQL:
    """The condition on one metadata row (``value``, ``num``) for one search value."""
    numeric = _is_number(value) or (
        isinstance(value, tuple) and all(v is None or _is_number(v) for v in value)
    )
    if isinstance(value, str) and split_op(value)[0] in ("<", "<=", ">", ">="):
        op, rest = split_op(value)
        found = number(rest)
        if found is not None:
            return f"num {op} ?", [_meta_number(found)]
        check_filter_text(rest, "the value")
        return f"value {op} ?", [rest]
    if numeric and isinstance(value, tuple):
        if len(value) != 2:
            raise QueryError(f"a range is a (low, high) pair, not {value!r}")
        bounds = tuple(v if v is None else _meta_number(v) for v in value)
        return predicates.sql(_range_pred(INT, *bounds), "num")
    if numeric:
        return "num = ?", [_meta_number(value)]
    if isinstance(value, tuple):
        return predicates.sql(
            _range_pred(TEXT, *(None if v is None else str(v) for v in value)), "value"
        )
    if isinstance(value, dt.date):
        return "value LIKE ?", [value.isoformat() + "%"]
    return _value_sql(TEXT, "value", str(value))


def _meta_number(value: int | float) -> float:
    """A number compared with the metadata's ``num`` (a double): finite."""
    try:
        return float(check_number(float(value)))
    except OverflowError:
        raise QueryLimitError(f"{str(value)[:20]}... is out of range") from None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


__all__ = [
    "And",
    "Everything",
    "Field",
    "Limit",
    "Not",
    "Or",
    "Query",
    "Text",
    "compile_query",
    "parse_text",
    "resolve",
]
