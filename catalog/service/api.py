"""What the REST endpoints do, as plain functions over the catalogue API.

Each function takes the index path and parsed arguments and returns JSON-ready data;
handlers run them in worker threads, so a locked or slow index never stalls the
server's event loop. Nothing here builds SQL: searches, facets, annotations and
lineage all go through :class:`catalog.catalogue.DuckDBCatalog`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..catalogue import DuckDBCatalog, open_catalog
from ..errors import NotFound
from ..index import cache_dir, columns
from .params import SearchArgs, jsonable
from .paths import cached_file

#: columns of a search result row
ROW_FIELDS = columns.names("row")

#: a function from a dataset id to the URL of one of its images
UrlFor = Callable[[str], str]


def catalogue(index: Path, files: bool = False) -> DuckDBCatalog:
    """The catalogue of ``index``; :class:`NotFound` before the first scan made it."""
    if not index.exists():
        raise NotFound(
            f"no voxcat index at {index} yet; scan a folder first (POST jobs with kind 'scan')"
        )
    return open_catalog(index, files=files)


def select(index: Path, args: SearchArgs) -> DuckDBCatalog:
    """The catalogue narrowed by a parsed query string."""
    cat = catalogue(index, files=args.files)
    return cat.search(args.text, sort_by=args.sort, **args.filters)


def search(
    index: Path, args: SearchArgs, offset: int, limit: int, thumbnail_url: UrlFor
) -> dict[str, Any]:
    """One page of matching datasets: ``{"total", "offset", "limit", "rows"}``."""
    sub = select(index, args)
    total = len(sub)
    frame = sub.window(offset, limit).df.reset_index()
    rows = []
    for record in frame.to_dict("records"):
        row = {k: jsonable(record.get(k)) for k in ROW_FIELDS}
        row["tags"] = row["tags"] or []
        row["thumbnail"] = thumbnail_url(row["id"]) if row["status"] == "ok" else None
        rows.append(row)
    return {"total": total, "offset": offset, "limit": limit, "rows": rows}


def facets(
    index: Path,
    args: SearchArgs,
    fields: Sequence[str],
    ranges: Sequence[str],
    limit: int,
    multiselect: bool = True,
) -> dict[str, Any]:
    """Value counts of ``fields`` (default: the catalogue's usual facets) and
    ``(min, max)`` of ``ranges`` over the matching datasets.

    With ``multiselect`` (the default, for search panels) a field the query filters on
    is counted as if its own filter were off (the other filters and the text still
    apply), so its other values stay on offer: values of one field combine with OR,
    and choosing ``CT`` must not hide ``MR``. Without it every field is counted over
    the matching datasets, as ``cat.search(...).facets(...)`` counts (the remote
    catalogue, :mod:`catalog.client`, asks for this).
    """
    sub = select(index, args)
    if multiselect:
        base = catalogue(index, files=args.files)
        counts = base.multiselect_facets(
            *fields, text=args.text, filters=args.filters, limit=limit
        )
    else:
        counts = sub.facets(*fields, limit=limit)
    plain = {} if multiselect else {"multiselect": False}  # the default answer stays as it was
    return {
        "total": len(sub),
        **plain,
        "facets": {
            field: [{"value": jsonable(v), "count": int(n)} for v, n in values.items()]
            for field, values in counts.items()
        },
        "ranges": {field: jsonable(sub.range(field)) for field in ranges},
    }


def dataset(index: Path, dataset_id: str, urls: dict[str, UrlFor]) -> dict[str, Any]:
    """Everything the index holds on one dataset: its row, tags, notes and the
    lineage graph around it (``nodes`` and ``edges``); image URLs instead of paths."""
    cat = catalogue(index, files=True)
    meta = dict(cat.entry(dataset_id).metadata)
    graph = cat.lineage(dataset_id)
    meta["lineage"] = {"nodes": graph.nodes, "edges": graph.edges}
    has_thumbnail = bool(meta.pop("thumbnail", None))
    meta["thumbnail"] = urls["thumbnail"](dataset_id) if has_thumbnail else None
    readable = meta.get("status") == "ok" and meta.get("kind") == "image"
    meta["slice"] = urls["slice"](dataset_id) if readable else None
    return jsonable(meta)


def tags(index: Path, dataset_id: str) -> list[str]:
    return list(catalogue(index, files=True).entry(dataset_id).metadata.get("tags") or [])


def add_tags(index: Path, dataset_id: str, new: Sequence[str]) -> dict[str, Any]:
    """Tag a dataset (audited); returns how many tags were new and the tags now."""
    added = catalogue(index, files=True).tag(dataset_id, *new)
    return {"added": added, "tags": tags(index, dataset_id)}


def remove_tags(index: Path, dataset_id: str, old: Sequence[str]) -> dict[str, Any]:
    """Untag a dataset (audited); returns how many tags went and the tags now."""
    removed = catalogue(index, files=True).untag(dataset_id, *old)
    return {"removed": removed, "tags": tags(index, dataset_id)}


def add_note(index: Path, dataset_id: str, text: str) -> dict[str, Any]:
    """Attach a note (audited); returns the dataset's notes, oldest first."""
    cat = catalogue(index, files=True)
    cat.note(dataset_id, text)
    return {"notes": jsonable(cat.entry(dataset_id).metadata.get("notes") or [])}


def thumbnail(index: Path, dataset_id: str) -> bytes:
    """The PNG thumbnail the scan made, read from the index's cache folder only."""
    meta = catalogue(index, files=True).entry(dataset_id).metadata
    path = cached_file(cache_dir(index), meta.get("thumbnail"), f"thumbnail of {dataset_id}")
    if path.suffix.lower() != ".png":
        raise NotFound(f"thumbnail of {dataset_id}: not a PNG file")
    return path.read_bytes()
