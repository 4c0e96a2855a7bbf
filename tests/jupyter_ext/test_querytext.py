"""REST search reads filter values with the command line's codec (catalog.querytext):
a value holding ``,`` and ``..`` is matched when escaped."""

from __future__ import annotations

from catalog import open_catalog
from catalog.querytext import encode


async def test_search_matches_a_value_with_comma_and_dots(api, lab) -> None:
    open_catalog(lab.index).set(lab.id("cell_a.tif"), sample="a,b..c")

    async def names(params) -> list[str]:
        r = await api("search", params=params)
        assert r.status == 200, r.body
        return [row["name"] for row in r.json["rows"]]

    assert encode("a,b..c") == r"a\,b\..c"
    assert await names({"sample": r"a\,b\..c"}) == ["cell_a.tif"]
    assert await names({"sample": encode(["a,b..c", "nothing"])}) == ["cell_a.tif"]
    # a repeated key is any of its values, each decoded on its own
    assert await names([("sample", r"a\,b\..c"), ("sample", "x,y")]) == ["cell_a.tif"]
    assert await names({"sample": "a,b"}) == []  # unescaped: the list of "a" and "b"
