"""What voxcat accepts from users: the limits of the README's "Limits" table and the
checks behind them, shared by the Python API, the command line and the REST API.

Everything a user types is bounded here once: the words of a text search, the values
of a filter, tags, notes and user fields (length and characters), and numbers, which
are read from ASCII digits only (``int("٣")`` is 3 in Python; here it is no number)
and must fit the 64-bit integers and finite doubles the index compares them with.
Refusals raise :class:`~catalog.errors.QueryLimitError` or
:class:`~catalog.errors.AnnotationLimitError` (both ``ValueError``), naming the input
and the limit.

>>> parse_int("42", "limit"), number("-1.5e3"), number("٣")
(42, -1500.0, None)
>>> check_tag("a\\x00b")
Traceback (most recent call last):
...
catalog.errors.AnnotationLimitError: tag 'a\\x00b': U+0000 is a control character; give printable text
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable

from .errors import AnnotationLimitError, InputLimitError, QueryLimitError
from .paths import to_db

#: characters of a text search (``cat.search(text)``, REST ``q``)
MAX_QUERY_CHARS = 1_000
#: words of a text search, counted as the word index counts them (``"pore-network"``
#: is two); every word is one more lookup in the index
MAX_QUERY_WORDS = 64
#: filters in one ``search`` call (each a field or metadata key)
MAX_FILTERS = 64
#: values of one filter (a list means any of them), e.g. dataset ids
MAX_FILTER_VALUES = 10_000
#: fields in one ``facets`` call, or keys in one ``sort_by``
MAX_FIELDS = 64
#: characters of one tag, and tags in one ``tag``/``untag`` call
MAX_TAG_CHARS = 200
MAX_TAGS = 100
#: characters of one note
MAX_NOTE_CHARS = 20_000
#: characters of a user field (``cat.set``); a description may be as long as a note
MAX_FIELD_CHARS = 1_000
#: characters of a path a client names (REST job bodies), and bytes of one of its parts
MAX_PATH_CHARS = 4_096
MAX_NAME_BYTES = 255
#: bytes of a lineage step's or saved result's parameters as JSON
MAX_PARAMS_BYTES = 100_000
#: integers compare with the index's 64-bit columns
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: in notes and descriptions, the control characters that are layout
_LAYOUT = frozenset("\n\r\t")
_ALL_CONTROLS = frozenset(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))


def number(text: str) -> int | float | None:
    """``text`` as an int or a float when it is one in ASCII digits (surrounding spaces
    allowed), else ``None``; ``inf``, ``nan``, ``1_000`` and non-ASCII digits are no
    numbers. Range is not checked here (see :func:`check_number`).

    >>> number(" 12 "), number("1e-3"), number("inf"), number("３")
    (12, 0.001, None, None)
    """
    s = text.strip()
    if _INT.fullmatch(s):
        try:
            return int(s)
        except ValueError:  # more digits than Python converts: only as a float
            return float(s)
    if _FLOAT.fullmatch(s):
        return float(s)
    return None


def check_number(value: int | float, what: str = "", *, integer: bool = False) -> int | float:
    """``value`` if it is finite and, for ``integer`` fields, within the 64-bit range
    the index stores; :class:`QueryLimitError` (naming ``what``, if given) otherwise.

    >>> check_number(3, "ndim")
    3
    """
    name = f"{what}: " if what else ""
    if isinstance(value, float) and not math.isfinite(value):
        raise QueryLimitError(f"{name}{value!r} is not a finite number")
    if integer and not INT_MIN <= value <= INT_MAX:
        raise QueryLimitError(
            f"{name}{_short(value)} is out of range; whole numbers here are between "
            f"{INT_MIN} and {INT_MAX}"
        )
    return value


def parse_int(text: str, what: str, lo: int = INT_MIN, hi: int = INT_MAX) -> int:
    """A whole number from ASCII digits within ``lo..hi``; :class:`QueryLimitError`
    naming ``what`` otherwise (``InputLimitError`` is a ``ValueError``).

    >>> parse_int("7", "offset", 0, 10)
    7
    """
    s = text.strip()
    if len(s) > 25 or not _INT.fullmatch(s):
        raise QueryLimitError(f"{what} must be a whole number (digits 0-9), not {_short(text)}")
    value = int(s)
    if not lo <= value <= hi:
        raise QueryLimitError(f"{what} must be between {lo} and {hi}, not {value}")
    return value


def parse_float(text: str, what: str) -> float:
    """A finite number from ASCII digits (``1.5``, ``-2e-6``).

    >>> parse_float("99.5", "percentiles")
    99.5
    """
    value = number(text)
    if value is None:
        raise QueryLimitError(f"{what} must be a number (digits 0-9), not {_short(text)}")
    try:
        return float(check_number(float(value), what))
    except OverflowError:
        raise QueryLimitError(f"{what}: {_short(text)} is out of range") from None


def _short(value: object, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} characters)"


#: bidirectional overrides and isolates: they make a label read as something else
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refused_char(
    text: str, allowed: frozenset[str] = frozenset(), labels: bool = False
) -> str | None:
    """Why ``text`` cannot be stored as it is, or ``None``: a control character (NUL,
    escape...; ``allowed`` ones pass), an unpaired surrogate, and in ``labels`` (tags,
    field values) a bidirectional override."""
    for ch in text:
        if ch in allowed:
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc":
            return f"U+{ord(ch):04X} is a control character"
        if cat == "Cs":
            return f"U+{ord(ch):04X} is an unpaired surrogate, not text"
        if labels and (ch in _BIDI or cat in ("Zl", "Zp")):
            return f"U+{ord(ch):04X} is an invisible layout control"
    return None


def _check_text(
    text: object,
    what: str,
    limit: int,
    error: type[InputLimitError],
    *,
    allowed: frozenset[str] = frozenset(),
    labels: bool = False,
) -> str:
    if not isinstance(text, str):
        raise error(f"{what} is text, not {type(text).__name__}")
    if len(text) > limit:
        raise error(f"{what} is longer than {limit:,} characters ({len(text):,})")
    why = _refused_char(text, allowed, labels)
    if why:
        raise error(f"{what} {_short(text)}: {why}; give printable text")
    return text


def check_tag(tag: object) -> str:
    """A tag as stored: whitespace runs become one space; 1 to :data:`MAX_TAG_CHARS`
    characters, none of them a control character or a bidirectional override.

    >>> check_tag("  paper  2025 ")
    'paper 2025'
    """
    if not isinstance(tag, str):
        raise AnnotationLimitError(f"a tag is text, not {type(tag).__name__}: {_short(tag)}")
    clean = " ".join(tag.split())
    if not clean:
        raise AnnotationLimitError("empty tag")
    return _check_text(clean, "tag", MAX_TAG_CHARS, AnnotationLimitError, labels=True)


def check_tags(tags: Iterable[object], *, removing: bool = False) -> list[str]:
    """The tags of one call, cleaned and de-duplicated; at most :data:`MAX_TAGS`.
    When ``removing``, a tag stored before these rules (one holding a control
    character) is accepted, so it can still be removed.

    >>> check_tags(["b", " b ", "a"])
    ['b', 'a']
    """
    tags = list(tags)
    if len(tags) > MAX_TAGS:
        raise AnnotationLimitError(f"{len(tags)} tags in one call; at most {MAX_TAGS}")
    out = []
    for tag in tags:
        if removing and isinstance(tag, str) and tag.strip():
            clean = " ".join(tag.split())
            limit = MAX_TAG_CHARS
            out.append(
                _check_text(clean, "tag", limit, AnnotationLimitError, allowed=_ALL_CONTROLS)
            )
        else:
            out.append(check_tag(tag))
    return list(dict.fromkeys(out))


def check_note(text: object) -> str:
    """A note: some text, at most :data:`MAX_NOTE_CHARS` characters; line breaks and
    tabs are kept, other control characters refused.

    >>> check_note("ring artefacts in the top slices")
    'ring artefacts in the top slices'
    """
    text = _check_text(text, "the note", MAX_NOTE_CHARS, AnnotationLimitError, allowed=_LAYOUT)
    if not text.strip():
        raise AnnotationLimitError("a note needs some text")
    return text


def check_field_value(key: str, value: str) -> str:
    """A user field's text (``cat.set``): one line of at most :data:`MAX_FIELD_CHARS`
    characters, except ``description``, which may hold lines up to a note's size.

    >>> check_field_value("sample", "S01")
    'S01'
    """
    if key == "description":
        return _check_text(value, key, MAX_NOTE_CHARS, AnnotationLimitError, allowed=_LAYOUT)
    return _check_text(value, key, MAX_FIELD_CHARS, AnnotationLimitError, labels=True)


def check_step(step: object) -> str:
    """A lineage step name (``threshold``): one line of at most :data:`MAX_TAG_CHARS`
    characters.

    >>> check_step("watershed")
    'watershed'
    """
    return _check_text(step, "step", MAX_TAG_CHARS, AnnotationLimitError, labels=True)


def check_params_json(text: str, what: str = "params") -> str:
    """Parameters of a lineage step or saved result as JSON text, at most
    :data:`MAX_PARAMS_BYTES` bytes (the values are kept, so bulky arrays do not belong
    there: save them as a dataset).

    >>> check_params_json('{"sigma": 2}')
    '{"sigma": 2}'
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PARAMS_BYTES:
        raise AnnotationLimitError(
            f"{what} take {size:,} bytes as JSON; at most {MAX_PARAMS_BYTES:,} "
            "(save bulky values as a dataset and name it)"
        )
    return text


def check_query_text(text: str, count_words: Callable[[str], int]) -> str:
    """A text search within :data:`MAX_QUERY_CHARS` characters and
    :data:`MAX_QUERY_WORDS` words (``count_words`` counts them as the index does);
    file-name bytes that are not UTF-8 (surrogate escapes) are searchable.

    >>> check_query_text("sandstone -raw", lambda t: len(t.split()))
    'sandstone -raw'
    """
    _check_text(to_db(text), "the search text", MAX_QUERY_CHARS, QueryLimitError, allowed=_LAYOUT)
    n = count_words(text)
    if n > MAX_QUERY_WORDS:
        raise QueryLimitError(
            f"the search text has {n} words; at most {MAX_QUERY_WORDS} are searched at "
            "once: keep the distinctive ones, or narrow the search with filters"
        )
    return text


def check_filter_text(value: str, what: str, *, path: bool = False) -> str:
    """A text value of a filter: at most :data:`MAX_PATH_CHARS` characters and no
    unpaired surrogate, except, in ``path`` fields, the escapes of file-name bytes
    that are not UTF-8. Control characters pass: file names may hold them.

    >>> check_filter_text("sand*", "name")
    'sand*'
    """
    text = to_db(value) if path else value
    _check_text(text, what, MAX_PATH_CHARS, QueryLimitError, allowed=_ALL_CONTROLS)
    return value


__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_FIELDS",
    "MAX_FIELD_CHARS",
    "MAX_FILTERS",
    "MAX_FILTER_VALUES",
    "MAX_NAME_BYTES",
    "MAX_NOTE_CHARS",
    "MAX_PATH_CHARS",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_WORDS",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "check_field_value",
    "check_filter_text",
    "check_note",
    "check_number",
    "check_query_text",
    "check_tag",
    "check_tags",
    "number",
    "parse_float",
    "parse_int",
]
