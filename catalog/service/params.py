"""Query strings and JSON bodies to catalogue arguments, and results to JSON.

Search filters are read as the command line reads them (:func:`catalog.querytext.read_value`):
``voxel_size=1um..10um`` is a range, ``modality=CT,MR`` a list, ``size=>1GB`` a
comparison, ``name=sand*`` a glob, ``note=a\\,b`` the one value ``a,b``; a repeated
key means any of its values; empty values are ignored. Field names are checked by the
catalogue itself, never put into SQL.

``query`` is the text of a search box: words and ``"phrases"`` as ``q`` takes them, and
field terms ``KEY:VALUE`` (or ``KEY=VALUE``) read exactly as ``voxcat search --where
KEY=VALUE`` reads them (:func:`catalog.querytext.split_query`): ``modality:CT size:>1GB``.
Its field terms add to the filters of the query string (a field in both: any of).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

from ..errors import BadRequest, InputLimitError, PayloadTooLarge
from ..inputs import MAX_FIELDS, parse_int
from ..querytext import read_value, split_query

#: query parameters of ``search`` and ``facets`` that are not filters (``token`` is
#: Jupyter's own, for clients that authenticate in the URL)
RESERVED = frozenset(
    {"q", "query", "sort", "offset", "limit", "files", "fields", "ranges", "multiselect", "token"}
)
#: keywords of ``cat.search`` itself, which a filter may not shadow
SEARCH_KEYWORDS = {"text": "q", "sort_by": "sort", "meta": "meta.<key>"}
MAX_LIMIT = 1000
#: the largest JSON body a request may send (10,000 ids or a long note fit easily)
MAX_BODY_BYTES = 1_000_000


@dataclasses.dataclass(frozen=True)
class SearchArgs:
    """What ``cat.search`` gets from a query string."""

    text: str | None
    filters: dict[str, Any]
    sort: tuple[str, ...] | None
    files: bool


def _one(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name) or []
    if len(values) > 1:
        raise BadRequest(f"give {name!r} once, not {len(values)} times")
    return values[0] if values else None


def int_arg(
    args: Mapping[str, Sequence[str]], name: str, default: int | None, lo: int, hi: int
) -> int | None:
    """An integer query parameter within ``lo..hi``, in ASCII digits."""
    raw = _one(args, name)
    if raw is None or raw == "":
        return default
    try:
        return parse_int(raw, name, lo, hi)
    except InputLimitError as exc:
        raise BadRequest(str(exc)) from None


def list_arg(args: Mapping[str, Sequence[str]], name: str, most: int = MAX_FIELDS) -> list[str]:
    """A comma-separated (or repeated) query parameter as a list of distinct non-empty
    items, at most ``most`` of them."""
    items = [p.strip() for v in args.get(name) or [] for p in v.split(",") if p.strip()]
    items = list(dict.fromkeys(items))
    if len(items) > most:
        raise BadRequest(f"{name}: {len(items)} items; at most {most}")
    return items


def bool_arg(args: Mapping[str, Sequence[str]], name: str) -> bool:
    raw = (_one(args, name) or "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise BadRequest(f"{name} must be true or false, not {raw[:20]!r}")


def multiselect_arg(args: Mapping[str, Sequence[str]]) -> bool:
    """``multiselect`` of the ``facets`` route: true unless given as false."""
    raw = _one(args, "multiselect")
    return True if raw is None or raw == "" else bool_arg(args, "multiselect")


def _filter_value(key: str, raw: list[str]) -> Any:
    values = [read_value(v) for v in raw if v != ""]
    if len(values) == 1:
        return values[0]
    if any(isinstance(v, tuple) for v in values):
        raise BadRequest(f"{key}: a range (lo..hi) cannot be combined with other values")
    return [x for v in values for x in (v if isinstance(v, list) else [v])]


def search_args(args: Mapping[str, Sequence[str]]) -> SearchArgs:
    """Parse ``q``, ``query``, ``sort``, ``files`` and every other parameter as a filter."""
    filters: dict[str, Any] = {}
    words, typed = split_query(_one(args, "query") or "")
    merged: dict[str, list[str]] = {k: list(v) for k, v in args.items()}
    for key, raw in typed.items():
        if key in RESERVED or key in SEARCH_KEYWORDS or key.startswith("_"):
            raise BadRequest(f"{key!r} is not a search field (in {key}:{raw[0][:20]})")
        merged[key] = [*merged.get(key, []), *raw]
    for key, raw in merged.items():
        if key in RESERVED or key.startswith("_"):  # "_": cache busters of browsers
            continue
        if key in SEARCH_KEYWORDS:
            raise BadRequest(f"{key!r} is not a filter; use {SEARCH_KEYWORDS[key]!r}")
        if not key or len(key) > 200:
            raise BadRequest("filter names are 1 to 200 characters")
        if any(v != "" for v in raw):
            filters[key] = _filter_value(key, list(raw))
    text = " ".join(t for t in (_one(args, "q"), words) if t)
    sort = tuple(list_arg(args, "sort")) or None
    return SearchArgs(text or None, filters, sort, bool_arg(args, "files"))


def json_body(
    raw: bytes, required: Sequence[str] = (), allowed: Sequence[str] | None = None
) -> dict[str, Any]:
    """A request's JSON object body, with ``required`` keys present and, when
    ``allowed`` is given, no other keys. NaN and Infinity (not JSON), unpaired
    surrogate escapes (not text) and bodies over :data:`MAX_BODY_BYTES` are refused."""
    if len(raw or b"") > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the request body has {len(raw):,} bytes; at most {MAX_BODY_BYTES:,} are read"
        )
    try:
        body = json.loads(raw or b"{}", parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    _check_strings(body)
    missing = [k for k in required if k not in body]
    if missing:
        raise BadRequest(f"the request body needs {', '.join(map(repr, missing))}")
    if allowed is not None:
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise BadRequest(
                f"unknown field {', '.join(repr(k[:40]) for k in unknown[:5])} in the request "
                f"body; it takes {', '.join(map(repr, allowed))}"
            )
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_strings(value: Any) -> None:
    """Refuse unpaired surrogates (``"\\ud800"`` escapes) anywhere in a parsed body:
    they are not text, and nothing downstream can store or compare them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise BadRequest(
                    f"the request body holds {item[:40]!r}: an unpaired surrogate escape "
                    "is not text"
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_SURROGATE = re.compile("[\ud800-\udfff]")


def text_list(body: Mapping[str, Any], key: str) -> list[str]:
    """``body[key]`` as a list of strings (a single string is a list of one)."""
    value = body.get(key)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
        raise BadRequest(f"{key!r} must be a string or a non-empty list of strings")
    return items


def jsonable(value: Any) -> Any:
    """``value`` with numpy, pandas, dates, paths and NaN turned into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if type(value).__name__ == "NaTType":  # pandas' missing time, a datetime subclass
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return str(value)
