"""What the REST endpoints do, as plain functions over the catalogue API.

Each function takes the index path, the account the request is made by (a
:class:`catalog.users.User`, or ``None`` for the local user, who may do anything) and
parsed arguments, and returns JSON-ready data. Every call works on the catalogue
*bound to that account* (``open_catalog(index, user=user)``), so a dataset the account
may not see is "not found" by every function, and counts never include it; changes
need the role ``curator`` and are audited under the account's name
(:func:`catalog.index.store.acting_as`). Handlers run these functions in worker
threads, so a locked or slow index never stalls the
server's event loop. Nothing here builds SQL: searches, facets, annotations and
lineage all go through :class:`catalog.catalogue.DuckDBCatalog`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalogue import DuckDBCatalog, open_catalog
from ..errors import Forbidden, NotFound
from ..index import cache_dir, columns
from ..index.store import acting_as
from .params import SearchArgs, jsonable
from .paths import cached_file

if TYPE_CHECKING:  # pragma: no cover
    from ..users import User

#: columns of a search result row
ROW_FIELDS = columns.names("row")

#: a function from a dataset id to the URL of one of its images
UrlFor = Callable[[str], str]

#: roles, least to most (as :data:`catalog.users.ROLES`)
_RANK = {"viewer": 0, "curator": 1, "admin": 2}


def require(user: User | None, role: str, what: str) -> None:
    """:class:`Forbidden` unless ``user`` has ``role`` or more (``None``, the local
    user, may do anything; a disabled account nothing).

    >>> from catalog.users import User
    >>> require(User("ada", "curator"), "curator", "tag datasets")
    >>> require(User("bob", "viewer"), "curator", "tag datasets")
    Traceback (most recent call last):
    ...
    catalog.errors.Forbidden: bob is a viewer: to tag datasets needs the role curator
    """
    if user is None:
        return
    if not user.active:
        raise Forbidden(f"the account {user.name} is disabled")
    if _RANK.get(user.role, -1) < _RANK[role]:
        raise Forbidden(f"{user.name} is a {user.role}: to {what} needs the role {role}")


@contextlib.contextmanager
def acting(user: User | None) -> Iterator[None]:
    """Inside: the audit log names ``user`` (the server's OS user when ``None``)."""
    if user is None:
        yield
        return
    with acting_as(user.name):
        yield


def catalogue(index: Path, user: User | None, files: bool = False) -> DuckDBCatalog:
    """The catalogue of ``index`` as ``user`` sees it; :class:`NotFound` before the
    first scan made it."""
    if not index.exists():
        raise NotFound(
            f"no voxcat index at {index} yet; scan a folder first (POST jobs with kind 'scan')"
        )
    return open_catalog(index, files=files, user=user)


def select(index: Path, user: User | None, args: SearchArgs) -> DuckDBCatalog:
    """The catalogue narrowed by a parsed query string."""
    cat = catalogue(index, user, files=args.files)
    return cat.search(args.text, sort_by=args.sort, **args.filters)


def search(
    index: Path,
    user: User | None,
    args: SearchArgs,
    offset: int,
    limit: int,
    thumbnail_url: UrlFor,
) -> dict[str, Any]:
    """One page of matching datasets: ``{"total", "offset", "limit", "rows"}``."""
    sub = select(index, user, args)
    total = len(sub)
    frame = sub.window(offset, limit).df.reset_index()
    rows = []
    for record in frame.to_dict("records"):
        row = {k: jsonable(record.get(k)) for k in ROW_FIELDS}
        row["tags"] = row["tags"] or []
        # an offline dataset (its drive unplugged) keeps its thumbnail next to the index
        shown = row["status"] in ("ok", "offline")
        row["thumbnail"] = thumbnail_url(row["id"]) if shown else None
        rows.append(row)
    return {"total": total, "offset": offset, "limit": limit, "rows": rows}


def facets(
    index: Path,
    user: User | None,
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
    sub = select(index, user, args)
    if multiselect:
        base = catalogue(index, user, files=args.files)
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


def complete(index: Path, user: User | None, text: str, cursor: int) -> dict[str, Any]:
    """Completions of the search box term at ``cursor`` (:func:`.complete.complete`),
    from the datasets ``user`` can see."""
    from .complete import complete as complete_text

    return jsonable(complete_text(catalogue(index, user), text, cursor))


def dataset(
    index: Path, user: User | None, dataset_id: str, urls: dict[str, UrlFor]
) -> dict[str, Any]:
    """Everything the index holds on one dataset: its row, tags, notes and the
    lineage graph around it (``nodes`` and ``edges``); image URLs instead of paths."""
    cat = catalogue(index, user, files=True)
    meta = dict(cat.entry(dataset_id).metadata)
    graph = cat.lineage(dataset_id)
    meta["lineage"] = {"nodes": graph.nodes, "edges": graph.edges}
    has_thumbnail = bool(meta.pop("thumbnail", None))
    meta["thumbnail"] = urls["thumbnail"](dataset_id) if has_thumbnail else None
    readable = meta.get("status") == "ok" and meta.get("kind") == "image"
    meta["slice"] = urls["slice"](dataset_id) if readable else None
    meta["preview_needed"] = readable and preview_needed(cat, dataset_id)
    return jsonable(meta)


def preview_needed(cat: DuckDBCatalog, dataset_id: str, min_bytes: int | None = None) -> bool:
    """Whether browsing ``dataset_id`` would be faster with a preview pyramid: an
    image of ``min_bytes`` or more (default: ``PREVIEW_MIN_BYTES``) without its own
    pyramid (:func:`catalog.preview.store.wants_preview`) and no preview built for its
    current checksum yet. False when it cannot be read.

    >>> preview_needed(open_catalog("lab.duckdb"), "k2x9q4m1abcd")   # doctest: +SKIP
    True
    """
    from ..errors import CatalogError
    from ..preview.dataset import load_ref
    from ..preview.place import preview_place
    from ..preview.store import PREVIEW_MIN_BYTES, preview_levels, wants_preview

    try:
        ref = load_ref(cat, dataset_id)
        if not wants_preview(ref, PREVIEW_MIN_BYTES if min_bytes is None else min_bytes):
            return False
        if not ref.checksum:
            return True
        place = preview_place(ref.index)
        return not preview_levels(place.location(ref.checksum), ref.checksum, place.storage)
    except CatalogError:  # unreadable, or its preview storage unreachable: no offer
        return False


def drives(index: Path, user: User | None, check: bool = False) -> dict[str, Any]:
    """The drives of the index (curators: the counts span every dataset), with
    ``check`` first looking which are mounted (audited changes); ``{"drives": [...]}``."""
    from ..drives import list_drives

    catalogue(index, user)  # no index yet: 404
    require(user, "curator", "list drives")
    with acting(user):
        found = list_drives(index, check=check)
    return {"drives": [jsonable(d.to_dict()) for d in found]}


def tags(index: Path, user: User | None, dataset_id: str) -> list[str]:
    """The dataset's tags."""
    meta = catalogue(index, user, files=True).entry(dataset_id).metadata
    return list(meta.get("tags") or [])


def add_tags(
    index: Path, user: User | None, dataset_id: str, new: Sequence[str]
) -> dict[str, Any]:
    """Tag a dataset (audited); returns how many tags were new and the tags now."""
    cat = catalogue(index, user, files=True)
    cat.entry(dataset_id)  # a dataset the account cannot see: 404 before 403
    require(user, "curator", "tag datasets")
    with acting(user):
        added = cat.tag(dataset_id, *new)
    return {"added": added, "tags": tags(index, user, dataset_id)}


def remove_tags(
    index: Path, user: User | None, dataset_id: str, old: Sequence[str]
) -> dict[str, Any]:
    """Untag a dataset (audited); returns how many tags went and the tags now."""
    cat = catalogue(index, user, files=True)
    cat.entry(dataset_id)
    require(user, "curator", "untag datasets")
    with acting(user):
        removed = cat.untag(dataset_id, *old)
    return {"removed": removed, "tags": tags(index, user, dataset_id)}


def notes(index: Path, user: User | None, dataset_id: str) -> dict[str, Any]:
    """The dataset's notes, oldest first: ``{"notes": [{"text", "user", "time"}]}``."""
    meta = catalogue(index, user, files=True).entry(dataset_id).metadata
    return {"notes": jsonable(meta.get("notes") or [])}


def add_note(index: Path, user: User | None, dataset_id: str, text: str) -> dict[str, Any]:
    """Attach a note (audited); returns the dataset's notes, oldest first."""
    cat = catalogue(index, user, files=True)
    cat.entry(dataset_id)
    require(user, "curator", "write notes")
    with acting(user):
        cat.note(dataset_id, text)
    return notes(index, user, dataset_id)


def thumbnail(index: Path, user: User | None, dataset_id: str) -> bytes:
    """The PNG thumbnail the scan made, read from the index's cache folder only."""
    meta = catalogue(index, user, files=True).entry(dataset_id).metadata
    path = cached_file(cache_dir(index), meta.get("thumbnail"), f"thumbnail of {dataset_id}")
    if path.suffix.lower() != ".png":
        raise NotFound(f"thumbnail of {dataset_id}: not a PNG file")
    return path.read_bytes()


def info(index: Path, user: User | None) -> dict[str, Any]:
    """The index's state as ``user`` sees it: whether it exists, how many datasets the
    account can see, the fields search accepts, the dataset columns, and the account."""
    from .. import __version__

    exists = index.exists()
    out: dict[str, Any] = {
        "version": __version__,
        "index": str(index),
        "index_exists": exists,
        "columns": columns.describe(),
        "user": None if user is None else {"name": user.name, "role": user.role},
    }
    if exists:
        cat = catalogue(index, user)
        out["datasets"] = len(cat)
        out["fields"] = cat.fields()
    return out
