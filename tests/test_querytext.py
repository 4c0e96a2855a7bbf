"""The filter-value codec the command line and REST share (catalog.querytext): encode
is the exact inverse of decode over awkward values, text without backslashes reads as
it always did, and a CLI search matches a value holding ``,`` and ``..``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from catalog import open_catalog
from catalog.cli import main
from catalog.errors import QueryError
from catalog.inputs import number
from catalog.querytext import decode, encode, read_value

from .catalogue_rows import write_rows

AWKWARD = [
    "",
    " ",
    "  ",
    "\t",
    ",",
    ",,",
    ".",
    "..",
    "...",
    "a..b",
    "a...b",
    "a,b",
    "a, b",
    "1,5",
    "1..5",
    "\\",
    "\\\\",
    "a\\",
    "\\,",
    "\\..",
    "C:\\data\\x",
    "<5um",
    ">=1GB",
    "!=CT",
    "<a..b",
    "!",
    "sand*",
    "é..ü",
    "日本,語",
    "\u2003x\u2003",
    "x ",
    " x",
    "tab\there",
    "\U0001f600..\U0001f601",
]
PIECES = [",", ".", "..", "\\", " ", "\t", "\u2003", "<", ">", "!", "a", "é", "日本", "*", "0"]


def _random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(PIECES, k=rng.randint(0, 7))) for _ in range(n)]


TEXTS = AWKWARD + _random_texts(400, seed=14)


def test_text_values_round_trip() -> None:
    for text in TEXTS:
        assert decode(encode(text)) == text, text


def test_lists_round_trip() -> None:
    rng = random.Random(1)
    items = [t for t in TEXTS if t]
    for _ in range(500):
        value = rng.sample(items, rng.randint(0, 4))
        assert decode(encode(value)) == value, value
    assert encode(["a"]) == "a," and encode([]) == ","  # a list of one, the empty list


def test_ranges_round_trip() -> None:
    rng = random.Random(2)
    ends = [None, *(t for t in TEXTS if t)]
    for _ in range(1000):
        value = (rng.choice(ends), rng.choice(ends))
        assert decode(encode(value)) == value, value


def test_escapes_as_documented() -> None:
    assert decode(r"a\,b") == "a,b" and decode(r"1\..2") == "1..2"
    assert decode(r"a\,b,c") == ["a,b", "c"] and decode(r"\ a ,b") == [" a", "b"]
    assert decode(r"a\..b..c") == ("a..b", "c")
    assert decode(r"\<5..6") == ("<5", "6")  # an escaped "<" is no comparison
    assert decode(r"C:\data") == r"C:\data"  # a backslash before anything else is itself
    assert decode("a\\\\,b") == ["a\\", "b"]
    assert read_value(r"1\,5") == "1,5" and read_value(r"0\..5") == "0..5"


def _old_cli_value(text: str) -> Any:
    """How the command line read a value before the codec (catalog/cli_catalogue.py)."""

    def num(t: str) -> Any:
        found = number(t)
        digits = t.strip().lstrip("+-")
        if found is None or (isinstance(found, int) and len(digits) > 1 and digits[0] == "0"):
            return t
        return found

    if ".." in text and not text.startswith(("<", ">", "!")):
        lo, _, hi = text.partition("..")
        return (num(lo) if lo else None, num(hi) if hi else None)
    if "," in text:
        return [num(v.strip()) for v in text.split(",") if v.strip()]
    return num(text)


def test_text_without_backslashes_reads_as_before() -> None:
    for text in [
        *(t for t in TEXTS if "\\" not in t),
        "1um..10um",
        "..5",
        "2023..",
        "CT, MR,",
        "0001..0002",
        "0.5",
        "<=5um",
        "2024-03..2024-06",
        " 12 ",
    ]:
        assert read_value(text) == _old_cli_value(text), text


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (["a", ""], "list item is empty"),
        (("", "b"), "low end of a range is empty"),
        (("a", "b", "c"), r"a range is \(lo, hi\)"),
        ({"a"}, "set has no text form"),
        ([b"a"], "bytes has no text form"),
    ],
)
def test_values_without_a_text_form_are_refused(value: Any, why: str) -> None:
    with pytest.raises(QueryError, match=why):
        encode(value)


def test_numbers_are_written_as_text() -> None:
    assert encode(0.5) == "0.5" and read_value(encode(0.5)) == 0.5
    assert encode((1, None)) == "1.." and read_value(encode([2023, 7])) == [2023, 7]


def test_cli_search_matches_a_value_with_comma_and_dots(tmp_path: Path, capsys) -> None:
    index = tmp_path / "lab.duckdb"
    ids = write_rows(index)
    target = ids["sandstone_01_rec"]
    open_catalog(index).set(target, sample="a,b..c")
    escaped = encode("a,b..c")
    assert escaped == r"a\,b\..c"

    def found(*args: str) -> list[str]:
        assert main(["search", *args, "--ids", "--files", "-i", str(index)]) == 0
        return capsys.readouterr().out.split()

    assert found("--sample", escaped) == [target]
    assert found("--where", f"sample={escaped}") == [target]
    assert found("--where", f"sample={encode(['a,b..c', 'nothing'])}") == [target]
    assert found("--sample", "a,b") == []  # unescaped: the list of "a" and "b"
