"""Answering a search on the listing snapshot (see :mod:`catalog.index.listing`).

A query tree is evaluated to the sorted row positions of the snapshot that match.
Conditions on snapshot columns that numpy can decide exactly as DuckDB does are
evaluated here (dictionary codes for text columns, plain arrays for numbers and
times); everything else (text patterns, nested metadata, notes, lineage, ``head``,
phrases) is asked of DuckDB as ``SELECT num ... WHERE <that part>``, restricted to
the rows still in question. The parts of an ``AND`` run cheapest and most selective
first, each on the rows the previous ones left, so a faceted search touches few rows
after its first filter.

>>> pos = evaluate(listing, query, con)            # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..index import Connection
from ..index.listing import COLUMNS as LISTED
from ..index.listing import DICTIONARY, Listing
from .fields import TEXT_LIST
from .predicates import Unsupported, on_array, on_dictionary
from .query import Access, And, Everything, Field, Not, Or, Query, Text, value_pred

#: candidate rows above which a DuckDB part is asked unrestricted and intersected
RESTRICT_MAX = 50_000


def evaluate(listing: Listing, query: Query, con: Connection, strict: bool = True) -> np.ndarray:
    """Sorted positions (in ``listing``) of the rows ``query`` matches.

    Raises :class:`catalog.index.listing.Stale` when DuckDB names a dataset the
    snapshot does not hold; without ``strict`` such datasets are left out (the index
    changed since the snapshot: the caller asks DuckDB about the changed rows, and
    drops the positions of the snapshot's stale rows from the answer).
    """
    return _Evaluation(listing, con, strict).run(query, None)


class _Evaluation:
    def __init__(self, listing: Listing, con: Connection, strict: bool = True) -> None:
        self.listing = listing
        self.con = con
        self.strict = strict
        self._matches: dict[int, np.ndarray] = {}  # per Field: ordering, then filtering

    # candidates: sorted positions still in question, or None for every row
    def run(self, query: Query, cand: np.ndarray | None) -> np.ndarray:
        if isinstance(query, Everything):
            return self._all(cand)
        if isinstance(query, And):
            parts = sorted(_flat(query), key=self._cost)
            for part in parts:
                cand = self.run(part, cand)
                if not len(cand):
                    break
            return self._all(cand)
        if isinstance(query, Or):
            found = [self.run(part, cand) for part in query.parts]
            if not found:
                return np.empty(0, np.int64)
            return np.unique(np.concatenate(found))
        if isinstance(query, Not):
            if isinstance(query.part, Field):  # decided in one pass: not TRUE there
                native = self._field(query.part, cand, negate=True)
                if native is not None:
                    return native
            inner = self.run(query.part, cand)
            return np.setdiff1d(self._all(cand), inner, assume_unique=True)
        if isinstance(query, Field):
            native = self._field(query, cand)
            if native is not None:
                return native
        if isinstance(query, Access):
            return self._access(query, cand)
        if isinstance(query, Text) and query.nums is not None and query.valid():
            pos = _within(self.listing.positions(query.nums, strict=False), cand)
            rest = query.residual()
            if rest is None or not len(pos):
                return pos
            return self._duckdb(rest, pos)
        return self._duckdb(query.sql(), cand)

    def _all(self, cand: np.ndarray | None) -> np.ndarray:
        return np.arange(self.listing.rows, dtype=np.int64) if cand is None else cand

    def _cost(self, part: Query) -> float:
        """Rough number of rows a part keeps: native filters first, then DuckDB parts,
        negations last."""
        rows = self.listing.rows
        if isinstance(part, Text) and part.nums is not None:
            return len(part.nums)
        if isinstance(part, Field) and self._native_column(part) in DICTIONARY:
            try:
                match = self._dictionary_match(part)
            except Unsupported:
                return 2 * rows
            return float(self.listing.frequencies(part.target.key)[match].sum())
        if isinstance(part, Field) and self._native_column(part):
            return rows / 2
        if isinstance(part, Access):  # one pass over the codes, usually keeps most
            return rows / 2
        if isinstance(part, Not):  # rarely selective: on what the others leave
            return 3 * rows
        return 2 * rows

    # -- conditions decided here ----------------------------------------------------------
    def _native_column(self, f: Field) -> str | None:
        t = f.target
        plain = t.table is None and t.kind not in ("meta", "lineage", TEXT_LIST)
        return t.key if plain and t.key in LISTED and t.sql == f"d.{t.key}" else None

    def _dictionary_match(self, f: Field) -> np.ndarray:
        if id(f) not in self._matches:
            key = f.target.key
            pred = value_pred(f.target.kind, f.value)
            values, lowered = self.listing.values(key), self.listing.lowered(key)
            self._matches[id(f)] = on_dictionary(pred, values, lowered)
        return self._matches[id(f)]

    def _field(self, f: Field, cand: np.ndarray | None, negate: bool = False) -> np.ndarray | None:
        """Rows where ``f`` is TRUE (``negate``: where it is not), or ``None`` when
        DuckDB must decide."""
        key = self._native_column(f)
        if key is None:
            return None
        try:
            if key in DICTIONARY:
                match = self._dictionary_match(f)
                match = ~match if negate else match
                codes = self.listing.codes(key)
                if cand is None:
                    return np.flatnonzero(_codes_in(codes, match))
                return cand[_codes_in(codes[cand], match)]
            if key in ("id", "name", "path", "shape", "channels", "tags"):
                return None
            values = self.listing.column(key)
            if values.dtype.kind == "f" and self.listing.has_nan(key):
                return None
            valid = self.listing.valid(key)
            pred = value_pred(f.target.kind, f.value)
            if cand is None:
                mask = on_array(pred, values, valid)
                return np.flatnonzero(~mask if negate else mask)
            mask = on_array(pred, values[cand], None if valid is None else valid[cand])
            return cand[~mask if negate else mask]
        except Unsupported:
            return None

    def _access(self, query: Access, cand: np.ndarray | None) -> np.ndarray:
        """Rows the account may see, decided on the dictionary of access levels."""
        match = np.array([query.admits(v) for v in self.listing.values("access")], bool)
        codes = self.listing.codes("access")
        if cand is None:
            return np.flatnonzero(_codes_in(codes, match))
        return cand[_codes_in(codes[cand], match)]

    # -- conditions asked of DuckDB -------------------------------------------------------
    def _duckdb(self, where: tuple[str, list[Any]], cand: np.ndarray | None) -> np.ndarray:
        sql, params = where
        if cand is not None and len(cand) <= RESTRICT_MAX:
            nums = self.listing.num[cand].tolist()
            rows = self.con.execute(
                f"SELECT d.num FROM datasets d WHERE d.num IN (SELECT unnest(?)) AND ({sql})",
                [nums, *params],
            ).fetchnumpy()["num"]
            return self.listing.positions(rows, strict=self.strict)
        rows = self.con.execute(f"SELECT d.num FROM datasets d WHERE {sql}", params).fetchnumpy()[
            "num"
        ]
        return _within(self.listing.positions(rows, strict=self.strict), cand)


def _flat(query: And) -> list[Query]:
    """The parts of nested ``And`` nodes, without ``Everything``."""
    out: list[Query] = []
    for part in query.parts:
        if isinstance(part, And):
            out.extend(_flat(part))
        elif not isinstance(part, Everything):
            out.append(part)
    return out


def _codes_in(codes: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Rows whose code is a matching one (comparisons beat a gather for a few codes)."""
    which = np.flatnonzero(match)
    if len(which) > 4:
        return match[codes]
    out = np.zeros(len(codes), bool)
    for code in which:
        out |= codes == code
    return out


def _within(pos: np.ndarray, cand: np.ndarray | None) -> np.ndarray:
    return pos if cand is None else np.intersect1d(pos, cand, assume_unique=True)
