"""The search page's state as the URL carries it, and the queries it runs.

The page's query string uses the REST API's words: ``q`` is the search box, every
other parameter a filter read by :func:`catalog.service.params.search_args` (so
``modality=CT&modality=MR`` is either, ``size=1GB..`` a range), and ``page`` the
grid page, counted from 1. The search box takes the same ``field=value`` syntax
(``sandstone modality=CT voxel_size=<5um``): such words become filters, the rest is
``cat.search`` text. Nothing here imports Panel.

>>> s = SearchState.from_query({"q": ["rock modality=CT"], "project": ["a,b"], "page": ["3"]})
>>> s.text, s.filters, s.page
('rock modality=CT', {'project': ('a,b',)}, 2)
>>> to_query_string(s)
'q=rock+modality%3DCT&project=a%2Cb&page=3'
>>> search_arguments(s).filters
{'modality': 'CT', 'project': ['a', 'b']}
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

from catalog.catalogue import DuckDBCatalog
from catalog.catalogue.core import DEFAULT_FACETS
from catalog.errors import BadRequest
from catalog.querytext import encode, read_value
from catalog.service.params import RESERVED, SearchArgs, search_args

from ..format import human_bytes, human_shape, missing

PAGE_SIZE = 24
#: the facets the search page shows (the catalogue's usual ones)
FACETS = DEFAULT_FACETS
#: values listed per facet
FACET_LIMIT = 12
#: the most pages a URL may ask for (a window beyond the result shows its last page)
MAX_PAGE = 10_000_000
#: ``field=value`` words of the search box; a value may be "quoted" to hold spaces
_FIELD_WORD = re.compile(r'(?<!\S)([A-Za-z_][\w.]*)=("[^"]*"|\S+)')


@dataclasses.dataclass(frozen=True)
class SearchState:
    """What a search page shows: the box's ``text``, the chosen facet ``filters``
    (field -> filter texts in the query-string form, any of them) and the 0-based
    ``page``."""

    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    page: int = 0

    @classmethod
    def from_query(cls, args: Mapping[str, Sequence[str | bytes]]) -> SearchState:
        """The state a URL's query (``parse_qs`` form; bytes as Tornado gives them)
        describes; unknown parameters are filters, as in the REST API.

        >>> SearchState.from_query({"modality": [b"CT", b"MR"]}).filters
        {'modality': ('CT', 'MR')}
        """
        texts = {
            k: [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in vs]
            for k, vs in args.items()
        }
        page = 0
        raw_page = (texts.get("page") or [""])[-1].strip()
        if raw_page.isdigit() and raw_page.isascii():
            page = max(0, min(int(raw_page), MAX_PAGE) - 1)
        filters = {
            k: tuple(v for v in vs if v != "")
            for k, vs in texts.items()
            if k not in RESERVED and k != "page" and not k.startswith("_")
        }
        return cls(
            text=" ".join((texts.get("q") or [""])[-1].split()),
            filters={k: v for k, v in filters.items() if v},
            page=page,
        )

    def with_values(self, field: str, values: Iterable[Any]) -> SearchState:
        """This state with ``field``'s filter set to any of ``values`` (none: no
        filter) and the grid back on its first page."""
        filters = dict(self.filters)
        texts = tuple(encode(v if isinstance(v, str) else str(v)) for v in values)
        if texts:
            filters[field] = texts
        else:
            filters.pop(field, None)
        return dataclasses.replace(self, filters=filters, page=0)

    def chosen(self, field: str) -> list[str]:
        """The values ``field``'s filter chooses, as text (what a facet shows ticked)."""
        out: list[str] = []
        for raw in self.filters.get(field, ()):
            value = read_value(raw)
            items = value if isinstance(value, list) else [value]
            out.extend(str(v) for v in items if not isinstance(v, tuple))
        return list(dict.fromkeys(out))


def to_query(state: SearchState) -> list[tuple[str, str]]:
    """The query-string pairs of ``state`` (``q`` first, ``page`` from 1, last)."""
    pairs = [("q", state.text)] if state.text else []
    pairs += [(k, v) for k, values in state.filters.items() for v in values]
    if state.page:
        pairs.append(("page", str(state.page + 1)))
    return pairs


def to_query_string(state: SearchState) -> str:
    """``state`` as a URL query string (without ``?``)."""
    return urlencode(to_query(state))


def from_query_string(query: str) -> SearchState:
    """The state of a URL query string (with or without ``?``)."""
    return SearchState.from_query(parse_qs(query.lstrip("?"), keep_blank_values=False))


def split_box(text: str) -> tuple[str, dict[str, list[str]]]:
    """The search box's words and its ``field=value`` filters (values as typed).

    >>> split_box('rock "pore network" modality=CT size=>1GB name="a b*"')
    ('rock "pore network"', {'modality': ['CT'], 'size': ['>1GB'], 'name': ['a b*']})
    """
    fields: dict[str, list[str]] = {}
    for key, value in _FIELD_WORD.findall(text):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        fields.setdefault(key, []).append(value)
    words = " ".join(_FIELD_WORD.sub(" ", text).split())
    return words, fields


def search_arguments(state: SearchState) -> SearchArgs:
    """What ``cat.search`` gets for ``state``: the REST API's reading of the box's
    words (``q``), its ``field=value`` words and the facets' filters together (values
    given for one field, by either, are any of them).

    Raises :class:`~catalog.errors.BadRequest` for a filter the REST API refuses.
    """
    words, fields = split_box(state.text)
    args: dict[str, list[str]] = {"q": [words]} if words else {}
    for key, values in [*fields.items(), *state.filters.items()]:
        if key in ("q", "page"):
            raise BadRequest(f"{key!r} is not a filter")
        args.setdefault(key, []).extend(values)
    return search_args(args)


def select(cat: DuckDBCatalog, state: SearchState) -> DuckDBCatalog:
    """The datasets of ``cat`` that ``state`` finds."""
    args = search_arguments(state)
    if args.text is None and not args.filters and args.sort is None:
        return cat
    return cat.search(args.text, sort_by=args.sort, **args.filters)


def facet_counts(
    cat: DuckDBCatalog,
    state: SearchState,
    fields: Sequence[str] = FACETS,
    limit: int = FACET_LIMIT,
) -> dict[str, dict[str, int]]:
    """``{field: {value: count}}`` for the facets, values of one field OR-ed
    (``cat.multiselect_facets``); values chosen but absent count 0 and stay listed."""
    args = search_arguments(state)
    counts = cat.multiselect_facets(*fields, text=args.text, filters=args.filters, limit=limit)
    out: dict[str, dict[str, int]] = {}
    for field in fields:
        shown = {str(v): int(n) for v, n in counts.get(field, {}).items()}
        for value in state.chosen(field):
            shown.setdefault(value, 0)
        out[field] = shown
    return out


def page_count(total: int, page_size: int = PAGE_SIZE) -> int:
    """Pages of a result of ``total`` datasets (at least 1)."""
    return max(1, math.ceil(total / max(1, page_size)))


def page_rows(
    result: DuckDBCatalog, page: int, page_size: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    """One grid page of ``result``: ``id``, ``name``, ``facts`` (modality or format,
    shape, size) and ``thumbnail`` (PNG bytes or ``None``) per dataset, read with one
    ``LIMIT``/``OFFSET`` query and one thumbnail lookup (never pixel data)."""
    frame = result.window(page * page_size, page_size).df
    ids = list(frame.index)
    thumbs = result.thumbnails(ids)
    rows = []
    for ident, rec in zip(ids, frame.to_dict("records"), strict=True):
        kind = next((rec.get(k) for k in ("modality", "format") if not missing(rec.get(k))), "?")
        facts = " · ".join(
            [str(kind), human_shape(rec.get("shape")), human_bytes(rec.get("size"))]
        )
        path = thumbs.get(ident)
        png = None
        if path is not None and path.suffix.lower() == ".png":
            try:
                png = path.read_bytes()
            except OSError:
                png = None
        rows.append({"id": ident, "name": str(rec.get("name")), "facts": facts, "thumbnail": png})
    return rows


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI for an ``<img>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
