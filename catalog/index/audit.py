"""The append-only, hash-chained audit log of an index.

Every change to the index appends one row: who, when, what, on which dataset, with
the details (before/after where something changed). Each row carries
``hash = BLAKE3(prev_hash | seq | time | user | action | dataset | detail)``, so editing,
removing or reordering any past row breaks the chain from that row on, and
:func:`verify_chain` reports where. Deleting the newest rows leaves a shorter, valid
chain: record the head (``voxcat audit head``) somewhere else (a lab notebook, a
regulator's file) and pass it as ``expect_head`` to prove nothing was cut off.

>>> report = verify_chain("lab.duckdb")          # doctest: +SKIP
>>> report.ok, report.rows                        # doctest: +SKIP
(True, 18234)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Iterable
from typing import Any

import blake3
import duckdb
import pyarrow as pa

GENESIS = "0" * 64


def _clean(text: str | None) -> str | None:
    from ..paths import storable

    return text if text is None else storable(text)


def row_hash(
    prev: str,
    seq: int,
    time: dt.datetime,
    user: str | None,
    action: str,
    ds: str | None,
    detail: str,
) -> str:
    """The chain hash of one audit row."""
    text = "\x1f".join(
        [prev, str(seq), time.isoformat(), user or "", action, ds or "", detail or ""]
    )
    return blake3.blake3(text.encode("utf-8", "surrogatepass")).hexdigest()


def head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """``(seq, hash)`` of the newest audit row (``(0, GENESIS)`` for an empty log)."""
    rows = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
    return (rows[0][0], rows[0][1] or GENESIS) if rows else (0, GENESIS)


def append(
    con: duckdb.DuckDBPyConnection,
    entries: Iterable[tuple[str, str | None, dict]],
    user: str,
    time: dt.datetime,
) -> None:
    """Append ``(action, dataset_id, detail)`` entries, chained to the current head.

    Call inside the write transaction, so the head cannot move underneath.
    """
    entries = list(entries)
    if not entries:
        return
    last_seq, prev = head(con)
    user = _clean(user) or ""
    dumps = json.dumps
    seqs, actions, ids, details, prevs, hashes = [], [], [], [], [], []
    for i, (action, ds, detail) in enumerate(entries, start=1):
        seq = last_seq + i
        ds = _clean(ds)
        text = _clean(dumps(detail, default=str, ensure_ascii=False, sort_keys=True)) or ""
        h = row_hash(prev, seq, time, user, action, ds, text)
        seqs.append(seq)
        actions.append(action)
        ids.append(ds)
        details.append(text)
        prevs.append(prev)
        hashes.append(h)
        prev = h
    n = len(entries)
    table = pa.table(
        {
            "seq": pa.array(seqs, pa.int64()),
            "time": pa.array([time] * n, pa.timestamp("us")),
            "user_name": pa.array([user] * n, pa.string()),
            "action": pa.array(actions, pa.string()),
            "dataset_id": pa.array(ids, pa.string()),
            "detail": pa.array(details, pa.string()),
            "prev_hash": pa.array(prevs, pa.string()),
            "hash": pa.array(hashes, pa.string()),
        }
    )
    con.register("_audit_in", table)
    try:
        con.execute("INSERT INTO audit BY NAME SELECT * FROM _audit_in")
    finally:
        con.unregister("_audit_in")


def rechain(con: duckdb.DuckDBPyConnection) -> None:
    """Compute the chain over rows written before it existed (a schema migration)."""
    rows = con.execute(
        "SELECT seq, time, user_name, action, dataset_id, detail FROM audit ORDER BY seq"
    ).fetchall()
    prev, out = GENESIS, []
    for seq, time, user, action, ds, detail in rows:
        h = row_hash(prev, seq, time, user, action, ds, detail or "")
        out.append((seq, prev, h))
        prev = h
    if out:
        con.register("_chain", pa.table({k: list(v) for k, v in zip(("s", "p", "h"), zip(*out))}))
        try:
            con.execute(
                "UPDATE audit SET prev_hash = c.p, hash = c.h FROM _chain c WHERE audit.seq = c.s"
            )
        finally:
            con.unregister("_chain")


@dataclasses.dataclass
class ChainReport:
    """What :func:`verify_chain` found."""

    rows: int
    head_seq: int
    head_hash: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.rows} rows, head #{self.head_seq} {self.head_hash}"
        shown = "\n  ".join(self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        return f"audit log TAMPERED ({len(self.problems)} problem(s)):\n  {shown}{more}"


def verify_chain(
    index: str | os.PathLike[str] | None = None, *, expect_head: str | None = None
) -> ChainReport:
    """Recompute the chain of the whole audit log and report every break.

    ``expect_head`` is a head hash recorded earlier: it must still be in the chain
    (rows after it are fine; rows cut off before it are reported).
    """
    from .connection import connect

    problems: list[str] = []
    prev, expected_seq, n, last = GENESIS, 1, 0, (0, GENESIS)
    found_expected = expect_head is None
    with connect(index, read_only=True) as con:
        cur = con.execute(
            "SELECT seq, time, user_name, action, dataset_id, detail, prev_hash, hash "
            "FROM audit ORDER BY seq"
        )
        while batch := cur.fetchmany(50_000):
            for seq, time, user, action, ds, detail, prev_hash, h in batch:
                n += 1
                if seq != expected_seq:
                    problems.append(f"#{seq}: rows #{expected_seq}..#{seq - 1} are missing")
                if prev_hash != prev:
                    problems.append(
                        f"#{seq}: does not follow the row before it (removed or moved)"
                    )
                if row_hash(prev_hash or "", seq, time, user, action, ds, detail or "") != h:
                    problems.append(f"#{seq}: contents changed after it was written ({action})")
                if h == expect_head:
                    found_expected = True
                prev, expected_seq, last = h, seq + 1, (seq, h)
    if not found_expected:
        problems.append(
            f"the recorded head {expect_head} is not in the log: rows were removed from its end"
        )
    return ChainReport(rows=n, head_seq=last[0], head_hash=last[1], problems=problems)


def list_audit(
    index: str | os.PathLike[str] | None = None,
    *,
    dataset: str | None = None,
    user: str | None = None,
    action: str | None = None,
    since: Any = None,
    until: Any = None,
    limit: int | None = 100,
) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered (``action`` may be a prefix like ``"scan."``).

    >>> list_audit("lab.duckdb", dataset="k2x9q4m1abcd", limit=5)   # doctest: +SKIP
    """
    from ..catalogue.values import period
    from .connection import connect

    where: list[str] = []
    params: list[Any] = []
    if dataset:
        where.append("dataset_id = ?")
        params.append(dataset)
    if user:
        where.append("user_name = ?")
        params.append(user)
    if action:
        where.append("(action = ? OR starts_with(action, ?))")
        params += [action, action.rstrip(".") + "."]
    if since is not None:
        where.append("time >= ?")
        params.append(period(since)[0])
    if until is not None:
        start, end = period(until)
        where.append("time < ?" if end else "time <= ?")
        params.append(end or start)
    sql = (
        "SELECT seq, time, user_name, action, dataset_id, detail FROM audit "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY seq DESC"
    )
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    with connect(index, read_only=True) as con:
        rows = con.execute(sql, params).fetchall()
    keys = ("seq", "time", "user", "action", "dataset", "detail")
    out = []
    for r in rows:
        d = dict(zip(keys, r))
        d["detail"] = json.loads(d["detail"]) if d["detail"] else None
        out.append(d)
    return out
