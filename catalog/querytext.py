"""The text form of a filter value, one codec for the command line and the REST API.

``voxcat search --where KEY=VALUE`` (and ``--modality VALUE``...) and REST
``search?KEY=VALUE`` read a value the same way:

- ``lo..hi`` is an inclusive range; either end may be empty (open). A value starting
  with ``<``, ``>`` or ``!`` is a comparison, never a range.
- ``a,b`` is a list (any of); spaces around items and empty items are dropped, so
  ``a,`` is a list of one and ``,`` the empty list.
- anything else is one value (globs, ``<5um``, ISO dates: ``cat.search`` reads them).
- a backslash makes the next character literal when it is one of ``\\ , . < > !`` or
  whitespace: ``a\\,b`` is the one value ``a,b``, ``1\\..2`` the value ``1..2``,
  ``\\ a,b`` keeps the leading space of `` a``. Before any other character a backslash
  is itself (``C:\\data`` stays as it is).

:func:`decode` gives the text of the pieces; :func:`encode` is its exact inverse
(``decode(encode(v)) == v``); :func:`read_value` is what the command line and REST
pass to ``cat.search``: the decoded pieces, with numbers in ASCII digits as numbers.

>>> decode("CT,MR"), decode(r"a\\,b"), decode(r"1\\..2"), decode("1um..")
(['CT', 'MR'], 'a,b', '1..2', ('1um', None))
>>> encode(["a,b", "c..d"])
'a\\\\,b,c\\\\..d'
>>> read_value("1um..10um"), read_value("CT,MR"), read_value("0.5")
(('1um', '10um'), ['CT', 'MR'], 0.5)
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .errors import QueryError
from .inputs import number

#: a text value, a list of them (any of) or a range with ``None`` for an open end
TextValue = str | list[str] | tuple[str | None, str | None]

#: characters a backslash escapes (besides whitespace)
_ESCAPED = frozenset("\\,.<>!")
#: a value starting with one of these is a comparison, never a range
_COMPARISON = ("<", ">", "!")


def _escapable(ch: str) -> bool:
    return ch in _ESCAPED or ch.isspace()


def _chars(text: str) -> list[tuple[str, bool]]:
    """``text`` as ``(character, escaped)`` pairs, escapes resolved."""
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and _escapable(text[i + 1]):
            out.append((text[i + 1], True))
            i += 2
        else:
            out.append((ch, False))
            i += 1
    return out


def _text(chars: list[tuple[str, bool]]) -> str:
    return "".join(ch for ch, _ in chars)


def _trimmed(chars: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Without unescaped whitespace at either end."""
    lo, hi = 0, len(chars)
    while lo < hi and not chars[lo][1] and chars[lo][0].isspace():
        lo += 1
    while hi > lo and not chars[hi - 1][1] and chars[hi - 1][0].isspace():
        hi -= 1
    return chars[lo:hi]


def decode(text: str) -> TextValue:
    """A filter value's text as a range ``(lo, hi)``, a list or one text value.

    >>> decode("..5"), decode("a, b ,"), decode("<1..2"), decode(r"x\\y")
    ((None, '5'), ['a', 'b'], '<1..2', 'x\\\\y')
    """
    chars = _chars(text)
    if not text.startswith(_COMPARISON):
        for i in range(len(chars) - 1):
            if chars[i] == (".", False) and chars[i + 1] == (".", False):
                lo, hi = _text(chars[:i]), _text(chars[i + 2 :])
                return (lo or None, hi or None)
    if (",", False) in chars:
        items: list[list[tuple[str, bool]]] = [[]]
        for pair in chars:
            if pair == (",", False):
                items.append([])
            else:
                items[-1].append(pair)
        return [_text(t) for t in map(_trimmed, items) if t]
    return _text(chars)


def _escape(text: str, *, edges: bool = False, range_start: bool = False) -> str:
    """``text`` with ``\\``, ``,`` and every ``.`` that another ``.`` follows escaped;
    ``edges``: also whitespace at either end (list items); ``range_start``: also a
    leading ``<``, ``>`` or ``!`` and a trailing ``.`` (the low end of a range)."""
    out = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if (
            ch in "\\,"
            or (ch == "." and i < last and text[i + 1] == ".")
            or (edges and ch.isspace() and i in (0, last))
            or (range_start and i == 0 and ch in "<>!")
            or (range_start and i == last and ch == ".")
        ):
            out.append("\\")
        out.append(ch)
    return "".join(out)


def _piece(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise QueryError(f"{what}: {type(value).__name__} has no text form; give text or a number")


def encode(value: Any) -> str:
    """The text :func:`decode` reads back as ``value``: a string, a list of non-empty
    strings, or a ``(lo, hi)`` range of non-empty strings or ``None`` (numbers are
    written as ``str`` writes them).

    >>> encode("a..b"), encode((None, "<5")), encode([" x", "y"])
    ('a\\\\..b', '..<5', '\\\\ x,y')
    >>> decode(encode(["1,2", "a\\\\"])) == ["1,2", "a\\\\"]
    True
    """
    if isinstance(value, tuple):
        if len(value) != 2:
            raise QueryError(f"a range is (lo, hi), not {len(value)} values")
        ends = []
        for end, name in zip(value, ("low", "high")):
            if end is None:
                ends.append("")
                continue
            text = _piece(end, f"the {name} end of a range")
            if text == "":
                raise QueryError(f"the {name} end of a range is empty; give None for an open end")
            ends.append(_escape(text, range_start=name == "low"))
        return "..".join(ends)
    if isinstance(value, list):
        items = [_piece(v, "a list item") for v in value]
        if "" in items:
            raise QueryError("a list item is empty; the text form drops empty items")
        text = ",".join(_escape(v, edges=True) for v in items)
        return text + "," if len(items) < 2 else text
    return _escape(_piece(value, "a value"))


def _number(text: str) -> Any:
    """A number when ``text`` is one in ASCII digits (``"3"``, ``"1e-6"``), else the
    text itself: ``"٣"``, ``"inf"`` and ``"1_000"`` stay text (:func:`catalog.inputs.number`),
    and so do whole numbers with leading zeros (``"0001"``, a year; ``"007"``, a sample),
    which a number would change."""
    found = number(text)
    digits = text.strip().lstrip("+-")
    if found is None or (isinstance(found, int) and len(digits) > 1 and digits[0] == "0"):
        return text
    return found


def read_value(text: str) -> Any:
    """A filter value as the command line and REST give it to ``cat.search``: the
    pieces of :func:`decode`, numbers in ASCII digits as numbers.

    >>> read_value("..5"), read_value("2023,0001"), read_value(r"1\\,5")
    ((None, 5), [2023, '0001'], '1,5')
    """
    value = decode(text)
    if isinstance(value, tuple):
        lo, hi = value
        return (None if lo is None else _number(lo), None if hi is None else _number(hi))
    if isinstance(value, list):
        return [_number(v) for v in value]
    return _number(value)


# -- a search box's text: words and KEY:VALUE filters -------------------------------------

#: a field term: a field name (``modality``, ``meta.ExposureTime``), ``:`` or ``=``, a value
_FIELD_TERM = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)[:=](.*)", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Term:
    """One whitespace-separated term of a search box's text, where it stands
    (``start``, ``end``) and, for a field term, its ``key`` and raw ``value``."""

    start: int
    end: int
    text: str
    key: str | None = None
    value: str | None = None


def _field(text: str) -> tuple[str, str] | None:
    m = _FIELD_TERM.fullmatch(text)
    if m is None or m.group(2).startswith("//"):  # s3://bucket/... is a word, not a field
        return None
    value = m.group(2)
    if value.startswith('"'):  # key:"a value with spaces"
        value = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
    return m.group(1), value


def terms(text: str) -> list[Term]:
    """The terms of a search box's text: runs of characters up to unescaped whitespace
    outside double quotes. ``KEY:VALUE`` and ``KEY=VALUE`` are field terms (``KEY``
    a field or metadata key name; the value read as :func:`read_value` reads it,
    double quotes around it keep its spaces).

    >>> [(t.key, t.value or t.text) for t in terms('sandstone modality:CT size=>1GB "a b"')]
    [(None, 'sandstone'), ('modality', 'CT'), ('size', '>1GB'), (None, '"a b"')]
    """
    out: list[Term] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, quoted = i, False
        while i < n and (quoted or not text[i].isspace()):
            if text[i] == "\\" and i + 1 < n:
                i += 2
                continue
            if text[i] == '"':
                quoted = not quoted
            i += 1
        piece = text[start:i]
        field = _field(piece)
        key, value = field if field else (None, None)
        out.append(Term(start, i, piece, key, value))
    return out


def split_query(text: str) -> tuple[str | None, dict[str, list[str]]]:
    """A search box's text as ``cat.search`` arguments: the words and phrases (``None``
    when there are none) and ``{field: [raw values]}`` of its field terms, in the
    syntax of ``voxcat search --where KEY=VALUE`` (read each value with
    :func:`read_value`; a field given twice means any of its values). Terms with an
    empty value (``modality:`` while typing) are left out.

    >>> split_query('sandstone modality:CT,MR size:>1GB sample:"core 7"')
    ('sandstone', {'modality': ['CT,MR'], 'size': ['>1GB'], 'sample': ['core 7']})
    >>> split_query("s3://bucket/x tags:a tags:b")
    ('s3://bucket/x', {'tags': ['a', 'b']})
    """
    words: list[str] = []
    fields: dict[str, list[str]] = {}
    for term in terms(text):
        if term.key is None:
            words.append(term.text)
        elif term.value:
            fields.setdefault(term.key, []).append(term.value)
    return (" ".join(words) or None), fields


def term_at(text: str, cursor: int) -> Term:
    """The term the cursor is in or right after (an empty term where a new one would
    start): what completion replaces.

    >>> term_at("sandstone moda", 14)
    Term(start=10, end=14, text='moda', key=None, value=None)
    >>> term_at("modality:C x", 10).key
    'modality'
    """
    cursor = max(0, min(cursor, len(text)))
    for term in terms(text):
        if term.start <= cursor <= term.end:
            return term
    return Term(cursor, cursor, "")


__all__ = [
    "Term",
    "TextValue",
    "decode",
    "encode",
    "read_value",
    "split_query",
    "term_at",
    "terms",
]
