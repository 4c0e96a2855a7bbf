"""Writing scan results into the index: ids, rows, files, flattened metadata, audit.

All writes of one batch happen in one short transaction (see ``connection``), and ids
are resolved inside it, so two scans writing the same index at once never create two
rows for one path, and a move found by one is seen by the other.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import datetime as dt
import getpass
import os
from collections.abc import Iterable, Iterator
from typing import Any

import blake3
import duckdb
import pyarrow as pa

from ..paths import from_db, storable
from ..remote import is_remote
from . import columns

ID_LENGTH = 12


#: the account a server acts for in this thread/task (see :func:`acting_as`)
_ACTING: contextvars.ContextVar[str | None] = contextvars.ContextVar("voxcat_acting", default=None)


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Inside the block (this thread or task only), :func:`current_user` is ``name``:
    a server names the authenticated account in the audit rows it writes for it.

    >>> with acting_as("ada"):
    ...     current_user()
    'ada'
    """
    token = _ACTING.set(name)
    try:
        yield
    finally:
        _ACTING.reset(token)


def current_user() -> str:
    """The account a server acts for (:func:`acting_as`), else the JupyterHub user
    under JupyterHub, else ``$VOXCAT_USER``, else the OS user."""
    acting = _ACTING.get()
    if acting:
        return acting
    for var in ("JUPYTERHUB_USER", "VOXCAT_USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return f"uid-{os.getuid()}"


def now() -> dt.datetime:
    return dt.datetime.now()


def make_id(path: str, checksum: str | None, length: int = ID_LENGTH) -> str:
    """A short, lower-case id derived from where and what a dataset first was.

    >>> make_id("/data/a.tif", "b3:00")
    'wyfcuomkxv4l'
    """
    digest = blake3.blake3(f"{path}\0{checksum or ''}".encode()).digest()
    # base32 turns each 5 bytes into 8 characters: encode only the bytes the id uses
    text = base64.b32encode(digest[: 5 * -(-length // 8)]).decode().lower()
    # ids start with a letter so they are valid Python identifiers for tab completion
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[digest[0] % 26] + text[1:length]


def flatten(
    meta: Any, prefix: str = "", limit: int = 2000
) -> Iterator[tuple[str, str, float | None]]:
    """Dotted ``(key, text, number)`` rows of nested metadata, for search.

    >>> list(flatten({"a": {"b": 2}}))
    [('a.b', '2', 2.0)]
    """
    count = 0
    stack: list[tuple[str, Any]] = [(prefix, meta)]
    while stack and count < limit:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{key}.{k}" if key else str(k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
            stack.extend((f"{key}.{i}", v) for i, v in reversed(list(enumerate(value))))
        else:
            if isinstance(value, list):
                text = ", ".join(str(v) for v in value)
            elif isinstance(value, bool):
                text = str(value).lower()
            else:
                text = "" if value is None else str(value)
            num = None
            if isinstance(value, int | float) and not isinstance(value, bool):
                num = float(value)
            count += 1
            yield key, text[:2000], num


#: the columns scans write, as Arrow (the registry's ``scanned`` columns)
DATASET_SCHEMA = pa.schema([(c.name, c.arrow_type()) for c in columns.listed("scanned")])

#: Columns a user may set with annotations; a rescan never overwrites them once set.
USER_FIELDS = columns.names("user")


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict], schema: pa.Schema
) -> None:
    """Bulk insert ``rows`` (dicts) through Arrow; far faster than executemany."""
    if not rows:
        return
    data = pa.Table.from_pylist([_clean_row(r) for r in rows], schema=schema)
    con.register("_incoming", data)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
    finally:
        con.unregister("_incoming")


def _clean(value: Any) -> Any:
    """Map lone surrogates (undecodable file-name bytes) so Arrow accepts the text.

    Path columns arrive already mapped by :func:`~catalog.paths.to_db`, which this
    leaves as it is."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _clean_row(row: dict) -> dict:
    return {k: _clean(v) for k, v in row.items()}


FILE_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("dataset_id", pa.string()),
        ("size", pa.int64()),
        ("mtime", pa.float64()),
        ("checksum", pa.string()),
        ("position", pa.int32()),
        ("etag", pa.string()),
    ]
)
META_SCHEMA = pa.schema(
    [
        ("dataset_id", pa.string()),
        ("key", pa.string()),
        ("value", pa.string()),
        ("num", pa.float64()),
    ]
)
AUDIT_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("time", pa.timestamp("us")),
        ("user_name", pa.string()),
        ("action", pa.string()),
        ("dataset_id", pa.string()),
        ("detail", pa.string()),
    ]
)


def append_audit(
    con: duckdb.DuckDBPyConnection, entries: Iterable[tuple[str, str | None, dict]], user: str
) -> None:
    """Append ``(action, dataset_id, detail)`` entries to the hash-chained audit log."""
    from .audit import append

    append(con, entries, user, now())


def unique_id(
    con: duckdb.DuckDBPyConnection, path: str, checksum: str | None, taken: set[str]
) -> str:
    """:func:`make_id`, lengthened on the (rare) collision with another dataset."""
    length = ID_LENGTH
    while True:
        ident = make_id(path, checksum, length)
        if ident not in taken:
            row = con.execute("SELECT path FROM datasets WHERE id = ?", [ident]).fetchone()
            if row is None or row[0] == path:
                return ident
        length += 4


def unique_ids(
    con: duckdb.DuckDBPyConnection, wanted: list[tuple[str, str | None]], taken: set[str]
) -> list[str]:
    """:func:`unique_id` of each ``(path, checksum)``, in one query for the lot (a
    collision, which is rare, costs one more per id); adds them to ``taken``."""
    first = [make_id(path, checksum) for path, checksum in wanted]
    owners = dict(
        con.execute(
            "SELECT id, path FROM datasets WHERE id IN (SELECT unnest(?))", [first]
        ).fetchall()
        if first
        else []
    )
    out = []
    for (path, checksum), ident in zip(wanted, first):
        if ident in taken or owners.get(ident, path) != path:
            ident = unique_id(con, path, checksum, taken)
        taken.add(ident)
        out.append(ident)
    return out


def path_exists(db_path: str) -> bool:
    """Whether the stored path is still there, as far as a scan may judge: a URL of
    object storage counts as there (only a scan of its prefix finds it gone and marks
    it ``missing``), so a copy elsewhere is never taken for its move."""
    if is_remote(db_path):
        return True
    return os.path.lexists(from_db(db_path))
