"""Writing the snapshot of an index as it is now (see :mod:`.format` for the layout).

>>> build("lab.duckdb")                    # doctest: +SKIP
PosixPath('lab.voxcat/listing.arrow')
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import listing
from ..readcache import _stamp
from .format import (
    COLUMNS,
    DICTIONARY,
    FORMAT_VERSION,
    HASH_COLUMN,
    ROW_HASH_SQL,
    TERMS_FILE,
    TOKEN_WIDTH,
    encode_stamp,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from ..connection import Connection


def build(index: str | os.PathLike[str]) -> Path | None:
    """Write the snapshot of ``index`` as it is now; returns its path, or ``None`` when
    the index changed while it was read (nothing is written then).

    >>> build("lab.duckdb")                    # doctest: +SKIP
    PosixPath('lab.voxcat/listing.arrow')
    """
    import pyarrow as pa

    from ..connection import connect

    source = Path(index).resolve()
    before = _stamp(source)
    cols = ", ".join("coalesce(tags, []) AS tags" if c == "tags" else c for c in COLUMNS)
    with connect(source, read_only=True, cached=False) as con:
        table = con.sql(
            f"SELECT {cols}, {ROW_HASH_SQL} AS {HASH_COLUMN} FROM datasets ORDER BY num"
        ).to_arrow_table()
        arrays, lowered = encode(con, table)
        arrays.append(table[HASH_COLUMN].combine_chunks())
        # the word index: rows of stale terms (rewritten datasets) are dropped by the join
        words = con.sql(
            "SELECT t.token, list(p.pos ORDER BY p.pos) AS rows FROM terms t JOIN "
            "(SELECT num, (row_number() OVER (ORDER BY num) - 1)::INTEGER AS pos "
            "FROM datasets) p USING (num) GROUP BY t.token ORDER BY t.token"
        ).to_arrow_table()
    if _stamp(source) != before or before is None:
        return None
    stamp = {"voxcat.version": FORMAT_VERSION, "voxcat.stamp": encode_stamp(before)}
    dest = listing.path_for(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _write(dest.with_name(TERMS_FILE), _fixed_tokens(words).replace_schema_metadata(stamp))
    out = pa.table(arrays, names=[*COLUMNS, HASH_COLUMN])
    _write(dest, out.replace_schema_metadata({**stamp, "voxcat.lowered": json.dumps(lowered)}))
    return dest


def encode(con: Connection, table: pa.Table) -> tuple[list[Any], dict[str, list]]:
    """The :data:`COLUMNS` of ``table`` (rows of ``datasets`` as the snapshot selects
    them) as the snapshot stores them: the :data:`DICTIONARY` columns dictionary-encoded,
    with their values through DuckDB's ``lower`` (``lowered``)."""
    arrays, lowered = [], {}
    for name in COLUMNS:
        col = table[name]
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if name in DICTIONARY:
            col = _small_codes(col.dictionary_encode(null_encoding="encode"))
            values = col.dictionary.to_pylist()
            lowered[name] = con.execute(
                "SELECT list_transform(?::VARCHAR[], lambda v: lower(v))", [values]
            ).fetchall()[0][0]
        arrays.append(col)
    return arrays, lowered


def _write(dest: Path, table: pa.Table) -> None:
    """Write an Arrow IPC file whole, or not at all (a temporary file renamed)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _fixed_tokens(words: pa.Table) -> pa.Table:
    """``(token, rows)`` with each token cut or NUL-padded to TOKEN_WIDTH bytes, in
    byte order (a prefix of at most that many bytes finds exactly the same words)."""
    import pyarrow as pa

    tokens = words["token"].combine_chunks().cast(pa.large_binary())
    rows = words["rows"].combine_chunks()
    if not len(tokens):  # an index without words
        return pa.table(
            {
                "token": pa.array([], pa.binary(TOKEN_WIDTH)),
                "rows": pa.array([], pa.list_(pa.int32())),
            }
        )
    offsets = np.frombuffer(
        tokens.buffers()[1], dtype=np.int64, count=len(tokens) + 1, offset=tokens.offset * 8
    )
    data = (
        np.frombuffer(tokens.buffers()[2], dtype=np.uint8)
        if tokens.buffers()[2]
        else np.zeros(0, np.uint8)
    )
    lengths = np.minimum(np.diff(offsets), TOKEN_WIDTH)
    fixed = np.zeros((len(tokens), TOKEN_WIDTH), np.uint8)
    row = np.repeat(np.arange(len(tokens)), lengths)
    col = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    fixed[row, col] = data[np.repeat(offsets[:-1], lengths) + col]
    keys = fixed.view(f"S{TOKEN_WIDTH}").ravel()
    if len(keys) > 1 and not bool(np.all(keys[:-1] <= keys[1:])):  # not byte order
        order = np.argsort(keys, kind="stable")
        keys, fixed, rows = keys[order], fixed[order], rows.take(pa.array(order))
    rows = rows.cast(pa.list_(pa.int32()))
    token_col = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(TOKEN_WIDTH), len(keys), [None, pa.py_buffer(np.ascontiguousarray(fixed))]
    )
    return pa.table({"token": token_col, "rows": rows})


def _small_codes(col: pa.DictionaryArray) -> pa.DictionaryArray:
    """The same dictionary array with the narrowest integer codes."""
    import pyarrow as pa

    n = len(col.dictionary)
    width = pa.int8() if n < 2**7 else pa.int16() if n < 2**15 else pa.int32()
    return col.cast(pa.dictionary(width, col.dictionary.type))


def count_rows(index: str | os.PathLike[str]) -> int:
    """How many datasets the index holds (an uncached read: the file is let go of)."""
    from ..connection import connect

    with connect(index, read_only=True, cached=False) as con:
        row = con.execute("SELECT count(*) FROM datasets").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns exactly one row
    return row[0]
