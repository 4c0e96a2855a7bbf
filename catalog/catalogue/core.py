"""``DuckDBCatalog``: an intake 2 catalogue whose entries come from the index on demand.

Nothing is materialised: ``len``, ``in``, iteration and ``cat[id]`` are SQL queries,
so a catalogue of a million datasets opens in milliseconds and holds no rows.
``search`` returns a new catalogue with a narrower query; the original never changes.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import operator
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from intake.readers.entry import Catalog, ReaderDescription

from .. import replicas
from ..drives import drive_of
from ..errors import (
    CatalogMismatch,
    DatasetNotFound,
    Forbidden,
    QueryError,
    QueryLimitError,
    UnknownFieldError,
)
from ..index import SCHEMA_VERSION, Connection, cache_dir, columns, connect, listing, resolve_index
from ..index.listing import overlay
from ..index.readcache import _stamp
from ..inputs import MAX_FIELDS, MAX_FILTER_VALUES, MAX_FILTERS, check_number, check_query_text
from ..paths import from_db
from . import annotate
from .access import sees_everything
from .entries import ROW_COLUMNS, LazyAliases, LazyEntries, make_entry
from .evaluate import evaluate
from .fields import (
    COLUMNS,
    META_KEY_SQL,
    PATH,
    RELATED,
    SORTABLE,
    TEXT_LIST,
    VIRTUAL,
    Target,
    all_field_names,
    check_choice,
    meta_key_params,
    resolve,
)
from .query import (
    Access,
    And,
    Everything,
    Field,
    Limit,
    Not,
    Or,
    Query,
    Text,
    count_values,
    count_words,
    parse_text,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..progress import CancelFlag, ProgressArg
    from ..users import User
    from .entries import VoxcatReader

#: roles in order of what they may do (catalog.users.ROLES)
_RANK = {"viewer": 0, "curator": 1, "admin": 2}

#: columns of ``cat.df``
DF_NAMES = list(columns.names("df"))
DF_COLUMNS = ", ".join(DF_NAMES)
DEFAULT_FACETS = columns.names("facet")
RESERVED = ("text", "sort_by", "meta")
#: what ``DuckDBCatalog.stats`` groups by -> the group's SQL expression
STATS_BY = {
    "month": "strftime(coalesce(d.acquired, d.modified, d.first_seen), '%Y-%m')",
    "modality": "d.modality",
    "project": "d.project",
    "data_level": "d.data_level",
    "drive": "d.root",
}


class DuckDBCatalog(Catalog):
    """A lazy intake catalogue over a voxcat index; see :func:`open_catalog`.

    >>> cat = open_catalog("lab.duckdb")                      # doctest: +SKIP
    >>> ct = cat.search("sandstone", modality="CT", voxel_size="<5um")   # doctest: +SKIP
    >>> da = ct[next(iter(ct))].read()                        # doctest: +SKIP
    """

    def __init__(
        self,
        index: str | os.PathLike[str] | None = None,
        *,
        files: bool = False,
        user: User | str | None = None,
        _query: Query | None = None,
        _order: Sequence[str] = ("name",),
    ) -> None:
        path = resolve_index(index).resolve()
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: no voxcat index here; create one with `voxcat scan DIR --index {path}`"
            )
        if _query is None:
            _upgrade_if_old(path)
        super().__init__(metadata={"index": str(path)})
        self._index = path
        self._files = files
        if isinstance(user, str):
            from ..users import get_user

            user = get_user(path, user)
        self._user: User | None = user
        #: what the account may see; ANDed with every query (None: everything)
        self._access: Query | None = None if sees_everything(user) else Access(user)
        self._query: Query = _query if _query is not None else Everything()
        self._order = tuple(_order)
        self.entries = LazyEntries(self)
        self.aliases = LazyAliases(self)

    # -- SQL plumbing -------------------------------------------------------------------
    @property
    def index(self) -> Path:
        """The index file this catalogue reads."""
        return self._index

    def _connect(self, read_only: bool = True) -> contextlib.AbstractContextManager[Connection]:
        return connect(self._index, read_only=read_only)

    @property
    def user(self) -> User | None:
        """The account this catalogue acts for (``None``: the local user, who sees and
        may change everything)."""
        return self._user

    def _visible(self, query: Query) -> Query:
        """``query`` limited to what the account may see."""
        return query if self._access is None else And((self._access, query))

    def _where(self) -> tuple[str, list[Any]]:
        sql, params = self._visible(self._query).sql()
        if not self._files:
            sql = f"d.kind <> 'file' AND ({sql})"
        return sql, params

    def _require(self, role: str, what: str) -> None:
        """:class:`Forbidden` unless the account has ``role`` (or a higher one)."""
        user = self._user
        if user is None:
            return
        if not user.active:
            raise Forbidden(f"the account {user.name!r} is disabled")
        if _RANK.get(user.role, -1) < _RANK[role]:
            raise Forbidden(
                f"{what} needs the role {role!r}; {user.name!r} is a {user.role} "
                "(an admin changes roles with `voxcat user add NAME --role ...`)"
            )

    def _acting(self) -> contextlib.AbstractContextManager[Any]:
        """Audit rows written inside name the account (else the OS/Hub user)."""
        from ..index.store import acting_as

        return acting_as(self._user.name) if self._user is not None else contextlib.nullcontext()

    def _order_sql(self) -> str:
        parts = []
        for key in self._order:
            desc = key.startswith("-")
            name = key.lstrip("-+")
            expr = VIRTUAL[name][1] if name in VIRTUAL else f"d.{name}"
            parts.append(f"{expr} {'DESC' if desc else 'ASC'} NULLS LAST")
        return ", ".join([*parts, "d.id"])

    def _query_rows(self, select: str, tail: str = "", extra: Sequence[Any] = ()) -> list[tuple]:
        where, params = self._where()
        with self._connect() as con:
            return con.execute(
                f"SELECT {select} FROM datasets d WHERE {where} {tail}", [*params, *extra]
            ).fetchall()

    def _derive(self, query: Query, order: Sequence[str] | None = None) -> DuckDBCatalog:
        return type(self)(
            self._index,
            files=self._files,
            user=self._user,
            _query=query,
            _order=order or self._order,
        )

    def __eq__(self, other: object) -> bool:
        """Same index, same selection, same order (intake's compares every entry)."""
        if not isinstance(other, DuckDBCatalog):
            return NotImplemented
        return self.token == other.token

    def __hash__(self) -> int:
        return int(self.token, 16)

    def page(self, number: int, size: int = 50) -> DuckDBCatalog:
        """Page ``number`` (from 0) of ``size`` datasets in the current order (one
        ``LIMIT``/``OFFSET`` query: nothing before the page is read).

        >>> cat.search(modality="CT").page(2, 24).df       # doctest: +SKIP
        """
        number = _whole(number, "page(number, size)")
        size = _whole(size, "page(number, size)")
        return self.window(number * size, size)

    def window(self, offset: int, limit: int) -> DuckDBCatalog:
        """The ``limit`` datasets after the first ``offset`` in the current order, as a
        catalogue (``LIMIT``/``OFFSET``; ``page`` for whole pages).

        >>> cat.sort_by("name").window(48, 24).df          # doctest: +SKIP
        """
        offset = _whole(offset, "window(offset, limit)")
        limit = _whole(limit, "window(offset, limit)")
        check_number(offset + limit, "the rows it reads, head(offset + limit)", integer=True)
        return self._derive(Limit(self._scoped(), self._order_sql(), limit, offset))

    def _token(self) -> str:  # intake hashes every attribute otherwise (all entries!)
        sql, params = self._where()
        text = f"{self._index}|{sql}|{params!r}|{self._order}"
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:16]

    # -- mapping protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        with self._connect() as con:
            fast = self._listed(con)
            if fast is not None:
                return len(fast)
        return self._query_rows("count(*)")[0][0]

    def __iter__(self) -> Iterator[str]:
        with self._connect() as con:
            fast = self._listed(con)
            if fast is not None:
                ids = self._rows(fast, con, ["id"])["id"].to_pylist()
                if fast.fresh():
                    return iter(ids)
        return iter([r[0] for r in self._query_rows("d.id", f"ORDER BY {self._order_sql()}")])

    # -- the listing snapshot (big indexes; see catalog.index.listing) ------------------
    def _listed(self, con: Connection) -> _Fast | None:
        """The selection answered on the listing snapshot (plus DuckDB for the rows
        changed since it was built), or ``None``: DuckDB answers alone."""
        found = overlay.view(self._index, con)
        if found is None:
            return None
        snap, ov = found
        query = self._query if self._files else And((self._query, Not(_files_query())))
        try:
            q = self._query
            if isinstance(q, Limit) and q.order == self._order_sql():
                # a window (page, head) in this catalogue's own order: evaluated and
                # sorted here, then cut, instead of DuckDB sorting the whole selection
                # (q.part is the parent's _scoped(): the account's and the files'
                # filters that _where adds are in it already)
                inner = _Fast.of(snap, ov, q.part, con)
                nums = self._rows(inner, con, ["num"])["num"].to_numpy()
                cut = nums[q.offset : q.offset + q.n]
                fast = inner.narrowed(cut)
            else:
                fast = _Fast.of(snap, ov, self._visible(query), con)
        except listing.Stale:
            return None
        return fast if fast.fresh() else None

    def _rows(self, fast: _Fast, con: Connection, names: list[str]) -> Any:
        """The columns ``names`` of the selection, in the catalogue's sort order (ties
        by id, NULLs last), as an Arrow table: the snapshot's rows, and DuckDB's for
        those changed since it was built."""
        import pyarrow as pa
        import pyarrow.compute as pc

        snap, pos = fast.snap, fast.pos
        keys = [
            (k.lstrip("-+"), "descending" if k.startswith("-") else "ascending")
            for k in self._order
        ]
        wanted = list(dict.fromkeys([*names, *(n for n, _ in keys), "id", "num"]))
        changed = fast.changed_rows(con, wanted)
        plain = all(
            name in listing.COLUMNS
            and not columns.COLUMNS[name].base_type.endswith("[]")  # lists: DuckDB sorts
            and not (
                snap.table.schema.field(name).type == pa.float64()
                and (snap.has_nan(name) or _any_nan(changed, name))
            )
            for name, _ in keys
        )
        if changed is None:
            rows = snap.table.select(wanted).take(pos)
        else:
            rows = pa.concat_tables(
                [overlay.decoded(snap.table.select(wanted).take(pos)), changed.select(wanted)]
            )
        if not plain:  # virtual fields, NaN: DuckDB sorts
            held = rows["num"].to_numpy()
            nums = con.execute(
                f"SELECT d.num FROM datasets d WHERE d.num IN (SELECT unnest(?)) "
                f"ORDER BY {self._order_sql()}",
                [held.tolist()],
            ).fetchnumpy()["num"]
            by_num = np.argsort(held, kind="stable")
            at = by_num[np.searchsorted(held, nums, sorter=by_num)]
            return rows.take(pa.array(at)).select(names)
        # one pass over the mapped file in file order, then sorted in memory
        sort_cols = {n: _decoded(rows[n]) for n, _ in [*keys, ("id", "")]}
        order = pc.sort_indices(
            pa.table(sort_cols),
            sort_keys=[(n, o, "at_end") for n, o in [*keys, ("id", "ascending")]],
        )
        return rows.take(order).select(names)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        return bool(self._query_rows("1", "AND d.id = ? LIMIT 1", [item]))

    def __getitem__(self, key: str) -> VoxcatReader:
        return self.entry(key).to_reader()

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        return super().__getattr__(item)

    def __dir__(self) -> Iterable[str]:
        names = object.__dir__(self)
        return sorted(names if len(self) > 1000 else [*names, *self])

    def _ipython_key_completions_(self) -> list[str]:
        return list(self)

    def keys(self) -> list[str]:
        """Dataset ids of the selection, in sort order."""
        return list(self)

    def entry(self, key: str) -> ReaderDescription:
        """The intake ``ReaderDescription`` of one dataset (``cat[key]`` reads through it)."""
        where, params = self._where()
        with self._connect() as con:
            cur = con.execute(
                f"SELECT {ROW_COLUMNS} FROM datasets d WHERE d.id = ? AND ({where})",
                [key, *params],
            )
            row = cur.fetchone()
            if row is None:
                raise self._not_found(con, key)
            record = dict(zip([c[0] for c in cur.description], row))
            files = [
                p
                for (p,) in con.execute(
                    "SELECT path FROM files WHERE dataset_id = ? ORDER BY position, path", [key]
                ).fetchall()
            ]
            tags = [
                t
                for (t,) in con.execute(
                    "SELECT tag FROM tags WHERE dataset_id = ? ORDER BY tag", [key]
                ).fetchall()
            ]
            notes = [
                {"text": t, "user": u, "time": tm.isoformat()}
                for t, u, tm in con.execute(
                    "SELECT text, user_name, time FROM notes WHERE dataset_id = ? ORDER BY time",
                    [key],
                ).fetchall()
            ]
            on_drive = drive_of(con, record.get("drive"))
            places = replicas.listing(con, key)
        # the primary path if it is there, else the first ok location (replicas.py)
        record, files = replicas.readable(record, files, places)
        extra = {"tags": tags, "notes": notes, "on_drive": on_drive, "locations": places}
        return make_entry(record, files, extra, self._index.parent)

    def _not_found(self, con: Connection, key: str) -> DatasetNotFound:
        seen, seen_params = self._visible(Everything()).sql()  # never name what is hidden
        exists = con.execute(
            f"SELECT name FROM datasets d WHERE d.id = ? AND ({seen})", [key, *seen_params]
        ).fetchone()
        if exists:
            return DatasetNotFound(
                f"dataset {key!r} ({exists[0]}) is in the index but not in this selection"
            )
        by_name = con.execute(
            f"SELECT id FROM datasets d WHERE lower(d.name) = lower(?) AND ({seen}) LIMIT 5",
            [key, *seen_params],
        ).fetchall()
        if by_name:
            ids = ", ".join(repr(i) for (i,) in by_name)
            return DatasetNotFound(f"{key!r} is a dataset name, not an id; its id: {ids}")
        close = difflib.get_close_matches(
            key,
            [
                i
                for (i,) in con.execute(
                    f"SELECT id FROM datasets d WHERE d.id LIKE ? AND ({seen})",
                    [key[:2] + "%", *seen_params],
                ).fetchall()
            ],
            n=3,
        )
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        return DatasetNotFound(f"no dataset with id {key!r} in {self._index}{hint}")

    # -- search -------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        *,
        sort_by: str | Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
        **filters: Any,
    ) -> DuckDBCatalog:
        """A new catalogue of the datasets that match; this one is unchanged.

        ``text``: case-insensitive words that must all occur somewhere in the name,
        paths, fields, tags, notes or any (nested) metadata value; ``"quoted phrases"``
        stay together; ``-word`` excludes.

        Each filter ``key=value`` names a column (``modality``, ``voxel_size``,
        ``acquired``, ``size``, ``sample``...), ``tags``, ``notes``, ``shape``
        (``"48x96x96"``), ``ndim``, or a nested metadata key (``meta={"ExposureTime": 1}``
        or ``**{"meta.ExposureTime": 1}``; a bare key found only in metadata works too;
        a dotted key also matches as the tail of a longer one). Values:

        - scalar: equal (text case-insensitively); ``None``: missing;
        - list: any of the values;
        - ``(lo, hi)`` tuple: inclusive range, ``None`` for an open end;
        - string with ``*`` or ``?``: a glob (``"sand*"``); nothing else is a pattern;
        - string starting with ``<``, ``<=``, ``>``, ``>=``, ``!=``: a comparison;
        - lengths accept units (``"<5um"``, ``("1 mm", None)``; bare numbers are metres),
          sizes accept ``"2 GB"``/``"1 GiB"``, times accept datetimes and ISO strings,
          where ``"2024"``, ``"2024-03"`` or ``"2024-03-05"`` mean that whole period.

        ``sort_by``: field name(s), ``-`` prefix for descending. Combine catalogues of
        one index with ``a | b`` (either), ``a & b`` (both), ``a - b`` (a but not b).

        >>> cat.search('"pore network" sandstone', modality=["CT", "MR"],
        ...            voxel_size=(None, "5um"), acquired=("2023", None))  # doctest: +SKIP
        """
        parts: list[Query] = []
        if text is not None:
            if not isinstance(text, str):
                raise QueryError(f"text must be a string of words, not {type(text).__name__}")
            terms = parse_text(check_query_text(text, count_words))
            if terms:
                parts.append(Text(terms))
        if meta is not None and not isinstance(meta, dict):
            raise QueryError(f"meta is a dict of metadata keys and values, not {meta!r:.40}")
        items = list(filters.items()) + [(f"meta.{k}", v) for k, v in (meta or {}).items()]
        if len(items) > MAX_FILTERS:
            raise QueryLimitError(f"{len(items)} filters in one search; at most {MAX_FILTERS}")
        for key, value in items:
            if count_values(value) > MAX_FILTER_VALUES:
                raise QueryLimitError(
                    f"{key}: {count_values(value):,} values; at most {MAX_FILTER_VALUES:,}"
                )
        if parts or items:
            with self._connect() as con:
                parts = [p.resolve(con, self._index) if isinstance(p, Text) else p for p in parts]
                for key, value in items:
                    target = resolve(key, con)
                    check_choice(target, value)
                    field = Field(target, value)
                    try:
                        field.sql()  # a bad value fails here, naming its field
                    except QueryLimitError as exc:
                        raise QueryLimitError(f"{key}: {exc}") from None
                    parts.append(field)
        order = self._check_order(sort_by) if sort_by is not None else None
        query = self._query if not parts else And((self._query, *parts))
        new = self._derive(query, order)
        new._where()  # compile now, so a bad value fails here and not on first use
        return new

    def _check_order(self, sort_by: str | Sequence[str]) -> tuple[str, ...]:
        keys = (sort_by,) if isinstance(sort_by, str) else tuple(sort_by)
        if len(keys) > MAX_FIELDS:
            raise QueryLimitError(f"sorting by {len(keys)} keys; at most {MAX_FIELDS}")
        for key in keys:
            if not isinstance(key, str):
                raise QueryError(f"sort_by takes field names, not {key!r:.40}")
            name = key.lstrip("-+")
            if name not in SORTABLE:
                close = difflib.get_close_matches(name, sorted(SORTABLE), n=4)
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                raise UnknownFieldError(f"cannot sort by {name!r}.{hint}")
        return keys

    def sort_by(self, *keys: str) -> DuckDBCatalog:
        """The same selection in another order (``"-size"`` for descending)."""
        return self._derive(self._query, self._check_order(keys))

    def head(self, n: int = 10) -> DuckDBCatalog:
        """The first ``n`` datasets in the current order, as a catalogue."""
        try:
            count = None if isinstance(n, bool) else operator.index(n)  # ints, numpy ints
        except TypeError:
            count = None
        if count is None or count < 0:
            raise QueryError(f"head(n) needs a whole number n >= 0, not {n!r:.40}")
        n = count
        check_number(n, "head(n)", integer=True)
        return self._derive(Limit(self._scoped(), self._order_sql(), n))

    def _combine(self, other: object, op: str) -> DuckDBCatalog:
        if not isinstance(other, DuckDBCatalog):
            return NotImplemented
        if other._index != self._index:
            raise CatalogMismatch(
                f"cannot combine catalogues of different indexes ({self._index} and "
                f"{other._index})"
            )
        if other._user != self._user:
            raise CatalogMismatch("cannot combine catalogues opened for different users")
        a, b = self._scoped(), other._scoped()
        query = {"|": Or((a, b)), "&": And((a, b)), "-": And((a, Not(b)))}[op]
        return type(self)(
            self._index, files=True, user=self._user, _query=query, _order=self._order
        )

    def _scoped(self) -> Query:
        query = self._visible(self._query)
        return query if self._files else And((query, Not(_files_query())))

    def __or__(self, other: object) -> DuckDBCatalog:
        return self._combine(other, "|")

    def __and__(self, other: object) -> DuckDBCatalog:
        return self._combine(other, "&")

    def __sub__(self, other: object) -> DuckDBCatalog:
        return self._combine(other, "-")

    # -- tables and facets --------------------------------------------------------------
    @property
    def df(self) -> pd.DataFrame:
        """The selection as a pandas DataFrame indexed by id (``path`` as a filesystem
        path that ``open()`` takes, undecodable file-name bytes included)."""
        with self._connect() as con:
            fast = self._listed(con)
            if fast is not None:
                rows = self._rows(fast, con, DF_NAMES)
                if fast.fresh():
                    return _frame(rows, self._index.parent)
            where, params = self._where()
            cols = DF_COLUMNS.replace("tags", "coalesce(d.tags, []) AS tags")
            sql = f"SELECT {cols} FROM datasets d WHERE {where} ORDER BY {self._order_sql()}"
            return _frame(con.sql(sql, params=params).to_arrow_table(), self._index.parent)

    def fields(self) -> list[str]:
        """Every field name ``search`` accepts (plus ``meta.<key>`` for metadata)."""
        return all_field_names()

    def meta_keys(self, limit: int = 1000) -> list[str]:
        """The most common nested metadata keys in the selection."""
        where, params = self._where()
        sql = (
            "SELECT key, count(*) FROM metadata WHERE dataset_id IN "
            f"(SELECT d.id FROM datasets d WHERE {where}) GROUP BY key ORDER BY 2 DESC, 1 LIMIT ?"
        )
        with self._connect() as con:
            return [k for k, _ in con.execute(sql, [*params, limit]).fetchall()]

    def _facet_source(self, t: Target) -> tuple[str, str, list[Any]]:
        """``(value expression, FROM clause, its parameters)`` for counting a field's
        values; a nested metadata key counts each dataset once per distinct value."""
        if t.kind == "meta":
            source = (
                "(SELECT DISTINCT dataset_id, value FROM metadata WHERE "
                f"{META_KEY_SQL}) x JOIN datasets d ON d.id = x.dataset_id"
            )
            return "x.value", source, meta_key_params(t.meta_key or "")
        if t.table is not None:
            source = f"{t.table} x JOIN datasets d ON d.id = x.dataset_id"
            return f"x.{RELATED[t.key][1]}", source, []
        if t.kind == TEXT_LIST:
            return f"unnest({t.sql})", "datasets d", []
        if t.kind == "lineage":
            raise QueryError(f"{t.key} is a filter, not a field with values to count")
        return t.sql, "datasets d", []

    def unique(self, field: str) -> list[Any]:
        """The distinct values of ``field`` in the selection, sorted (no ``None``)."""
        return list(self.facets(field, limit=None)[field])

    def stats(self, by: str) -> pd.DataFrame:
        """Datasets and bytes on disk in the selection, per group: a DataFrame with
        columns ``by``, ``datasets``, ``bytes`` (one SQL query).

        ``by`` is one of :data:`STATS_BY`: ``month`` (``YYYY-MM`` of ``acquired``, else
        of ``modified``, the newest file time, else of ``first_seen``; oldest first),
        ``modality``, ``project``, ``data_level`` or ``drive`` (the scan root the
        dataset was found under; most datasets first). Datasets without a value form
        one group whose value is ``None`` (last), so the groups add up to the selection.

        >>> cat.search(modality="CT").stats("month")               # doctest: +SKIP
             month  datasets      bytes
        0  2024-03        12   48230400
        1  2024-04         3    9830400
        """
        import pandas as pd

        if by not in STATS_BY:
            raise QueryError(f"stats by {by!r}: choose one of {', '.join(STATS_BY)}")
        where, params = self._where()
        expr = STATS_BY[by]
        order = "g" if by == "month" else "datasets DESC, g"
        sql = (
            f"SELECT {expr} AS g, count(*) AS datasets, coalesce(sum(d.size), 0) AS bytes "
            f"FROM datasets d WHERE {where} GROUP BY g ORDER BY g IS NULL, {order}"
        )
        with self._connect() as con:
            rows = con.execute(sql, params).fetchall()
        if by == "drive":
            rows = [(from_db(g) if g is not None else None, n, b) for g, n, b in rows]
        return pd.DataFrame(
            {
                by: pd.Series([r[0] for r in rows], dtype=object),
                "datasets": pd.Series([r[1] for r in rows], dtype="int64"),
                "bytes": pd.Series([r[2] for r in rows], dtype="int64"),
            }
        )

    def facets(self, *fields: str, limit: int | None = 50) -> dict[str, dict[Any, int]]:
        """``{field: {value: count}}`` for the selection, most common first.

        A field is any search field, or a nested metadata key (``"meta.variable"``, or
        the bare key when it is no field), whose values count as text.

        >>> cat.search(modality="CT").facets("format", "tags")    # doctest: +SKIP
        {'format': {'tiff': 120, 'slices': 31}, 'tags': {'porosity': 12}}
        >>> cat.facets("meta.variable_id")                       # doctest: +SKIP
        {'meta.variable_id': {'tas': 1402, 'pr': 980}}
        """
        out: dict[str, dict[Any, int]] = {}
        where, params = self._where()
        fields = fields or DEFAULT_FACETS
        if len(fields) > MAX_FIELDS:
            raise QueryLimitError(f"{len(fields)} fields to count; at most {MAX_FIELDS}")
        if not all(isinstance(f, str) for f in fields):
            raise QueryError(f"facets takes field names, not {fields!r:.60}")
        with self._connect() as con:
            targets = {field: resolve(field, con) for field in fields}
            # the selection is evaluated on the snapshot only if a field is counted there
            there = any(_counted_there(t) for t in targets.values())
            fast = self._listed(con) if there else None
            for field, target in targets.items():
                counted = _listed_counts(fast, target, limit, con)
                if counted is not None:
                    out[field] = counted
                    continue
                expr, source, source_params = self._facet_source(target)
                tail = "LIMIT ?" if limit is not None else ""
                sql = (
                    f"SELECT v, count(*) AS n FROM (SELECT {expr} AS v FROM {source} "
                    f"WHERE {where}) WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v {tail}"
                )
                extra = [limit] if limit is not None else []
                rows = con.execute(sql, [*source_params, *params, *extra]).fetchall()
                if target.kind == PATH:  # as open() takes them
                    rows = [(from_db(v), n) for v, n in rows]
                out[field] = dict(rows)
        if limit is None:
            out = {k: dict(sorted(v.items(), key=lambda kv: str(kv[0]))) for k, v in out.items()}
        return out

    def multiselect_facets(
        self,
        *fields: str,
        text: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = 50,
    ) -> dict[str, dict[Any, int]]:
        """Facet counts for a faceted search of this catalogue, where the values chosen
        for one field combine with OR: ``{field: {value: count}}`` in ``fields`` order
        (default: the usual facets).

        A field that ``filters`` constrains is counted over the search with its own
        filter left off (the text and the other filters still apply), so choosing
        ``CT`` does not hide ``MR``; every other field is counted over the full search.

        >>> cat.multiselect_facets("modality", "format", filters={"modality": "CT"})  # doctest: +SKIP
        {'modality': {'CT': 12, 'MR': 3}, 'format': {'tiff': 12}}
        """
        filters = dict(filters or {})
        fields = fields or DEFAULT_FACETS
        free = [f for f in fields if f not in filters]
        counts = self.search(text, **filters).facets(*free, limit=limit) if free else {}
        for field in fields:
            if field in filters:
                others = {k: v for k, v in filters.items() if k != field}
                counts[field] = self.search(text, **others).facets(field, limit=limit)[field]
        return {f: counts[f] for f in fields}

    def range(self, field: str) -> tuple[Any, Any]:
        """``(min, max)`` of a numeric, size, length or time field in the selection."""
        if not isinstance(field, str):
            raise QueryError(f"range takes a field name, not {field!r:.40}")
        t = resolve(field)
        if t.key not in COLUMNS and t.key not in VIRTUAL:
            raise QueryError(f"range() works on index columns, not {field!r}")
        where, params = self._where()
        with self._connect() as con:
            sql = f"SELECT min({t.sql}), max({t.sql}) FROM datasets d WHERE {where}"
            bounds = con.execute(sql, params).fetchone()
        assert bounds is not None  # an aggregate without GROUP BY returns exactly one row
        lo, hi = bounds
        if t.kind == PATH:
            lo, hi = (v if v is None else from_db(v) for v in (lo, hi))
        return lo, hi

    # -- annotations (recorded in the audit log) ----------------------------------------
    def tag(self, selection: str | Iterable[str] | DuckDBCatalog, *tags: str) -> int:
        """Add ``tags`` to one id, several ids or a whole selection; returns how many
        (dataset, tag) pairs were new.

        >>> cat.tag(cat.search(sample="S01"), "porosity", "paper-2025")   # doctest: +SKIP
        """
        self._require("curator", "tagging")
        with self._acting():
            return annotate.tag(self._index, self._ids_of(selection), tags)

    def untag(self, selection: str | Iterable[str] | DuckDBCatalog, *tags: str) -> int:
        """Remove ``tags``; returns how many (dataset, tag) pairs were removed."""
        self._require("curator", "removing tags")
        with self._acting():
            return annotate.untag(self._index, self._ids_of(selection), tags)

    def note(self, dataset_id: str, text: str) -> None:
        """Attach a free-text note to a dataset (notes are never edited, only added)."""
        self._require("curator", "adding a note")
        with self._acting():
            annotate.note(self._index, self._ids_of(dataset_id), text)

    def set(self, selection: str | Iterable[str] | DuckDBCatalog, **fields: Any) -> int:
        """Set user fields (sample, project, data_level, description, access, modality);
        rescans keep them. Returns how many datasets changed.

        >>> cat.set("k2x9q4m1abcd", sample="S01", data_level="segmentation")  # doctest: +SKIP
        """
        self._require("curator", "setting fields")
        if "access" in fields:
            self._require("admin", "setting access levels")
        with self._acting():
            return annotate.set_fields(self._index, self._ids_of(selection), fields)

    def _ids_of(self, selection: str | Iterable[str] | DuckDBCatalog) -> list[str]:
        if isinstance(selection, DuckDBCatalog):
            if selection._index != self._index:
                raise CatalogMismatch("the selection belongs to another index")
            return list(selection)
        ids = [selection] if isinstance(selection, str) else list(selection)
        if not ids:
            return []
        seen, seen_params = self._visible(Everything()).sql()
        with self._connect() as con:
            known = {
                i
                for (i,) in con.execute(
                    f"SELECT id FROM datasets d WHERE d.id IN (SELECT unnest(?)) AND ({seen})",
                    [ids, *seen_params],
                ).fetchall()
            }
            for i in ids:
                if i not in known:
                    raise self._not_found(con, i)
        return ids

    def visible(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` the index holds and the account may see, in order.

        >>> open_catalog("lab.duckdb", user="ada").visible(["k2x9q4m1abcd", "nope"])  # doctest: +SKIP
        ['k2x9q4m1abcd']
        """
        if not ids:
            return []
        seen, seen_params = self._visible(Everything()).sql()
        with self._connect() as con:
            found = {
                i
                for (i,) in con.execute(
                    f"SELECT id FROM datasets d WHERE d.id IN (SELECT unnest(?)) AND ({seen})",
                    [list(ids), *seen_params],
                ).fetchall()
            }
        return [i for i in ids if i in found]

    def thumbnails(self, ids: Iterable[str]) -> dict[str, Path | None]:
        """The cached thumbnail PNG of each of ``ids`` (any dataset of the index), in
        one query: ``{id: path}``, ``None`` where the scan drew none; ids the index
        does not hold are left out.

        >>> cat.thumbnails(cat.page(0, 24))                 # doctest: +SKIP
        {'k2x9q4m1abcd': PosixPath('/data/lab.voxcat/thumbnails/k2x9q4m1abcd.png'), ...}
        """
        wanted = [ids] if isinstance(ids, str) else list(ids)
        if not wanted:
            return {}
        seen, seen_params = self._visible(Everything()).sql()
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, thumbnail FROM datasets d WHERE d.id IN (SELECT unnest(?)) "
                f"AND ({seen})",
                [wanted, *seen_params],
            ).fetchall()
        cache = cache_dir(self._index)
        return {i: (cache / rel if rel else None) for i, rel in rows}

    # -- lineage ------------------------------------------------------------------------
    def relatives(self, dataset_id: str) -> list[dict[str, Any]]:
        """The direct parents and children of a dataset (any dataset of the index), one
        dict per lineage edge: ``relation`` (``"parent"`` or ``"child"``), ``id``,
        ``name`` (``None`` when that dataset has left the index), ``step``,
        ``params`` (JSON text), ``user_name`` and ``time``; parents first, each
        oldest first. ``lineage`` gives the whole graph.

        >>> [(r["relation"], r["name"], r["step"]) for r in cat.relatives(seg_id)]  # doctest: +SKIP
        [('parent', 'rock_rec.tif', 'threshold')]
        """
        from .lineage import relatives

        if self._access is None:
            return relatives(self._index, dataset_id)
        self._ids_of(dataset_id)  # DatasetNotFound for what the account may not see
        found = relatives(self._index, dataset_id)
        shown = set(self.visible([r["id"] for r in found]))
        return [r for r in found if r["id"] in shown]

    def save(
        self,
        obj: Any,
        *,
        name: str,
        parents: Sequence[str] = (),
        step: str | None = None,
        params: dict[str, Any] | None = None,
        level: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        """Write an xarray result as (OME-)Zarr next to the index, index it and record
        its lineage and provenance; returns the new dataset id. The result takes the
        modality, sample and project its parents agree on.

        >>> seg = (cat[raw_id].read() > 1200).astype("uint8")      # doctest: +SKIP
        >>> new = cat.save(seg, name="pores", parents=[raw_id], step="threshold",
        ...                params={"t": 1200}, level="segmentation")  # doctest: +SKIP
        """
        from .save import save

        self._require("curator", "saving results")
        if self._access is not None:
            self._ids_of(list(parents))
        with self._acting():
            return save(
                self,
                obj,
                name=name,
                parents=list(parents),
                step=step,
                params=params,
                level=level,
                description=description,
                tags=list(tags),
            )

    def link(
        self,
        child: str,
        parents: Sequence[str],
        *,
        step: str,
        params: dict[str, Any] | None = None,
    ) -> int:
        """Record that ``child`` was derived from ``parents`` outside Python (a
        segmentation made in another program); returns the number of new links.

        >>> cat.link(seg_id, parents=[rec_id], step="ilastik", params={"model": "v3"})  # doctest: +SKIP
        """
        from .lineage import link
        from .save import caller_context, package_versions

        self._require("curator", "linking datasets")
        if self._access is not None:  # the same message as for no such dataset
            self._ids_of([child, *parents])
        provenance = {"recorded_from": caller_context(), "versions": package_versions()}
        with self._acting():
            return link(
                self._index, child, parents, step=step, params=params, provenance=provenance
            )

    def lineage(self, dataset_id: str) -> Any:
        """Ancestors and descendants of a dataset: a graph that prints as a tree and
        draws itself in notebooks.

        >>> g = cat.lineage(seg_id); g.ancestors, g.edges       # doctest: +SKIP
        """
        from .lineage import lineage

        if self._access is None:
            return lineage(self._index, dataset_id)
        self._ids_of(dataset_id)
        graph = lineage(self._index, dataset_id)
        return graph.restricted_to(set(self.visible(list(graph.nodes))))

    def drives(self, *, check: bool = True) -> list[Any]:
        """The drives of the index (:func:`catalog.drives.list_drives`): label, mount
        point or offline, datasets, bytes, last seen and verified, datasets only there.
        ``check`` first looks which are mounted (datasets of unplugged ones go offline).

        >>> [(d.name, d.where, d.only_here) for d in cat.drives()]   # doctest: +SKIP
        [('WD-2019', 'offline', 12)]
        """
        from ..drives import list_drives

        return list_drives(self._index, check=check)

    def locations(self, dataset_id: str) -> list[dict[str, Any]]:
        """Every place the dataset's content is known at (:mod:`catalog.replicas`), the
        primary one first: ``path``, ``drive`` (its label), ``status`` (``ok``,
        ``offline`` or ``missing``), ``primary``, ``first_seen``, ``last_seen``,
        ``last_verified``. Raises ``DatasetNotFound`` for an id not in the selection.

        >>> [(p["drive"], p["status"]) for p in cat.locations("k2x9q4m1abcd")]  # doctest: +SKIP
        [('WD-2019', 'offline'), ('WD-2024', 'ok')]
        """
        return list(self.entry(dataset_id).metadata["locations"])

    def verify(
        self,
        *,
        jobs: int | None = None,
        progress: ProgressArg = None,
        scheduler: str | None = None,
        cancel: CancelFlag | None = None,
    ) -> Any:
        """Re-hash the selection's files against the index (see :func:`catalog.verify`:
        ``progress`` a bar or a callable, ``cancel`` an event that stops it before
        anything is recorded), on the Dask cluster at ``scheduler`` (or
        ``$VOXCAT_DASK_SCHEDULER``) if given.

        >>> cat.search(project="rocks").verify().counts     # doctest: +SKIP
        """
        from ..integrity import verify

        self._require("curator", "verifying files")
        with self._acting():
            return verify(
                self._index,
                self,
                jobs=jobs,
                progress=progress,
                scheduler=scheduler,
                cancel=cancel,
            )

    def risk(
        self,
        copies: int | None = 2,
        *,
        unverified_days: float | str | None = None,
        drive_age: float | str | None = None,
    ) -> Any:
        """The datasets of the selection at risk: fewer than ``copies`` verified copies,
        a copy not verified for ``unverified_days`` (``90``, ``"6mo"``), or copies only
        on drives at least ``drive_age`` old (``"5y"``); a
        :class:`~catalog.risk.RiskReport` with ``datasets`` (a DataFrame with the
        reasons), ``by_project`` and ``by_drive`` (bytes at risk). The same tests as
        search fields: ``verified_copies``, ``unverified_days``, ``drive_age``.

        >>> cat.risk(copies=2, unverified_days=90, drive_age="5y").by_drive  # doctest: +SKIP
        """
        from ..risk import risk

        with self._acting():
            return risk(
                self._index,
                self,
                copies=copies,
                unverified_days=unverified_days,
                drive_age=drive_age,
            )

    def policy_check(self) -> Any:
        """The datasets of the selection that break their data level's copy policy
        (:mod:`catalog.policies`; ``voxcat policy set raw --copies 2 --offsite 1``): a
        :class:`~catalog.policies.PolicyReport` (``ok``, ``violations``: dataset,
        data level, rule, have, need, bytes).

        >>> [(v.id, v.rule) for v in cat.policy_check().violations]  # doctest: +SKIP
        [('k2x9q4m1abcd', 'offsite')]
        """
        from ..policies import policy_check

        with self._acting():
            return policy_check(self._index, self)

    # -- presentation -------------------------------------------------------------------
    def __repr__(self) -> str:
        sql, _ = self._query.sql()
        scope = "all datasets" if sql == "TRUE" else "a selection"
        return f"<voxcat catalogue: {len(self)} datasets ({scope}) of {self._index}>"

    def _repr_html_(self) -> str:
        from .html import catalogue_html

        return catalogue_html(self)

    def materialize(self, limit: int | None = 10_000) -> Catalog:
        """A plain intake ``Catalog`` holding the selection's entries (for YAML export)."""
        n = len(self)
        if limit is not None and n > limit:
            raise QueryError(
                f"the selection has {n} datasets; narrow it or pass limit=None to build them all"
            )
        cat = Catalog(metadata={"source_index": str(self._index)})
        for key in self:
            cat.add_entry(self.entry(key), name=key)
            cat.aliases[key] = key  # add_entry sets no alias when name == token (intake#814)
        return cat

    def to_dict(self) -> dict:
        return self.materialize().to_dict()

    def export(
        self,
        dest: str | os.PathLike[str],
        mode: str = "copy",
        *,
        include_ancestors: bool = False,
        allow_restricted: bool = False,
        progress: ProgressArg = None,
        license: str | None = None,
        deep_verify: bool = False,
        skip_unreadable: bool = False,
        organization: str | None = None,
        cancel: CancelFlag | None = None,
        scheduler: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> Any:
        """Write the selection as a self-contained folder that opens without voxcat
        (see :func:`catalog.export.export_catalog`); returns an ``ExportReport``.
        ``dest`` may be a URL in object storage (``s3://bucket/prefix``) with
        ``storage_options`` (``endpoint_url``...; credentials are never written).
        ``deep_verify=True`` re-reads every written file from the device;
        ``skip_unreadable=True`` exports the rest when some datasets cannot be read;
        ``progress`` and ``cancel`` are those of :mod:`catalog.progress`; ``scheduler``
        converts (``mode="zarr"``) on that Dask cluster (default ``$VOXCAT_DASK_SCHEDULER``).

        >>> cat.search(project="rocks").export("/media/usb/rocks", mode="zarr")  # doctest: +SKIP
        >>> cat.search(project="rocks").export("s3://lab-share/rocks", mode="zarr",
        ...     storage_options={"endpoint_url": "https://s3.example.org"})  # doctest: +SKIP
        """
        from ..export import export_catalog

        self._require("curator", "exporting")
        with self._acting():
            return export_catalog(
                self,
                dest,
                mode=mode,
                include_ancestors=include_ancestors,
                allow_restricted=allow_restricted,
                progress=progress,
                license=license,
                deep_verify=deep_verify,
                skip_unreadable=skip_unreadable,
                organization=organization,
                cancel=cancel,
                scheduler=scheduler,
                storage_options=storage_options,
            )

    def migrate(
        self,
        to: str | os.PathLike[str],
        ids: Iterable[str] | None = None,
        *,
        project: str | None = None,
        where: str | dict[str, Any] | None = None,
        convert: str | None = None,
        dry_run: bool = False,
        retire_source: bool = False,
        min_copies: int = 2,
        deep_verify: bool = True,
        progress: ProgressArg = None,
        cancel: CancelFlag | None = None,
    ) -> Any:
        """Copy the selection into the folder ``to`` as verified replicas (same ids),
        resumably; ``convert="ome-zarr"`` records derived OME-Zarr datasets instead,
        ``retire_source=True`` deletes sources that keep ``min_copies`` verified copies
        (see :func:`catalog.migration.migrate`); returns a ``MigrationReport``.

        >>> cat.search(project="rocks").migrate("/srv/lab-data", dry_run=True)  # doctest: +SKIP
        >>> cat.migrate("/srv/lab-data", project="rocks", retire_source=True)  # doctest: +SKIP
        """
        from ..migration import migrate

        self._require("admin" if retire_source else "curator", "migrating")
        with self._acting():
            return migrate(
                self, to, ids, project=project, where=where, convert=convert,
                dry_run=dry_run, retire_source=retire_source, min_copies=min_copies,
                deep_verify=deep_verify, progress=progress, cancel=cancel,
            )  # fmt: skip


@functools.cache
def _nullable() -> dict:
    """Arrow integer types -> pandas nullable integer dtypes (one dtype per column,
    whether or not this selection has NULLs in it)."""
    import pandas as pd
    import pyarrow as pa

    return {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}


def _counted_there(t: Target) -> bool:
    """Whether the snapshot counts this field's values (a dictionary column)."""
    return t.key in listing.DICTIONARY and t.sql == f"d.{t.key}"


def _listed_counts(
    fast: _Fast | None, t: Target, limit: int | None, con: Connection
) -> dict[Any, int] | None:
    """Value counts of a dictionary column of the snapshot (and of the rows changed
    since it was built), ordered as the SQL facets (most common first, then by value);
    ``None`` when DuckDB must count."""
    if fast is None:
        return None
    snap, pos = fast.snap, fast.pos
    if not _counted_there(t) or not fast.fresh():
        return None
    values = snap.values(t.key)
    if len(pos) == snap.rows:  # the whole snapshot
        counts = snap.frequencies(t.key)
    else:
        counts = np.bincount(snap.codes(t.key)[pos], minlength=len(values))
    present = [i for i in np.flatnonzero(counts).tolist() if values[i] is not None]
    changed = fast.changed_rows(con, [t.key])
    if changed is not None:  # every count, then cut
        merged = {values[i]: int(counts[i]) for i in present}
        for item in changed[t.key].value_counts().to_pylist():
            v, n = item["values"], item["counts"]
            if v is not None:
                merged[v] = merged.get(v, 0) + int(n)
        pairs = sorted(merged.items(), key=lambda vn: (-vn[1], vn[0]))
        return dict(pairs if limit is None else pairs[:limit])
    if limit is not None and len(present) > limit:  # only the codes that can make it
        kept = counts[present]
        floor = np.partition(kept, len(kept) - limit)[len(kept) - limit]
        present = [i for i, n in zip(present, kept.tolist(), strict=True) if n >= floor]
    pairs = sorted(((values[i], int(counts[i])) for i in present), key=lambda vn: (-vn[1], vn[0]))
    return dict(pairs if limit is None else pairs[:limit])


class _Fast:
    """A selection answered on the snapshot: ``pos`` (sorted positions of its
    unchanged rows there) and ``nums`` (sorted ``num`` of its rows changed since the
    snapshot was built, whose columns DuckDB gives), valid while the index stays at
    ``stamp``."""

    def __init__(
        self, snap: listing.Listing, pos: np.ndarray, nums: np.ndarray, stamp: tuple
    ) -> None:
        self.snap, self.pos, self.nums, self.stamp = snap, pos, nums, stamp
        #: the overlay's listing of the changed rows (``nums`` are among them)
        self.changed: listing.Listing | None = None

    @classmethod
    def of(
        cls, snap: listing.Listing, ov: overlay.Overlay | None, query: Query, con: Connection
    ) -> _Fast:
        """``query`` evaluated on the snapshot, and on DuckDB for the changed rows."""
        pos = evaluate(snap, query, con, strict=ov is None)
        if ov is None:
            return cls(snap, pos, np.empty(0, np.int64), snap.stamp)
        if len(ov.stale):
            pos = np.setdiff1d(pos, ov.stale, assume_unique=True)
        nums = np.empty(0, np.int64)
        if len(ov.nums):  # the changed rows, evaluated as the snapshot's
            now = ov.listing
            nums = now.num[evaluate(now, query, con, strict=False)]
        fast = cls(snap, pos, nums, ov.stamp)
        fast.changed = ov.listing
        return fast

    def __len__(self) -> int:
        return len(self.pos) + len(self.nums)

    def fresh(self) -> bool:
        """Whether the index is still in the state this answer is for."""
        return _stamp(self.snap.source) == self.stamp

    def narrowed(self, nums: np.ndarray) -> _Fast:
        """The rows ``nums`` of this selection (a window of it)."""
        changed = np.isin(nums, self.nums)
        pos = np.sort(self.snap.locate(nums[~changed]))
        out = _Fast(self.snap, pos, np.sort(nums[changed]), self.stamp)
        out.changed = self.changed
        return out

    def changed_rows(self, con: Connection, names: list[str]) -> Any:
        """The columns ``names`` of the changed rows (as they are now, in ``num``
        order, nothing dictionary-encoded), or ``None`` when there are none."""
        if not len(self.nums) or self.changed is None:
            return None
        now = self.changed
        return overlay.decoded(now.table.select(names).take(now.positions(self.nums)))


def _any_nan(table: Any, name: str) -> bool:
    """Whether the float column ``name`` of ``table`` (``None``: no table) holds NaN."""
    import pyarrow.compute as pc

    if table is None or name not in table.column_names:
        return False
    return bool(pc.any(pc.is_nan(table[name])).as_py())


def _decoded(col: Any) -> Any:
    import pyarrow as pa

    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def _frame(table: Any, base: Path) -> pd.DataFrame:
    """``cat.df`` from the Arrow rows of either path: integer columns as nullable
    pandas integers, paths as filesystem paths (``open()`` takes them; relative ones,
    of an export's index, resolved against ``base``, the index's folder), indexed by id."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..paths import relative_positions, resolve_stored

    table = pa.table([_decoded(c) for c in table.columns], names=table.column_names)
    frame = table.to_pandas(types_mapper=_nullable().get)
    stored = table["path"]
    odd = np.flatnonzero(
        pc.match_substring_regex(stored, r"[\x{F77F}-\x{F7FF}]").to_numpy(zero_copy_only=False)
    )
    relative = relative_positions(stored)
    if len(odd) or len(relative):
        # names that are not UTF-8 on disk (stored with private-use characters) become
        # Python strings with surrogate escapes, which an Arrow-backed string column
        # cannot hold, so the column becomes one of objects
        paths = frame["path"].astype(object)
        for i in odd:
            paths.iat[i] = from_db(stored[int(i)].as_py())
        for i in relative:  # an export's index: paths relative to its folder
            paths.iat[i] = resolve_stored(stored[int(i)].as_py(), base)
        frame["path"] = paths
    return frame.set_index("id")


def _upgrade_if_old(path: Path) -> None:
    """Migrate an index written by an older voxcat (one short write, the first time).
    A file found current is not asked again until it changes (a server opens a
    catalogue per request)."""
    stamp = _stamp(path)
    if stamp is not None and _CURRENT.get(path) == stamp:
        return
    with connect(path, read_only=True) as con:
        row = con.execute("SELECT value FROM settings WHERE key = 'schema_version'").fetchone()
    if row is None or int(row[0]) < SCHEMA_VERSION:
        with connect(path):  # opening read-write runs the migrations
            pass
    elif stamp is not None:
        _CURRENT[path] = stamp


#: the stamp (see ``readcache``) of each index file when found at the present schema
_CURRENT: dict[Path, tuple] = {}


def _whole(n: Any, what: str) -> int:
    """``n`` as a whole number >= 0 (ints and numpy ints, not bools), else
    :class:`QueryError` naming ``what`` (the caller checks the range)."""
    try:
        count = None if isinstance(n, bool) else operator.index(n)
    except TypeError:
        count = None
    if count is None or count < 0:
        raise QueryError(f"{what} needs whole numbers >= 0, not {n!r:.40}")
    return count


def _files_query() -> Query:
    return Field(resolve("kind"), "file")


def open_catalog(
    index: str | os.PathLike[str] | None = None,
    *,
    files: bool = False,
    user: User | str | None = None,
    token: str | None = None,
    **_: Any,
) -> Any:
    """Open a voxcat index as a lazy intake catalogue (milliseconds, at any size).

    ``files=True`` also lists the non-image files a scan recorded. The default index is
    ``$VOXCAT_INDEX``, else ``./voxcat.duckdb``. ``user`` (an account of the index, or
    its name) opens it as that account sees it: only datasets its access levels admit,
    changes only as its role allows, audited under its name. An ``http(s)://`` URL of a
    ``voxcat serve`` (with ``token=``) opens the lab's catalogue over HTTP
    (:func:`catalog.client.open_remote`). Also ``intake.open_catalog(path,
    driver="voxcat")``.

    >>> cat = open_catalog("lab.duckdb")                 # doctest: +SKIP
    >>> len(cat), cat.facets("modality")                 # doctest: +SKIP
    >>> viewer = open_catalog("lab.duckdb", user="ada")  # doctest: +SKIP
    """
    if isinstance(index, str) and index.lower().startswith(("http://", "https://")):
        from ..client import open_remote  # type: ignore[import-not-found,unused-ignore]

        return open_remote(index, token=token)
    return DuckDBCatalog(index, files=files, user=user)
