"""Completion of a search box's text (:func:`catalog.querytext.terms`): field names
while a term has no ``:`` yet, values after ``KEY:`` (the values datasets have for a
categorical field, the fixed choices of ``status``/``kind``/``origin``, examples of the
syntax for sizes, lengths, times and numbers).

>>> from catalog import open_catalog
>>> complete(open_catalog("lab.duckdb"), "sandstone moda", 14)     # doctest: +SKIP
{'start': 10, 'end': 14, 'kind': 'field', 'field': None, 'items': [{'text': 'modality:', ...}]}
"""

from __future__ import annotations

from typing import Any

from ..catalogue import DuckDBCatalog
from ..catalogue.fields import (
    ALIASES,
    BYTES,
    CHOICES,
    INT,
    LENGTH,
    TEXT,
    TEXT_LIST,
    TIME,
    all_field_names,
    resolve,
)
from ..errors import QueryError
from ..querytext import encode, term_at

#: text fields whose values are too many or too long to offer (names, free text, paths)
FREE_TEXT = frozenset(
    {"id", "name", "description", "checksum", "error", "notes", "path", "root", "shape"}
)
#: what to show after ``KEY:`` for fields whose values are not a list to pick from
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    BYTES: (
        (">1GB", "larger than 1 GB"),
        ("<100MB", "smaller than 100 MB"),
        ("1GB..10GB", "from 1 GB to 10 GB"),
    ),
    LENGTH: (("<5um", "below 5 µm"), ("1um..10um", "from 1 to 10 µm"), (">1mm", "above 1 mm")),
    TIME: (
        ("2024", "during 2024"),
        ("2024-03..2024-06", "March to June 2024"),
        (">2024-01-01", "after 1 January 2024"),
    ),
    INT: ((">1", "more than 1"), ("1..10", "from 1 to 10")),
}
#: the most values offered
LIMIT = 20


def _value_text(value: str) -> str:
    """``value`` as it is typed after ``KEY:`` (escaped; quoted when it has spaces)."""
    text = encode(value)
    return f'"{text}"' if any(ch.isspace() for ch in text) else text


def _field_items(cat: DuckDBCatalog, prefix: str) -> list[dict[str, Any]]:
    low = prefix.lower()
    names = [n for n in all_field_names() if n.lower().startswith(low)]
    if low.startswith("meta."):
        names += ["meta." + k for k in cat.meta_keys(200) if ("meta." + k).lower().startswith(low)]
    items = []
    for name in names[:LIMIT]:
        alias = ALIASES.get(name)
        detail = f"same as {alias}" if alias else "field"
        items.append({"text": f"{name}:", "label": name, "detail": detail})
    return items


def _value_items(cat: DuckDBCatalog, key: str, prefix: str) -> list[dict[str, Any]]:
    with cat._connect() as con:
        target = resolve(key, con)
    low = prefix.lower()
    values: list[tuple[str, int | None]]
    if target.key in CHOICES:
        values = [(v, None) for v in CHOICES[target.key]]
    elif target.kind in EXAMPLES:
        return [
            {"text": f"{key}:{text}", "label": text, "detail": detail}
            for text, detail in EXAMPLES[target.kind]
            if text.lower().startswith(low)
        ]
    elif target.kind in (TEXT, TEXT_LIST, "meta") and target.key not in FREE_TEXT:
        counts = cat.facets(target.key, limit=200)[target.key]
        values = [(str(v), int(n)) for v, n in counts.items() if v is not None and str(v) != ""]
    else:
        return []
    items = []
    for value, count in values:
        if not value.lower().startswith(low) or '"' in value:
            continue
        detail = "" if count is None else f"{count:,} dataset{'s' if count != 1 else ''}"
        items.append({"text": f"{key}:{_value_text(value)}", "label": value, "detail": detail})
        if len(items) == LIMIT:
            break
    return items


def complete(cat: DuckDBCatalog, text: str, cursor: int) -> dict[str, Any]:
    """What may complete the term at ``cursor`` of a search box's ``text``:
    ``{"start", "end", "kind", "field", "items"}``, where each item's ``text`` replaces
    ``text[start:end]``, ``kind`` is ``"field"`` (a name followed by ``:``), ``"value"``
    or ``"none"``. An unknown field name raises the catalogue's
    :class:`~catalog.errors.UnknownFieldError` (with its "did you mean").
    """
    term = term_at(text, cursor)
    out: dict[str, Any] = {"start": term.start, "end": term.end, "field": term.key}
    if term.key is not None:
        value = term.value or ""
        out["kind"] = "value"
        out["items"] = _value_items(cat, term.key, value)
        return out
    word = term.text
    if word.startswith(("-", '"')) or (word and not (word[0].isalpha() or word[0] == "_")):
        out.update(kind="none", items=[])
        return out
    try:
        items = _field_items(cat, word)
    except QueryError:
        items = []
    out.update(kind="field", items=items)
    return out
