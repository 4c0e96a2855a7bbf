"""The ``info`` route serves the column registry: the sidebar lists dataset fields
from it (tests/test_columns.py checks the TypeScript keeps no list of its own)."""

from __future__ import annotations

from catalog.index import columns


async def test_info_serves_the_column_registry(api, lab) -> None:
    r = await api("info")
    assert r.status == 200
    served = r.json["columns"]
    assert served == columns.describe()
    detail = sorted((c for c in served if c["detail"] is not None), key=lambda c: c["detail"])
    assert [c["name"] for c in detail] == list(columns.names("detail"))
    labels = {c["name"]: c["label"] for c in served}
    assert labels["size"] == "size on disk" and labels["data_level"] == "data level"
    shown = {c["name"]: c["display"] for c in served}
    assert (shown["size"], shown["voxel_size"], shown["acquired"]) == ("bytes", "length", "time")
