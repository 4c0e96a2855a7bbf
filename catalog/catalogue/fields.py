"""What a search can filter on: index columns, virtual fields and nested metadata.

Every filter key resolves to a :class:`Target` that knows its SQL expression and the
kind of values it holds; values are parsed per kind (lengths with units, byte sizes,
ISO dates) in :mod:`.values`. Column names only ever come from this whitelist; user
input reaches SQL as bound parameters.
"""

from __future__ import annotations

import dataclasses
import difflib

import duckdb

from ..errors import UnknownFieldError

# kinds of values a field holds (defined with the column registry; re-exported here)
from ..index.columns import (  # noqa: F401
    BYTES,
    DAYS,
    INT,
    LENGTH,
    PATH,
    REGISTRY,
    TEXT,
    TEXT_LIST,
    TIME,
)
from ..risk import DRIVE_AGE_SQL, OFFSITE_COPIES_SQL, UNVERIFIED_DAYS_SQL, VERIFIED_COPIES_SQL

#: column -> kind, for the columns of the ``datasets`` table a user may filter on.
COLUMNS: dict[str, str] = {c.name: c.filter for c in REGISTRY if c.filter is not None}

#: virtual fields: name -> (kind, SQL expression over the dataset row ``d``)
VIRTUAL: dict[str, tuple[str, str]] = {
    "shape": (TEXT, "array_to_string(d.shape, 'x')"),  # "48x96x96", globbable
    "ndim": (INT, "len(d.shape)"),
    # where a dataset came from: derived (has lineage parents), registered (known from
    # an imported table, not scanned yet) or scanned
    "origin": (
        TEXT,
        "(CASE WHEN d.id IN (SELECT child FROM lineage) THEN 'derived' "
        "WHEN d.status = 'registered' THEN 'registered' ELSE 'scanned' END)",
    ),
    # the safety of its copies (locations; see catalog/risk.py)
    "verified_copies": (INT, VERIFIED_COPIES_SQL),
    "offsite_copies": (INT, OFFSITE_COPIES_SQL),
    "unverified_days": (DAYS, UNVERIFIED_DAYS_SQL),
    "drive_age": (DAYS, DRIVE_AGE_SQL),
}

#: fields that live in their own table: name -> (table, value column)
RELATED: dict[str, tuple[str, str]] = {
    "notes": ("notes", "text"),
}

#: lineage filters: name -> SQL selecting the related ids of the ids bound as a list
LINEAGE = {
    "derived_from": "DESCENDANTS_SQL",
    "ancestor_of": "ANCESTORS_SQL",
}

ALIASES = {
    "level": "data_level",
    "tag": "tags",
    "note": "notes",
    "voxel": "voxel_size",
    "pixel_size": "voxel_size",
    "date": "acquired",
    "time": "acquired",
    "user_level": "data_level",
}

#: fields whose values come from a fixed set: a plain value outside it is refused
CHOICES: dict[str, tuple[str, ...]] = {
    "status": ("ok", "failed", "missing", "offline", "registered"),
    "kind": ("image", "container", "file"),
    "origin": ("derived", "registered", "scanned"),
}

#: fields ``sort_by`` accepts (plain columns and ``shape``/``ndim``)
SORTABLE = frozenset(COLUMNS) | frozenset(VIRTUAL)


@dataclasses.dataclass(frozen=True)
class Target:
    """A resolved filter key."""

    key: str  # the canonical name, e.g. "voxel_size", "tags" or "meta.ExposureTime"
    kind: str
    sql: str = ""  # expression over ``d`` for columns and virtual fields
    table: str | None = None  # for tags / notes
    meta_key: str | None = None  # for nested metadata


def all_field_names() -> list[str]:
    """Every field name a filter may use besides ``meta.<key>``."""
    return sorted({*COLUMNS, *VIRTUAL, *RELATED, *ALIASES, *LINEAGE})


def resolve(key: str, con: duckdb.DuckDBPyConnection | None = None) -> Target:
    """The :class:`Target` for a filter key; unknown keys raise with close valid keys.

    A key that is neither a field nor ``meta.<key>`` is looked up among the nested
    metadata keys, so ``ExposureTime=...`` works like ``meta.ExposureTime=...``.

    >>> resolve("level").key
    'data_level'
    """
    name = ALIASES.get(key, key)
    if name in COLUMNS:
        return Target(name, COLUMNS[name], sql=f"d.{name}")
    if name in VIRTUAL:
        kind, sql = VIRTUAL[name]
        return Target(name, kind, sql=sql)
    if name in RELATED:
        table, col = RELATED[name]
        return Target(name, TEXT, sql=col, table=table)
    if name in LINEAGE:
        return Target(name, "lineage", sql=LINEAGE[name])
    if name.startswith("meta."):
        sub = name[len("meta.") :]
        if not sub:
            raise UnknownFieldError("'meta.' needs a key after the dot, e.g. 'meta.ExposureTime'")
        if con is not None and not meta_key_exists(con, sub):
            close = close_meta_keys(con, sub)
            hint = f"; close keys: {', '.join('meta.' + k for k in close)}" if close else ""
            raise UnknownFieldError(f"no dataset has the metadata key {sub!r}{hint}")
        return Target(name, "meta", meta_key=sub)
    if con is not None and meta_key_exists(con, name):
        return Target("meta." + name, "meta", meta_key=name)
    close = difflib.get_close_matches(key, all_field_names(), n=5, cutoff=0.6)
    if con is not None:
        close += ["meta." + k for k in close_meta_keys(con, key)]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownFieldError(
        f"unknown search field {key!r}.{hint} Fields are index columns "
        f"({', '.join(sorted(COLUMNS)[:8])}, ...), tags, notes, shape, ndim, or a nested "
        "metadata key as 'meta.<key>' (see cat.fields())"
    )


# a metadata key matches exactly or as the last dotted part(s): "ExposureTime" finds
# "tiff.ImageJ.ExposureTime"; case-insensitive
META_KEY_SQL = "(lower(key) = lower(?) OR lower(key) LIKE '%.' || lower(?) ESCAPE '\\')"


def meta_key_params(key: str) -> list[str]:
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [key, escaped]


def meta_key_exists(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    sql = f"SELECT 1 FROM metadata WHERE {META_KEY_SQL} LIMIT 1"
    return con.execute(sql, meta_key_params(key)).fetchone() is not None


def close_meta_keys(con: duckdb.DuckDBPyConnection, key: str, n: int = 5) -> list[str]:
    keys = [
        k
        for (k,) in con.execute(
            "SELECT DISTINCT key FROM (SELECT key FROM metadata LIMIT 200000)"
        ).fetchall()
    ]
    tails = {k.rsplit(".", 1)[-1]: k for k in keys}
    found = difflib.get_close_matches(key, list(tails), n=n, cutoff=0.6)
    return [tails[f] for f in found]


def check_choice(target: Target, value: object) -> None:
    """Refuse a plain value of a fixed-set field (``status="registred"``) that no
    dataset can have, naming the valid ones; globs, comparisons and ranges pass.

    >>> check_choice(resolve("status"), ["ok", "missing"])
    """
    from ..errors import QueryError
    from .values import has_glob, split_op

    allowed = CHOICES.get(target.key)
    if allowed is None or value is None or isinstance(value, tuple):
        return
    for item in value if isinstance(value, list | set | frozenset) else [value]:
        text = split_op(item)[1].strip().lower() if isinstance(item, str) else item
        if isinstance(text, str) and (has_glob(text) or text in allowed):
            continue
        raise QueryError(
            f"{target.key} {item!r} is not one any dataset can have; "
            f"{target.key} is one of {', '.join(allowed)}"
        )
