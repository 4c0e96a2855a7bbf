"""The sidebar's search box over REST: ``search?query=...`` reads field terms
(``modality:LM``, ``size:>20KB``) exactly as ``voxcat search --where`` reads them,
refuses bad fields and values with a clear 400, and ``complete`` offers field names and
the values datasets have."""

from __future__ import annotations

import pytest

from catalog import open_catalog
from catalog.cli import main


def cli_ids(capsys: pytest.CaptureFixture[str], index, *args: str) -> list[str]:
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--ids", "--sort", "name", *args]) == 0
    return capsys.readouterr().out.split()


async def rest_ids(api, query: str) -> list[str]:
    r = await api("search", params={"query": query, "sort": "name", "limit": "100"})
    assert r.status == 200, r.body
    return [row["id"] for row in r.json["rows"]]


async def test_field_terms_select_what_the_command_line_selects(api, lab, capsys) -> None:
    sizes = sorted({int(s) for s in open_catalog(lab.index).df["size"]})
    middle = (sizes[0] + sizes[1]) // 2  # between the two smallest sizes
    cases = [
        ("modality:LM", ["--where", "modality=LM"]),
        (f"size:>{middle}", ["--where", f"size=>{middle}"]),
        (f"size=<{middle}", ["--where", f"size=<{middle}"]),
        ("sandstone tags:porosity", ["sandstone", "--where", "tags=porosity"]),
        ("project:cells,nothing", ["--where", "project=cells,nothing"]),
        ('name:"sandstone_*"', ["--where", "name=sandstone_*"]),
        ("-sandstone ndim:3", ["--", "-sandstone", "--where", "ndim=3"]),
    ]
    seen = set()
    for query, args in cases:
        if args[0] == "--":  # an excluded word first: argparse needs it after the options
            args = [*args[2:], "--", args[1]]
        expected = cli_ids(capsys, lab.index, *args)
        assert await rest_ids(api, query) == expected, query
        seen.add(len(expected))
    # no case is empty, and they differ: the filters really select
    assert 0 not in seen and len(seen) >= 2, seen
    everything = len(open_catalog(lab.index))
    assert 0 < len(await rest_ids(api, f"size:>{middle}")) < everything


async def test_query_field_terms_add_to_query_string_filters(api, lab) -> None:
    r = await api("search", params={"query": "project:cells", "modality": "CT"})
    assert r.status == 200, r.body
    names = {row["name"] for row in r.json["rows"]}
    # project cells (cell_a, modality LM) AND modality CT: nothing
    assert names == set()
    r = await api("search", params=[("query", "project:nothing"), ("project", "cells")])
    assert r.status == 200, r.body  # one field in both places: any of
    assert [row["name"] for row in r.json["rows"]] == ["cell_a.tif"]
    r = await api("facets", params={"query": "modality:LM"})
    assert r.status == 200, r.body
    assert r.json["total"] == 1


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("modalty:CT", ["unknown search field 'modalty'", "modality"]),
        ("size:>lots", ["size"]),
        ("status:okk", ["status", "ok, failed"]),
        ("sort:-size", ["'sort' is not a search field"]),
    ],
)
async def test_a_bad_field_or_value_is_a_clear_error(api, lab, query, words) -> None:
    for route in ("search", "facets"):
        r = await api(route, params={"query": query})
        assert r.status == 400, (route, r.body)
        message = r.json["error"]
        for word in words:
            assert word in message, message


async def test_complete_field_names(api, lab) -> None:
    r = await api("complete", params={"query": "sandstone moda"})
    assert r.status == 200, r.body
    assert r.json["kind"] == "field"
    assert (r.json["start"], r.json["end"]) == (10, 14)
    assert [i["text"] for i in r.json["items"]] == ["modality:"]
    # in the middle of the text, at a cursor
    r = await api("complete", params={"query": "ta sandstone", "cursor": "2"})
    assert [i["text"] for i in r.json["items"]] == ["tag:", "tags:"]
    # excluded words and phrases are not field names
    r = await api("complete", params={"query": "-moda"})
    assert r.json["kind"] == "none" and r.json["items"] == []


async def test_complete_values_of_a_field(api, lab) -> None:
    r = await api("complete", params={"query": "sandstone modality:"})
    assert r.status == 200, r.body
    assert r.json["kind"] == "value" and r.json["field"] == "modality"
    assert (r.json["start"], r.json["end"]) == (10, 19)
    items = {i["label"]: i for i in r.json["items"]}
    assert items["LM"]["text"] == "modality:LM"
    assert items["LM"]["detail"] == "1 dataset"
    r = await api("complete", params={"query": "tags:po"})
    assert [i["text"] for i in r.json["items"]] == ["tags:porosity"]
    r = await api("complete", params={"query": "status:"})
    assert [i["label"] for i in r.json["items"]] == [
        "ok",
        "failed",
        "missing",
        "offline",
        "registered",
    ]
    r = await api("complete", params={"query": "size:"})
    assert ">1GB" in [i["label"] for i in r.json["items"]]
    # a value with a space is offered quoted, and the quoted term searches for it
    open_catalog(lab.index).set(lab.id("cell_a.tif"), sample="core 7")
    r = await api("complete", params={"query": "sample:co"})
    assert [i["text"] for i in r.json["items"]] == ['sample:"core 7"']
    assert await rest_ids(api, 'sample:"core 7"') == [lab.id("cell_a.tif")]


async def test_complete_refuses_an_unknown_field(api, lab) -> None:
    r = await api("complete", params={"query": "modalty:C"})
    assert r.status == 400
    assert "modality" in r.json["error"]
