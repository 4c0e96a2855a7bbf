"""Query strings and JSON bodies to catalogue arguments, and results to JSON.

Search filters use the command line's value forms (:func:`catalog.cli_catalogue.cli_value`):
``voxel_size=1um..10um`` is a range, ``modality=CT,MR`` a list, ``size=>1GB`` a
comparison, ``name=sand*`` a glob; a repeated key means any of its values; empty values
are ignored. Field names are checked by the catalogue itself, never put into SQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

from catalog.cli_catalogue import cli_value

from .errors import BadRequest

#: query parameters of ``search`` and ``facets`` that are not filters (``token`` is
#: Jupyter's own, for clients that authenticate in the URL)
RESERVED = frozenset({"q", "sort", "offset", "limit", "files", "fields", "ranges", "token"})
#: keywords of ``cat.search`` itself, which a filter may not shadow
SEARCH_KEYWORDS = {"text": "q", "sort_by": "sort", "meta": "meta.<key>"}
MAX_LIMIT = 1000


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
    """An integer query parameter within ``lo..hi``."""
    raw = _one(args, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, not {value}")
    return value


def list_arg(args: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """A comma-separated (or repeated) query parameter as a list of non-empty items."""
    return [p.strip() for v in args.get(name) or [] for p in v.split(",") if p.strip()]


def bool_arg(args: Mapping[str, Sequence[str]], name: str) -> bool:
    raw = (_one(args, name) or "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise BadRequest(f"{name} must be true or false, not {raw[:20]!r}")


def _filter_value(key: str, raw: list[str]) -> Any:
    values = [cli_value(v) for v in raw if v != ""]
    if len(values) == 1:
        return values[0]
    if any(isinstance(v, tuple) for v in values):
        raise BadRequest(f"{key}: a range (lo..hi) cannot be combined with other values")
    return [x for v in values for x in (v if isinstance(v, list) else [v])]


def search_args(args: Mapping[str, Sequence[str]]) -> SearchArgs:
    """Parse ``q``, ``sort``, ``files`` and every other parameter as a filter."""
    filters: dict[str, Any] = {}
    for key, raw in args.items():
        if key in RESERVED or key.startswith("_"):  # "_": cache busters of browsers
            continue
        if key in SEARCH_KEYWORDS:
            raise BadRequest(f"{key!r} is not a filter; use {SEARCH_KEYWORDS[key]!r}")
        if not key or len(key) > 200:
            raise BadRequest("filter names are 1 to 200 characters")
        if any(v != "" for v in raw):
            filters[key] = _filter_value(key, list(raw))
    text = _one(args, "q")
    sort = tuple(list_arg(args, "sort")) or None
    return SearchArgs(text or None, filters, sort, bool_arg(args, "files"))


def json_body(raw: bytes, required: Sequence[str] = ()) -> dict[str, Any]:
    """A request's JSON object body, with ``required`` keys present."""
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    missing = [k for k in required if k not in body]
    if missing:
        raise BadRequest(f"the request body needs {', '.join(map(repr, missing))}")
    return body


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
