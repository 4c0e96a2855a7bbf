"""Input hygiene of the REST API on a real Jupyter server: values that used to end in
HTTP 500 are 400 with a message, every body field is known and bounded, numbers are
ASCII digits, and no route answers 500 to odd input (a small fuzz of every route)."""

from __future__ import annotations

import json

import pytest

from catalog import open_catalog
from catalog.inputs import MAX_NOTE_CHARS, MAX_QUERY_WORDS
from jupyter_ext.errors import SAFE_500


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


# -- values that gave HTTP 500 ------------------------------------------------------------

REFUSED = [
    # (endpoint, query, words the message holds)
    (
        "facets",
        {"fields": "meta.imagej.spacing", "meta.imagej.spacing": "9" * 400},
        "out of range",
    ),
    ("search", {"meta.imagej.spacing": ">" + "9" * 400}, "out of range"),
    ("search", {"acquired": "9999-99"}, "no month 99"),
    ("search", {"acquired": "0000"}, "years start at 0001"),
    ("search", {"acquired": "0001-13"}, "no month 13"),
    ("search", {"size": "inf"}, "cannot read 'inf' as a size"),
    ("facets", {"size": "nan"}, "cannot read 'nan' as a size"),
    ("search", {"size": "-1e308..1e308"}, "size: "),
    ("search", {"size": "1e400"}, "size: inf is not a finite number"),
    ("search", {"ndim": "9" * 400}, "ndim: "),
    ("search", {"levels": ">" + "9" * 30}, "out of range"),
    ("search", {"q": words(3000)}, "longer than 1,000 characters"),
    ("search", {"q": words(MAX_QUERY_WORDS + 1)}, f"at most {MAX_QUERY_WORDS} are searched"),
    ("facets", {"q": words(MAX_QUERY_WORDS + 1)}, "words"),
    # digits of other scripts are no numbers
    ("search", {"ndim": "٣"}, "ndim: '٣' is not a number (write digits 0-9)"),
    ("search", {"ndim": "３"}, "digits 0-9"),
    ("search", {"limit": "３"}, "limit must be a whole number (digits 0-9)"),
    ("search", {"offset": "1_0"}, "digits 0-9"),
    ("facets", {"limit": "٥٠"}, "digits 0-9"),
    # too many of something
    ("facets", {"fields": ",".join(f"f{i}" for i in range(65))}, "at most 64"),
    ("facets", {"ranges": ",".join(["size", "levels"] * 40 + [f"x{i}" for i in range(70)])}, "64"),
]


@pytest.mark.parametrize(("path", "params", "message"), REFUSED)
async def test_values_that_gave_500_are_400_with_a_message(api, path, params, message) -> None:
    r = await api(path, params=params)
    assert r.status == 400, (params, r.status, r.body[:200])
    assert message in r.json["error"], r.json["error"]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        # a text range of numbers compares as text (it was a DuckDB type error)
        ({"name": "1..9"}, []),
        (
            {"name": "a..t"},
            ["cell_a.tif", "sandstone_0.tif", "sandstone_1.tif", "sandstone_2.tif"],
        ),
        ({"tags": "0..zz"}, ["sandstone_0.tif"]),
        # 3,000 values of a metadata key (one subquery each exceeded DuckDB's depth)
        ({"meta.imagej.spacing": ",".join(str(i + 1) for i in range(3000)) + ",0.5"}, "all"),
        ({"acquired": "9999"}, []),  # the year after it does not exist
        ({"q": words(MAX_QUERY_WORDS)}, []),  # the most words a search takes
        ({"q": " ".join(f"-w{i}" for i in range(MAX_QUERY_WORDS))}, "all"),
    ],
)
async def test_edge_values_search_normally(api, params, names) -> None:
    r = await api("search", params=params)
    assert r.status == 200, r.body[:300]
    found = [row["name"] for row in r.json["rows"]]
    if names == "all":
        assert r.json["total"] == 4
    else:
        assert found == names


async def test_facets_of_a_metadata_key(api) -> None:
    r = await api("facets", params={"fields": "meta.imagej.spacing,imagej.unit"})
    assert r.status == 200, r.body
    assert r.json["facets"]["meta.imagej.spacing"] == [{"value": "0.5", "count": 4}]
    assert r.json["facets"]["imagej.unit"] == [{"value": "um", "count": 4}]
    r = await api("facets", params={"fields": "meta.imagej.spacing", "q": "cell"})
    assert r.json["facets"]["meta.imagej.spacing"] == [{"value": "0.5", "count": 1}]
    for bad, message in [
        ("meta.nosuchkey", "no dataset has the metadata key 'nosuchkey'"),
        ("meta.", "needs a key after the dot"),
        ("meta." + "k" * 5000, "no dataset has the metadata key"),
    ]:
        r = await api("facets", params={"fields": bad})
        assert r.status == 400 and message in r.json["error"], r.body[:200]


# -- slice.png and the token parameter ----------------------------------------------------


async def test_slice_png_takes_the_token_in_the_url_like_thumbnails(
    api, lab, jp_auth_header
) -> None:
    """<img> elements cannot send headers: Jupyter's ?token= must work for slices."""
    token = jp_auth_header["Authorization"].split()[-1]
    ident = lab.id("sandstone_0.tif")
    no_header = {"Authorization": ""}
    for parts in (("thumbnails", f"{ident}.png"), ("datasets", ident, "slice.png")):
        r = await api(*parts, params={"token": token, "z": "3"}, headers=no_header)
        assert r.status == 200, (parts, r.status, r.body[:200])
        assert r.headers["Content-Type"] == "image/png"
        assert r.body.startswith(b"\x89PNG")
        r = await api(*parts, params={"token": "wrong"}, headers=no_header)
        assert r.status in (401, 403)
    r = await api("datasets", ident, "slice.png", params={"z": "٣"})
    assert r.status == 400 and "digits 0-9" in r.json["error"]
    r = await api("datasets", ident, "slice.png", params={"percentiles": "١,٩٩"})
    assert r.status == 400 and "percentiles" in r.json["error"]


# -- request bodies -----------------------------------------------------------------------


def notes_of(lab, ident: str) -> list:
    return open_catalog(lab.index)[ident].metadata["notes"]


NOTE_BODIES = [
    # (raw body, status, words the message holds)
    ('{"text": "\\udcff"}', 400, "unpaired surrogate"),  # a JSON escape that is no text
    ('{"text": "a\\u0000b"}', 400, "U+0000 is a control character"),
    ('{"text": "ok", "txt": "typo"}', 400, "unknown field 'txt'"),
    ('{"text": "ok", "user": "someone else"}', 400, "unknown field 'user'"),
    ('{"text": NaN}', 400, "not valid JSON"),
    ('{"text": ["a"]}', 400, "non-empty string"),
    ("[" * 100_000 + "]" * 100_000, 400, "not valid JSON"),  # deeper than the parser goes
    ('{"text": "' + "x" * (MAX_NOTE_CHARS + 1) + '"}', 400, "longer than 20,000 characters"),
    ('{"text": "' + "x" * 5_000_000 + '"}', 413, "at most 1,000,000"),
]


@pytest.mark.parametrize(("body", "status", "message"), NOTE_BODIES, ids=range(len(NOTE_BODIES)))
async def test_malformed_note_bodies_are_refused_and_nothing_is_stored(
    api, lab, body, status, message
) -> None:
    ident = lab.id("cell_a.tif")
    r = await api("datasets", ident, "notes", method="POST", body=body)
    assert r.status == status, (r.status, r.body[:200])
    assert message in r.json["error"], r.json["error"]
    assert notes_of(lab, ident) == []


async def test_a_note_at_the_size_limit_is_kept(api, lab) -> None:
    ident = lab.id("cell_a.tif")
    text = "first line\n\t" + "y" * (MAX_NOTE_CHARS - 12)
    r = await api("datasets", ident, "notes", method="POST", body={"text": text})
    assert r.status == 201, r.body[:200]
    assert [n["text"] for n in notes_of(lab, ident)] == [text]


@pytest.mark.parametrize(
    ("method", "body", "message"),
    [
        ("POST", '{"tags": ["a\\u0000b"]}', "U+0000 is a control character"),
        ("POST", '{"tags": ["\\ud800"]}', "unpaired surrogate"),
        ("POST", '{"tags": ["ok"], "tag": "x"}', "unknown field 'tag'"),
        ("POST", json.dumps({"tags": [f"t{i}" for i in range(101)]}), "at most 100"),
        ("POST", json.dumps({"tags": ["x" * 201]}), "longer than 200 characters"),
        ("DELETE", '{"tags": ["porosity"], "force": true}', "unknown field 'force'"),
    ],
)
async def test_bad_tag_bodies_are_refused_and_nothing_changes(api, lab, method, body, message):
    ident = lab.id("sandstone_0.tif")
    r = await api("datasets", ident, "tags", method=method, body=body)
    assert r.status == 400, (r.status, r.body[:200])
    assert message in r.json["error"], r.json["error"]
    assert open_catalog(lab.index)[ident].metadata["tags"] == ["porosity"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "scan", "path": "a" * 5000}, "at most 4,096"),
        ({"kind": "scan", "path": "drive/" + "b" * 300}, "names hold at most 255 bytes"),
        # short enough itself, too long once joined to the server's root folder
        ({"kind": "scan", "path": "/".join(["c" * 200] * 20 + ["c" * 70])}, "longer than 4,096"),
        ({"kind": "export", "dest": "d" * 5000, "ids": ["abcdefgh"]}, "at most 4,096"),
        ({"kind": ["scan"], "path": "drive"}, "kind must be one of"),
        ({"kind": {"scan": 1}}, "kind must be one of"),
        ({"kind": "pyramid", "id": "abcdefgh", "priority": 1}, "not ['priority']"),
    ],
)
async def test_bad_job_bodies_are_400_and_start_nothing(api, body, message) -> None:
    r = await api("jobs", method="POST", body=body)
    assert r.status == 400, (r.status, r.body[:200])
    assert message in r.json["error"], r.json["error"]
    assert (await api("jobs")).json["jobs"] == []


# -- a small fuzz of every route ----------------------------------------------------------

ODD = [
    "",
    " ",
    "inf",
    "-inf",
    "nan",
    "-1",
    "-1e308..1e308",
    "9" * 400,
    "٣",
    "１２",
    "1_0",
    ">" + "9" * 40,
    "1e400",
    "9999",
    "0000",
    "9999-12-31",
    "..",
    ",,",
    "x" * 5000,
    "[1,2]",
    "*",
    "%_\\",
    "1..",
    "..nan",
    "!=",
    "\u202e",
    b"\xff\xfe",  # not UTF-8
]
SEARCH_KEYS = [
    "q",
    "sort",
    "offset",
    "limit",
    "files",
    "size",
    "ndim",
    "acquired",
    "voxel_size",
    "name",
    "path",
    "tags",
    "notes",
    "meta.imagej.spacing",
    "derived_from",
    "shape",
    "status",
    "levels",
    "id",
]


def assert_not_500(r, what) -> None:
    assert r.status < 500, (what, r.status, r.body[:200])
    assert SAFE_500.encode() not in r.body, what
    if r.status >= 400:
        assert json.loads(r.body)["error"], what


#: the values of the quick fuzz (the slow one tries every value above)
QUICK = ["", "nan", "9" * 400, "٣", "-1e308..1e308", "x" * 5000, b"\xff\xfe"]
BODY_VALUES = [None, 1.5, True, "", [], [1], {}, {"a": 1}, "x" * 5000, ["x"] * 200]


async def test_no_route_answers_500_to_odd_input(api, lab) -> None:
    await fuzz(api, lab, QUICK, BODY_VALUES[::3])


@pytest.mark.slow
async def test_no_route_answers_500_to_odd_input_thorough(api, lab) -> None:
    await fuzz(api, lab, ODD, BODY_VALUES)


async def fuzz(api, lab, odd: list, body_values: list) -> None:
    """Every route with each of ``odd`` in every parameter, and each of
    ``body_values`` in every body field: never a 500, always a message."""
    ident = lab.id("sandstone_0.tif")
    for value in odd:
        for key in SEARCH_KEYS:
            r = await api("search", params={key: value})
            assert_not_500(r, ("search", key, value))
        for key in ("fields", "ranges", "limit", "modality", "meta.imagej.spacing"):
            r = await api("facets", params={key: value})
            assert_not_500(r, ("facets", key, value))
        for key in ("dims", "size", "level", "percentiles", "z", "x", "token", "other"):
            r = await api("datasets", ident, "slice.png", params={key: value})
            assert_not_500(r, ("slice", key, value))
        r = await api("datasets", ident, "tags", method="DELETE", params={"tag": value})
        assert_not_500(r, ("untag", value))
    for value in body_values:
        for parts, key in (
            (("datasets", ident, "tags"), "tags"),
            (("datasets", ident, "notes"), "text"),
        ):
            r = await api(*parts, method="POST", body={key: value})
            assert_not_500(r, (parts[-1], value))
        for job in (
            {"kind": "scan", "path": value},
            {"kind": "scan", "path": "drive", "pattern": value},
            {"kind": "scan", "path": "drive", "jobs": value},
            {"kind": "pyramid", "id": value},
            {"kind": "export", "dest": "out", "ids": value},
            {"kind": "export", "dest": value, "ids": [ident]},
            {"kind": "export", "dest": "out", "search": value or {"q": "nothing-matches"}},
            {"kind": "export", "dest": "out", "ids": [ident], "mode": value},
            {"kind": value},
        ):
            r = await api("jobs", method="POST", body=job)
            assert_not_500(r, job)
    for raw in [b"", b"null", b"[]", b"1", b'"x"', b"\xff\xfe", b"{", b'{"a": Infinity}']:
        for parts in (("datasets", ident, "notes"), ("datasets", ident, "tags"), ("jobs",)):
            r = await api(*parts, method="POST", body=raw)
            assert_not_500(r, (parts, raw))
    for parts in (("datasets", "%ff"), ("jobs", "x" * 5000), ("thumbnails", "\u202e.png")):
        assert_not_500(await api(*parts), parts)
