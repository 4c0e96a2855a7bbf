"""``RemoteCatalog``: the catalogue a voxcat server holds, used from a notebook over HTTP
with the API of the local :class:`~catalog.catalogue.DuckDBCatalog`.

A remote catalogue is a URL, a token and a selection (text, filters, order, window).
``search``, ``sort_by``, ``head``, ``page`` and ``window`` only make a new selection;
requests go out when an answer is needed (``len``, iteration, ``in``, ``df``,
``facets``, ``cat[id]``), each one short and paged, so the server's answers are as
fresh as the index.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from intake.readers.entry import Catalog, ReaderDescription

from ..catalogue.entries import LazyAliases, LazyEntries
from ..catalogue.html import NAME_CHARS
from ..drives import Drive
from ..errors import (
    CatalogMismatch,
    DatasetNotFound,
    QueryError,
    QueryLimitError,
    RemoteError,
    ServiceError,
)
from ..formatting import name_html
from ..inputs import MAX_FIELDS, MAX_FILTER_VALUES, MAX_FILTERS
from ..querytext import encode
from ..service.paths import ID_PATTERN
from . import convert
from .reader import RemoteDatasetReader, remote_entry
from .transport import DEFAULT_TIMEOUT, Server

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..catalogue.lineage import Lineage

#: rows per ``search`` request (the server's largest page)
PAGE = 1000
#: facets the HTML view shows
_HTML_FACETS = ("modality", "format", "data_level", "tags")
_HTML_CARDS = 8


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a remote catalogue selects, as the REST query string says it: text,
    filters (each field once, its value in the :mod:`catalog.querytext` form), sort
    keys, whether non-image files count, and a window of the result."""

    text: str | None = None
    filters: tuple[tuple[str, str], ...] = ()
    sort: tuple[str, ...] = ()
    files: bool = False
    offset: int = 0
    limit: int | None = None

    @property
    def windowed(self) -> bool:
        return self.offset > 0 or self.limit is not None

    @property
    def everything(self) -> bool:
        return self.text is None and not self.filters and not self.windowed

    def params(self, *, drop: Iterable[str] = ()) -> list[tuple[str, str]]:
        """The query string of the selection (without its window); ``drop``: filters
        to leave out."""
        dropped = set(drop)
        out = [("q", self.text)] if self.text else []
        out += [(k, v) for k, v in self.filters if k not in dropped]
        if self.sort:
            out.append(("sort", ",".join(self.sort)))
        if self.files:
            out.append(("files", "true"))
        return out


class RemoteCatalog(Catalog):
    """A catalogue held by a voxcat server (``voxcat serve`` or a Jupyter server with
    the voxcat extension), with the local catalogue's API; see :func:`open_remote`.

    >>> cat = open_remote("http://lab-server:8000", token="vxc_...")   # doctest: +SKIP
    >>> ct = cat.search("sandstone", modality="CT", voxel_size="<5um")  # doctest: +SKIP
    >>> ct.df.head(); ct.facets("format")                              # doctest: +SKIP
    >>> da = ct[next(iter(ct))].read()   # from the shared file system  # doctest: +SKIP
    """

    def __init__(
        self,
        server: Server,
        *,
        paths: Mapping[str, str] | None = None,
        _selection: Selection | None = None,
    ) -> None:
        super().__init__(metadata={"server": server.api, "index": server.info.get("index")})
        self._server = server
        self._paths = dict(paths or {})
        self._sel = _selection or Selection()
        self.entries = LazyEntries(self)
        self.aliases = LazyAliases(self)

    # -- what it is ---------------------------------------------------------------------
    @property
    def server(self) -> Server:
        """The server's REST API (its base URL is ``cat.server.api``)."""
        return self._server

    @property
    def url(self) -> str:
        """The base URL of the server's REST API."""
        return self._server.api

    @property
    def user(self) -> Any:
        """The account the server says the token belongs to (its ``info``), or
        ``None`` when it does not say (a Jupyter server)."""
        return self._server.info.get("user")

    @property
    def selection(self) -> Selection:
        """The selection, as the query string sends it."""
        return self._sel

    def _derive(self, **changes: Any) -> RemoteCatalog:
        sel = dataclasses.replace(self._sel, **changes)
        return type(self)(self._server, paths=self._paths, _selection=sel)

    def _token(self) -> str:  # intake would hash every attribute (all entries)
        text = f"{self._server.api}|{self._sel!r}|{sorted(self._paths.items())}"
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        """Same server, same selection, same path mapping."""
        if not isinstance(other, RemoteCatalog):
            return NotImplemented
        return self.token == other.token

    def __hash__(self) -> int:
        return int(self.token, 16)

    def _index_name(self) -> str:
        return str(self._server.info.get("index") or self._server.api)

    # -- narrowing (no request) ---------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        *,
        sort_by: str | Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
        **filters: Any,
    ) -> RemoteCatalog:
        """A new remote catalogue of the datasets that match; nothing is requested
        until an answer is needed, and the server checks fields and values then.

        Same arguments and meaning as :meth:`DuckDBCatalog.search
        <catalog.catalogue.DuckDBCatalog.search>`; values travel as the REST query
        string writes them (:mod:`catalog.querytext`), so ``None`` (missing) has no
        remote form, and each field is filtered once along a chain of searches (give
        all its values in one list).

        >>> cat.search("sandstone", modality=["CT", "MR"], voxel_size=(None, "5um"))  # doctest: +SKIP
        """
        base = self._frozen() if self._sel.windowed else self
        sel = base._sel
        new_text = sel.text
        if text is not None:
            if not isinstance(text, str):
                raise QueryError(f"text must be a string of words, not {type(text).__name__}")
            if text.strip():
                new_text = f"{sel.text} {text}" if sel.text else text
        if meta is not None and not isinstance(meta, dict):
            raise QueryError(f"meta is a dict of metadata keys and values, not {meta!r:.40}")
        items = list(filters.items()) + [(f"meta.{k}", v) for k, v in (meta or {}).items()]
        known = dict(sel.filters)
        for key, value in items:
            if not isinstance(key, str) or not key:
                raise QueryError(f"filter names are non-empty text, not {key!r:.40}")
            if key in known:
                raise QueryError(
                    f"{key} is filtered already in this remote selection; a server reads each "
                    f"field once, so give all its values in one search ({key}=[...])"
                )
            known[key] = encode_filter(key, value)
        if len(known) > MAX_FILTERS:
            raise QueryLimitError(f"{len(known)} filters in one search; at most {MAX_FILTERS}")
        order = sel.sort if sort_by is None else _sort_keys(sort_by)
        return base._derive(text=new_text, filters=tuple(known.items()), sort=order)

    def sort_by(self, *keys: str) -> RemoteCatalog:
        """The same selection in another order (``"-size"`` for descending)."""
        base = self._frozen() if self._sel.windowed else self
        return base._derive(sort=_sort_keys(keys))

    def window(self, offset: int, limit: int) -> RemoteCatalog:
        """The ``limit`` datasets after the first ``offset`` in the current order.

        >>> cat.search(modality="CT").window(48, 24).df     # doctest: +SKIP
        """
        offset = _whole(offset, "window(offset, limit)")
        limit = _whole(limit, "window(offset, limit)")
        sel = self._sel
        if sel.limit is not None:
            limit = max(0, min(limit, sel.limit - offset))
        return self._derive(offset=sel.offset + offset, limit=limit)

    def page(self, number: int, size: int = 50) -> RemoteCatalog:
        """Page ``number`` (from 0) of ``size`` datasets in the current order.

        >>> cat.page(2, 24).df                              # doctest: +SKIP
        """
        number = _whole(number, "page(number, size)")
        size = _whole(size, "page(number, size)")
        return self.window(number * size, size)

    def head(self, n: int = 10) -> RemoteCatalog:
        """The first ``n`` datasets in the current order."""
        return self.window(0, _whole(n, "head(n)"))

    def _frozen(self) -> RemoteCatalog:
        """A windowed selection as the list of its ids (one paged request), so that a
        further search or sort applies within the window, as locally."""
        ids = list(self)
        if len(ids) > MAX_FILTER_VALUES:
            raise QueryLimitError(
                f"a window of {len(ids):,} datasets cannot be searched further on a server "
                f"(at most {MAX_FILTER_VALUES:,}); search first, then take the window"
            )
        filters = tuple((k, v) for k, v in self._sel.filters if k != "id")
        id_value = encode(ids) if ids else encode(["no-such-dataset-id"])
        return self._derive(filters=(*filters, ("id", id_value)), offset=0, limit=None)

    # -- requests -----------------------------------------------------------------------
    def _search(self, offset: int, limit: int, extra: Sequence[tuple[str, str]] = ()) -> Any:
        params = [*self._sel.params(), *extra, ("offset", str(offset)), ("limit", str(limit))]
        return self._server.get("search", params)

    def _rows(self) -> list[dict[str, Any]]:
        """The selection's rows in order (window applied), one page of :data:`PAGE`
        rows a request (pages in parallel measured slower: the server's work is
        CPU-bound); a dataset seen twice (the index changed between pages) counts once."""
        start, remaining = self._sel.offset, self._sel.limit
        rows: list[dict[str, Any]] = []
        while remaining is None or remaining > 0:
            n = PAGE if remaining is None else min(PAGE, remaining)
            page = self._search(start, n)["rows"]
            rows.extend(page)
            if len(page) < n:
                break
            start += len(page)
            remaining = None if remaining is None else remaining - len(page)
        unique: dict[str, dict[str, Any]] = {}
        for r in rows:
            unique.setdefault(r["id"], r)
        return list(unique.values())

    def __len__(self) -> int:
        total = int(self._search(0, 1)["total"])
        sel = self._sel
        left = max(0, total - sel.offset)
        return left if sel.limit is None else min(sel.limit, left)

    def __iter__(self) -> Iterator[str]:
        return iter([row["id"] for row in self._rows()])

    def keys(self) -> list[str]:
        """Dataset ids of the selection, in sort order."""
        return list(self)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str) or not ID_PATTERN.fullmatch(item):
            return False
        if self._sel.windowed or "id" in dict(self._sel.filters):
            return item in set(self)
        return int(self._search(0, 1, [("id", encode(item))])["total"]) > 0

    def __getitem__(self, key: str) -> RemoteDatasetReader:
        return self.entry(key).to_reader()

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_") or not ID_PATTERN.fullmatch(item):
            raise AttributeError(item)
        return super().__getattr__(item)

    def __dir__(self) -> Iterable[str]:
        return sorted(object.__dir__(self))

    def _ipython_key_completions_(self) -> list[str]:
        return list(self.head(1000))

    def record(self, key: str) -> dict[str, Any]:
        """The server's record of a dataset (any dataset of the index the account may
        see): row, tags, notes, lineage graph and image URLs, as JSON."""
        if not isinstance(key, str) or not ID_PATTERN.fullmatch(key):
            raise self._not_an_id(key)
        return self._server.get(f"datasets/{key}")

    def _not_an_id(self, key: object) -> DatasetNotFound:
        """The local catalogue's error for a key that cannot be an id: a dataset's
        name gets its id named (one search by name)."""
        if isinstance(key, str) and key and not set(key) & set("*?"):
            params = [("name", encode(key)), ("files", "true"), ("limit", "5")]
            ids = [r["id"] for r in self._server.get("search", params)["rows"]]
            if ids:
                named = ", ".join(repr(i) for i in ids)
                return DatasetNotFound(f"{key!r} is a dataset name, not an id; its id: {named}")
        return DatasetNotFound(f"no dataset with id {str(key)[:40]!r} in {self._index_name()}")

    def entry(self, key: str) -> ReaderDescription:
        """The intake ``ReaderDescription`` of one dataset: ``metadata`` is its index
        row, tags and notes; ``cat[key]`` reads through it.

        >>> cat.entry("k2x9q4m1abcd").metadata["voxel_size"]   # doctest: +SKIP
        """
        record = self.record(key)
        in_selection = (
            (self._sel.files or record.get("kind") != "file")
            if self._sel.everything
            else key in self
        )
        if not in_selection:
            raise DatasetNotFound(
                f"dataset {key!r} ({record.get('name')}) is in the index but not in this selection"
            )
        meta = convert.metadata(record)
        for image in ("thumbnail", "slice"):
            if meta.get(image):
                meta[image] = self._server.absolute(meta[image])
        return remote_entry(meta, self._server.api, self._paths)

    # -- tables and facets --------------------------------------------------------------
    @property
    def df(self) -> pd.DataFrame:
        """The selection as a pandas DataFrame indexed by id, in pages of 1,000 rows:
        the columns of ``cat.df`` that the server's search rows hold (name, format,
        modality, shape, dtype, voxel size, size, data level, sample, project,
        acquired, status, tags), with the local dtypes."""
        return convert.frame(self._rows())

    def fields(self) -> list[str]:
        """Every field name the server's ``search`` accepts."""
        return list(self._server.info.get("fields") or [])

    def _facets(
        self,
        sel: Selection,
        drop: Iterable[str],
        fields: Sequence[str],
        limit: int | None,
        **more: str,
    ) -> dict[str, Any]:
        params = [
            *sel.params(drop=drop),
            ("fields", ",".join(fields)),
            ("limit", str(PAGE if limit is None else limit)),
            ("multiselect", "false"),
            *more.items(),
        ]
        answer = self._server.get("facets", params)
        filtered = {k for k, _ in sel.filters} - set(drop)
        if answer.get("multiselect") is not False and filtered & set(fields):
            raise RemoteError(
                f"the server at {self._server.api} counts facets of filtered fields only as a "
                "search panel does (multiselect); update voxcat on the server"
            )
        return answer

    def facets(self, *fields: str, limit: int | None = 50) -> dict[str, dict[Any, int]]:
        """``{field: {value: count}}`` for the selection, most common first (one
        request); ``limit=None`` gives up to 1,000 values per field, sorted by value.

        >>> cat.search(modality="CT").facets("format", "tags")    # doctest: +SKIP
        {'format': {'tiff': 120, 'slices': 31}, 'tags': {'porosity': 12}}
        """
        if len(fields) > MAX_FIELDS:
            raise QueryLimitError(f"{len(fields)} fields to count; at most {MAX_FIELDS}")
        if not all(isinstance(f, str) for f in fields):
            raise QueryError(f"facets takes field names, not {fields!r:.60}")
        base = self._frozen() if self._sel.windowed else self
        answer = base._facets(base._sel, (), fields, limit)
        out = {
            field: {_facet_value(field, c["value"]): int(c["count"]) for c in counts}
            for field, counts in answer["facets"].items()
        }
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
        for one field combine with OR (as :meth:`DuckDBCatalog.multiselect_facets
        <catalog.catalogue.DuckDBCatalog.multiselect_facets>`): a field ``filters``
        constrains is counted with its own filter left off.

        >>> cat.multiselect_facets("modality", "format", filters={"modality": "CT"})  # doctest: +SKIP
        {'modality': {'CT': 12, 'MR': 3}, 'format': {'tiff': 12}}
        """
        filters = dict(filters or {})
        fields = fields or tuple(self._default_facets())
        free = [f for f in fields if f not in filters]
        counts = self.search(text, **filters).facets(*free, limit=limit) if free else {}
        for field in fields:
            if field in filters:
                others = {k: v for k, v in filters.items() if k != field}
                counts[field] = self.search(text, **others).facets(field, limit=limit)[field]
        return {f: counts[f] for f in fields}

    def _default_facets(self) -> list[str]:
        described = self._server.info.get("columns") or []
        chosen = [c for c in described if c.get("facet") is not None]
        return [c["name"] for c in sorted(chosen, key=lambda c: c["facet"])]

    def unique(self, field: str) -> list[Any]:
        """The distinct values of ``field`` in the selection, sorted (no ``None``)."""
        return list(self.facets(field, limit=None)[field])

    def range(self, field: str) -> tuple[Any, Any]:
        """``(min, max)`` of a numeric, size, length or time field in the selection."""
        if not isinstance(field, str):
            raise QueryError(f"range takes a field name, not {field!r:.40}")
        base = self._frozen() if self._sel.windowed else self
        answer = base._facets(base._sel, (), ["status"], 1, ranges=field)
        lo, hi = answer["ranges"][field]
        return _facet_value(field, lo), _facet_value(field, hi)

    # -- annotations (audited on the server under the account's name) -------------------
    def tag(self, selection: str | Iterable[str] | RemoteCatalog, *tags: str) -> int:
        """Add ``tags`` to one id, several ids or a whole remote selection (one request
        per dataset); returns how many (dataset, tag) pairs were new. Needs a role that
        may annotate (else :class:`~catalog.errors.Forbidden`).

        >>> cat.tag(cat.search(sample="S01"), "porosity", "paper-2025")   # doctest: +SKIP
        """
        if not tags:
            return 0
        return sum(
            int(self._server.post(f"datasets/{i}/tags", {"tags": list(tags)})["added"])
            for i in self._ids_of(selection)
        )

    def untag(self, selection: str | Iterable[str] | RemoteCatalog, *tags: str) -> int:
        """Remove ``tags``; returns how many (dataset, tag) pairs were removed."""
        if not tags:
            return 0
        return sum(
            int(self._server.delete(f"datasets/{i}/tags", [("tag", t) for t in tags])["removed"])
            for i in self._ids_of(selection)
        )

    def note(self, dataset_id: str, text: str) -> None:
        """Attach a free-text note to a dataset (notes are never edited, only added)."""
        for i in self._ids_of(dataset_id):
            self._server.post(f"datasets/{i}/notes", {"text": text})

    def _ids_of(self, selection: str | Iterable[str] | RemoteCatalog) -> list[str]:
        """The ids a selection names; unknown ids fail (before any change) with the
        server's message."""
        if isinstance(selection, RemoteCatalog):
            if selection._server.api != self._server.api:
                raise CatalogMismatch(
                    f"the selection belongs to another server ({selection._server.api})"
                )
            return list(selection)
        ids = [selection] if isinstance(selection, str) else list(selection)
        for i in ids:  # ids are few here; a whole selection is passed as a catalogue
            if not isinstance(i, str):
                raise DatasetNotFound(f"no dataset with id {i!r:.40} in {self._index_name()}")
        unique = list(dict.fromkeys(ids))
        if len(unique) == 1 and ID_PATTERN.fullmatch(unique[0]):
            return ids  # the one request that follows answers 404 for an unknown id
        known: set[str] = set()
        for start in range(0, len(unique), PAGE):
            chunk = unique[start : start + PAGE]
            valid = [i for i in chunk if ID_PATTERN.fullmatch(i)]
            if valid:
                params = [("id", encode(valid)), ("files", "true")]
                rows = self._server.get("search", [*params, ("limit", str(PAGE))])["rows"]
                known.update(r["id"] for r in rows)
        for i in unique:
            if i not in known:
                self.record(i)  # raises the server's DatasetNotFound
                raise DatasetNotFound(f"no dataset with id {i!r} in {self._index_name()}")
        return ids

    # -- lineage ------------------------------------------------------------------------
    def lineage(self, dataset_id: str) -> Lineage:
        """Ancestors and descendants of a dataset: the local
        :class:`~catalog.catalogue.lineage.Lineage` (prints as a tree, draws itself in
        notebooks).

        >>> g = cat.lineage(seg_id); g.ancestors, g.edges       # doctest: +SKIP
        """
        record = self.record(dataset_id)
        return convert.lineage(dataset_id, record.get("lineage") or {})

    # -- drives and copies -------------------------------------------------------------
    def drives(self, *, check: bool = False) -> list[Drive]:
        """The drives of the server's index, as :meth:`DuckDBCatalog.drives` lists them
        (curators and admins; a viewer gets ``AccessDenied``). ``check`` asks the
        server to look first which drives are mounted there.

        >>> [(d.name, d.where, d.only_here) for d in cat.drives()]   # doctest: +SKIP
        [('WD-2019', 'offline', 12)]
        """
        params = [("check", "true")] if check else []
        return [Drive.from_dict(d) for d in self._server.get("drives", params)["drives"]]

    def locations(self, dataset_id: str) -> list[dict[str, Any]]:
        """Every place the dataset's content is known at, the primary one first, as
        :meth:`DuckDBCatalog.locations` gives them.

        >>> [(p["drive"], p["status"]) for p in cat.locations("k2x9q4m1abcd")]  # doctest: +SKIP
        [('WD-2019', 'offline'), ('WD-2024', 'ok')]
        """
        return list(self.record(dataset_id).get("locations") or [])

    def thumbnail(self, dataset_id: str) -> bytes | None:
        """The dataset's thumbnail PNG from the server (``None`` when it has none)."""
        url = self.record(dataset_id).get("thumbnail")
        return self._server.send("GET", "", url=self._server.absolute(url)) if url else None

    # -- presentation -------------------------------------------------------------------
    def __repr__(self) -> str:
        scope = "all datasets" if self._sel.everything else "a selection"
        try:
            count = f"{len(self)} datasets"
        except (RemoteError, ServiceError) as exc:
            count = f"unavailable: {type(exc).__name__}"
        return f"<voxcat remote catalogue: {count} ({scope}) at {self._server.api}>"

    def _repr_html_(self) -> str:
        e = html.escape
        try:
            page = self._search(self._sel.offset, max(1, min(_HTML_CARDS, self._sel.limit or 8)))
            facets = self.facets(*_HTML_FACETS, limit=6)
        except (RemoteError, ServiceError) as exc:
            return (
                f"<div><b>voxcat remote catalogue</b> at {e(self._server.api)}: "
                f"<i>{e(str(exc))}</i></div>"
            )
        total = len(self) if self._sel.windowed else int(page["total"])
        rows = page["rows"][: self._sel.limit] if self._sel.limit is not None else page["rows"]
        facet_html = "".join(
            f"<div><b>{e(field)}</b>: "
            + (", ".join(f"{e(str(v))} ({n})" for v, n in counts.items()) or "–")
            + "</div>"
            for field, counts in facets.items()
        )
        cards = "".join(
            '<figure style="display:inline-block;margin:4px;width:120px;vertical-align:top">'
            f"{self._thumb_html(row.get('thumbnail'))}"
            f'<figcaption style="font-size:11px;word-break:break-all">'
            f"{name_html(row['name'], NAME_CHARS)}"
            f"<code>{e(row['id'])}</code> {e(str(row.get('modality') or ''))} "
            f"{e('x'.join(map(str, row.get('shape') or [])))}</figcaption></figure>"
            for row in rows
        )
        more = f"<div>… and {total - len(rows)} more</div>" if total > len(rows) else ""
        return (
            '<div class="voxcat-catalogue">'
            f"<div><b>voxcat remote catalogue</b>: {total} datasets "
            f"<small>({e(self._server.api)})</small></div>"
            f'<div style="font-size:12px;margin:4px 0">{facet_html}</div>'
            f"<div>{cards}</div>{more}</div>"
        )

    def _thumb_html(self, url: str | None) -> str:
        import base64

        blank = '<div style="width:96px;height:96px;background:#eee"></div>'
        if not url:
            return blank
        try:
            png = self._server.send("GET", "", url=self._server.absolute(url))
        except (RemoteError, ServiceError):
            return blank
        data = base64.b64encode(png).decode()
        return f'<img src="data:image/png;base64,{data}" style="width:120px;height:96px;object-fit:contain" alt="">'


# -- filter values in their text form ----------------------------------------------------
def _plain(value: Any, key: str) -> Any:
    """A single filter value as text or a number (what :func:`encode` takes)."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str):
        value = value.item()  # numpy scalars
    if value is None:
        raise QueryError(
            f"{key}=None (missing) has no form a catalogue server reads; search the "
            "local index for missing values"
        )
    if isinstance(value, bool):
        raise QueryError(f"{key}={value}: give text or a number, not a bool")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, str | int | float):
        return value
    raise QueryError(f"{key}: {type(value).__name__} has no text form; give text or a number")


def encode_filter(key: str, value: Any) -> str:
    """A ``search`` filter value in the REST form (:func:`catalog.querytext.encode`):
    ranges, lists, globs, comparisons, numbers, datetimes.

    >>> encode_filter("voxel_size", (None, "5um")), encode_filter("modality", ["CT", "MR"])
    ('..5um', 'CT,MR')
    """
    if isinstance(value, tuple):
        if len(value) != 2:
            raise QueryError(f"{key}: a range is (lo, hi), not {len(value)} values")
        ends = tuple(None if v is None else _plain(v, key) for v in value)
        return encode(ends)
    if isinstance(value, list | set | frozenset):
        items = [_plain(v, key) for v in value]
        if len(items) > MAX_FILTER_VALUES:
            raise QueryLimitError(f"{key}: {len(items):,} values; at most {MAX_FILTER_VALUES:,}")
        if not items:
            raise QueryError(f"{key}: an empty list matches nothing; leave the filter out")
        return encode(items)
    return encode(_plain(value, key))


def _sort_keys(sort_by: str | Sequence[str]) -> tuple[str, ...]:
    keys = (sort_by,) if isinstance(sort_by, str) else tuple(sort_by)
    if len(keys) > MAX_FIELDS:
        raise QueryLimitError(f"sorting by {len(keys)} keys; at most {MAX_FIELDS}")
    for key in keys:
        if not isinstance(key, str) or not key.lstrip("-+"):
            raise QueryError(f"sort_by takes field names, not {key!r:.40}")
    return keys


def _facet_value(field: str, value: Any) -> Any:
    return convert.parse_time(value) if field in convert.TIME_FIELDS else value


def _whole(n: Any, what: str) -> int:
    try:
        count = None if isinstance(n, bool) else operator.index(n)
    except TypeError:
        count = None
    if count is None or count < 0:
        raise QueryError(f"{what} needs whole numbers >= 0, not {n!r:.40}")
    return count


def open_remote(
    url: str,
    token: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    paths: Mapping[str, str] | None = None,
    files: bool = False,
    **kw: Any,
) -> RemoteCatalog:
    """Open the catalogue a voxcat server holds, with the local catalogue's API.

    ``url``: the server's address as ``voxcat serve`` prints it (with its
    ``--base-url``, e.g. ``http://lab:8000/voxcat``), or a Jupyter server's URL when
    it runs the voxcat extension (``http://127.0.0.1:8888``, on JupyterHub
    ``https://hub/user/NAME``); the REST API is found at ``<url>/api/`` and then at
    ``<url>/voxcat/api/`` (a URL ending in ``/api`` is used as it is). ``token``:
    sent as ``Authorization: token <token>``; default the URL's ``?token=``, then
    ``$VOXCAT_TOKEN``. ``paths``: server folders mapped to where the same file system
    is mounted here, for ``read()``. ``timeout``: seconds per request. ``files``:
    also list non-image files. One request (``info``) checks the server and token.

    >>> cat = open_remote("http://lab-server:8000", token="vxc_...")   # doctest: +SKIP
    >>> cat = open_remote("http://127.0.0.1:8888/?token=abc")          # doctest: +SKIP
    """
    if kw:
        names = ", ".join(map(repr, kw))
        raise TypeError(
            f"open_remote() got unexpected keyword argument(s) {names}; it takes token, "
            "timeout, paths and files"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout is a number of seconds > 0, not {timeout!r:.40}")
    if paths is not None and not (
        isinstance(paths, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in paths.items())
    ):
        raise ValueError("paths maps server folders to local folders: {'/srv/lab': '/mnt/lab'}")
    server = Server.discover(url, token, float(timeout))
    return RemoteCatalog(server, paths=paths, _selection=Selection(files=bool(files)))


__all__ = ["RemoteCatalog", "Selection", "encode_filter", "open_remote"]
