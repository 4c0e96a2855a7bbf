"""Simpler alternatives to parts of the listing snapshot, measured against it in one run.

    python -m benchmarks.listing_alternatives --rows 200000       # a few minutes
    python -m benchmarks.listing_alternatives                     # 1,000,000 rows

The catalogue benchmark's table and index (``benchmarks/catalogue.py``, built here
if missing) are searched with the benchmark's own queries, in one process, each
variant in turn for every repetition (so the page cache, CPU frequency and other
users of the machine affect them alike), each repetition asking another question:

(a) filters: the numpy evaluator (``catalog.catalogue.evaluate``) against DuckDB
    scanning the mapped Arrow table directly (registered zero-copy in an in-memory
    DuckDB, the whole query's SQL in one statement);
(b) word lookup: the snapshot's word index (``Listing.word_rows``) against SQLite
    FTS5 from the standard library (a contentless ``detail=none`` table of each
    dataset's words, rowid = row position, ``"word"*`` prefix queries).

Each is timed as the step alone and as the whole ``cat.search(...).df`` with the
step swapped in. Every variant's answers are checked to be the same rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .catalogue import FACETED, PROJECTS, TEXTS, VOXEL_MAX, prepare

#: prefix lengths FTS5 indexes in the second FTS5 variant (longer prefixes scan terms)
PREFIX_LENGTHS = "1 2 3 4 5 6 7 8"
#: single words matching many rows (a year: a tenth of the datasets; two letters)
BROAD = [f"{2015 + i % 11}" if i % 2 else ["sa", "co", "ba", "ti", "pr"][i % 5] for i in range(50)]


def _faceted(i: int) -> dict:
    return {**FACETED, "project": PROJECTS[i % len(PROJECTS)], "voxel_size": (None, VOXEL_MAX)}


# -- (a) DuckDB over the mapped Arrow table -----------------------------------------------


class ArrowDuckDB:
    """Evaluates a query wholly on the snapshot's Arrow table in an in-memory DuckDB
    (when every condition is on a snapshot column; else the numpy evaluator)."""

    def __init__(self, *, case_sensitive: bool = False) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.snap: Any = None
        #: compare text as stored, not through ``lower`` (NOT voxcat's semantics: a
        #: lower bound of what DuckDB could do; this benchmark's values are one case)
        self.case_sensitive = case_sensitive

    def evaluate(self, snap: Any, query: Any, con: Any) -> np.ndarray:
        from catalog.catalogue.evaluate import evaluate

        if not _native(snap, query):
            return evaluate(snap, query, con)
        if self.snap is not snap:  # registered once per snapshot (zero-copy)
            self.con.register("listing", snap.table)
            self.snap = snap
        sql, params = query.sql()
        if self.case_sensitive:
            sql = sql.replace("lower(d.", "(d.").replace("lower(?)", "?")
        nums = self.con.execute(f"SELECT num FROM listing d WHERE {sql}", params).fetchnumpy()
        return snap.positions(nums["num"])


def _native(snap: Any, query: Any) -> bool:
    from catalog.catalogue.evaluate import _Evaluation
    from catalog.catalogue.query import And, Everything, Field, Not, Or

    if isinstance(query, Everything):
        return True
    if isinstance(query, And | Or):
        return all(_native(snap, q) for q in query.parts)
    if isinstance(query, Not):
        return _native(snap, query.part)
    return isinstance(query, Field) and _Evaluation(snap, None)._native_column(query) is not None


# -- (b) SQLite FTS5 word lookup -----------------------------------------------------------


def build_fts(index: Path, dest: Path, prefix: str = "") -> float:
    """Write the FTS5 table of ``index``'s words (row positions as rowids), with
    prefix indexes of the lengths in ``prefix`` (``"1 2 3"``); returns seconds."""
    from catalog.index import connect

    t = time.perf_counter()
    dest.unlink(missing_ok=True)
    with connect(index, read_only=True, cached=False) as con:
        docs = con.sql(
            "SELECT p.pos, string_agg(t.token, ' ') FROM terms t JOIN "
            "(SELECT num, (row_number() OVER (ORDER BY num) - 1)::INTEGER AS pos "
            "FROM datasets) p USING (num) GROUP BY p.pos"
        ).fetchall()
    db = sqlite3.connect(dest)
    db.execute(
        "CREATE VIRTUAL TABLE words USING fts5(text, content='', detail=none, "
        f"{f'prefix={prefix!r}, ' if prefix else ''}tokenize='unicode61 remove_diacritics 0')"
    )
    db.executemany("INSERT INTO words(rowid, text) VALUES (?, ?)", docs)
    db.execute("INSERT INTO words(words) VALUES ('optimize')")
    db.commit()
    db.close()
    return time.perf_counter() - t


class FTSWords:
    """``word_rows`` answered by SQLite FTS5."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)

    def word_rows(self, pieces: list[str]) -> np.ndarray | None:
        if not pieces:
            return None
        match = " AND ".join(f'"{p}"*' for p in pieces)
        rows = self.db.execute("SELECT rowid FROM words WHERE words MATCH ?", [match]).fetchall()
        return np.sort(np.fromiter((r for (r,) in rows), np.int64, len(rows)))


# -- timing --------------------------------------------------------------------------------


def _interleaved(
    variants: dict[str, Callable[[int], Any]], repeat: int
) -> tuple[dict[str, float], dict[str, list]]:
    """Median seconds of each variant's ``fn(i)``, variants taking turns per ``i`` (in
    rotated order), after one untimed call each; and what each returned."""
    names = list(variants)
    for name in names:
        variants[name](repeat + 1)
    times: dict[str, list[float]] = {n: [] for n in names}
    out: dict[str, list] = {n: [] for n in names}
    for i in range(repeat):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t = time.perf_counter()
            res = variants[name](i)
            times[name].append(time.perf_counter() - t)
            out[name].append(res)
    return {n: statistics.median(v) for n, v in times.items()}, out


def _same(out: dict[str, list], key: Callable[[Any], Any]) -> bool:
    first, *rest = out.values()
    return all([key(a) for a in first] == [key(b) for b in other] for other in rest)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--data", default="/tmp/voxcat-bench/catalogue")
    p.add_argument("--repeat", type=int, default=21, help="questions per variant")
    args = p.parse_args(argv)

    import catalog.catalogue.core as core
    from catalog import open_catalog
    from catalog.index import listing
    from catalog.index.search_text import words

    index = prepare(args.rows, Path(args.data))
    t = time.perf_counter()
    built = listing.build(index)  # timed: the word index is built with the snapshot
    snap_seconds = time.perf_counter() - t
    snap = listing.current(index)
    assert built is not None and snap is not None and snap.terms is not None
    fts_path = listing.path_for(index).with_name("listing-words.sqlite")
    fts_pre_path = fts_path.with_name("listing-words-prefix.sqlite")
    fts_seconds = build_fts(index, fts_path)
    fts_pre_seconds = build_fts(index, fts_pre_path, prefix=PREFIX_LENGTHS)

    def mb(path: Path) -> str:
        return f"{path.stat().st_size / 1e6:.0f} MB"

    print(
        f"listing alternatives: {snap.rows:,} datasets, {args.repeat} questions per variant "
        "(medians, ms)\n"
        f"  snapshot {mb(built)} + word index {mb(built.with_name(listing.TERMS_FILE))}, "
        f"both built in {snap_seconds:.1f} s; FTS5 {mb(fts_path)} in {fts_seconds:.1f} s; "
        f"FTS5 with prefix indexes ({PREFIX_LENGTHS}) {mb(fts_pre_path)} in "
        f"{fts_pre_seconds:.1f} s"
    )
    cat = open_catalog(index)
    arrow, arrow_cs = ArrowDuckDB(), ArrowDuckDB(case_sensitive=True)
    fts, fts_pre = FTSWords(fts_path), FTSWords(fts_pre_path)
    numpy_evaluate = core.evaluate
    real_word_rows = listing.Listing.word_rows

    # (a) filters -------------------------------------------------------------------------
    def step(fn: Callable) -> Callable[[int], np.ndarray]:
        def run(i: int) -> np.ndarray:
            query = cat.search(**_faceted(i))._scoped()
            with cat._connect() as con:
                return fn(listing.current(index), query, con)

        return run

    def whole(fn: Callable) -> Callable[[int], Any]:
        def run(i: int) -> Any:
            core.evaluate = fn
            try:
                return cat.search(**_faceted(i)).df
            finally:
                core.evaluate = numpy_evaluate

        return run

    def alone(search: Callable[[int], Any]) -> Callable[[int], Any]:
        def run(i: int) -> Any:
            listing.ENABLED = False
            try:
                return search(i)
            finally:
                listing.ENABLED = True

        return run

    f_step, f_step_out = _interleaved(
        {
            "numpy evaluator": step(numpy_evaluate),
            "DuckDB on Arrow": step(arrow.evaluate),
            "same, no lower()": step(arrow_cs.evaluate),
        },
        args.repeat,
    )
    f_whole, f_whole_out = _interleaved(
        {
            "numpy evaluator": whole(numpy_evaluate),
            "DuckDB on Arrow": whole(arrow.evaluate),
            "same, no lower()": whole(arrow_cs.evaluate),
            "DuckDB alone": alone(lambda i: cat.search(**_faceted(i)).df),
        },
        args.repeat,
    )
    same_a = _same(f_step_out, lambda a: a.tolist()) and _same(
        f_whole_out, lambda df: df.index.tolist()
    )

    # (b) word lookup ---------------------------------------------------------------------
    def lookup(fn: Callable, texts: list[str]) -> Callable[[int], np.ndarray]:
        def run(i: int) -> np.ndarray:
            return fn([w for t in texts[i % len(texts)].split() for w in words(t)])

        return run

    def text(word_rows: Callable) -> Callable[[int], Any]:
        def run(i: int) -> Any:
            listing.Listing.word_rows = word_rows
            try:
                return cat.search(TEXTS[i % len(TEXTS)]).df
            finally:
                listing.Listing.word_rows = real_word_rows

        return run

    def lookups(texts: list[str]) -> dict[str, Callable[[int], np.ndarray]]:
        return {
            "word index": lookup(lambda p: listing.current(index).word_rows(p), texts),
            "SQLite FTS5": lookup(fts.word_rows, texts),
            "FTS5 + prefixes": lookup(fts_pre.word_rows, texts),
        }

    w_step, w_step_out = _interleaved(lookups(TEXTS), args.repeat)
    w_broad, w_broad_out = _interleaved(lookups(BROAD), args.repeat)
    w_whole, w_whole_out = _interleaved(
        {
            "word index": text(real_word_rows),
            "SQLite FTS5": text(lambda self, pieces: fts.word_rows(pieces)),
            "FTS5 + prefixes": text(lambda self, pieces: fts_pre.word_rows(pieces)),
            "DuckDB alone": alone(lambda i: cat.search(TEXTS[i % len(TEXTS)]).df),
        },
        args.repeat,
    )
    same_b = (
        _same(w_step_out, lambda a: a.tolist())
        and _same(w_broad_out, lambda a: a.tolist())
        and _same(w_whole_out, lambda df: df.index.tolist())
    )

    def table(title: str, rows: dict[str, dict[str, float]], same: bool) -> None:
        print(f"\n{title}  (same rows from every variant: {'yes' if same else 'NO'})")
        cols = list(dict.fromkeys(k for r in rows.values() for k in r))
        print(f"  {'':28}" + "".join(f"{c:>18}" for c in cols))
        for label, r in rows.items():
            cells = "".join(f"{r[c] * 1e3:18.2f}" if c in r else f"{'-':>18}" for c in cols)
            print(f"  {label:28}{cells}")

    def counts(out: list[np.ndarray]) -> str:
        n = [len(a) for a in out]
        return f"{min(n):,}-{max(n):,} rows"

    table(
        f"(a) faceted search, 4 fields ({counts(f_step_out['numpy evaluator'])})",
        {"evaluation step": f_step, "whole search (.df)": f_whole},
        same_a,
    )
    table(
        "(b) text search",
        {
            f"two words, lookup ({counts(w_step_out['word index'])})": w_step,
            f"one broad word ({counts(w_broad_out['word index'])})": w_broad,
            "two words, whole search (.df)": w_whole,
        },
        same_b,
    )


if __name__ == "__main__":
    main()
