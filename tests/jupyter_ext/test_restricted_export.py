"""A REST export of restricted data, or of data derived from it, is refused at once
(400 naming the dataset and the cause) instead of being queued and failing later."""

from __future__ import annotations

from catalog import open_catalog

from .test_jobs import wait_for


async def test_an_export_of_restricted_data_is_refused_before_it_is_queued(
    api, lab, jp_root_dir
) -> None:
    cat = open_catalog(lab.index)
    parent, child = lab.id("sandstone_0.tif"), lab.id("sandstone_1.tif")  # child derives
    cat.set(parent, access="restricted")  # from parent (linked before the restriction)
    for ids, named, why in (
        ([parent], parent, "access 'restricted'"),
        ([child, lab.id("cell_a.tif")], child, f"derived from restricted {parent}"),
    ):
        body = {"kind": "export", "dest": "exports/x", "ids": ids}
        r = await api("jobs", method="POST", body=body)
        assert r.status == 400, r.body
        assert named in r.json["error"] and why in r.json["error"]
        assert "allow_restricted" in r.json["error"]
    body = {"kind": "export", "dest": "exports/x", "search": {"q": "sandstone"}}
    r = await api("jobs", method="POST", body=body)
    assert r.status == 400 and parent in r.json["error"] and child in r.json["error"]
    assert (await api("jobs")).json["jobs"] == []  # nothing was queued
    assert not (jp_root_dir / "exports").exists()
    r = await api("jobs", method="POST", body={**body, "allow_restricted": True})
    assert r.status == 202, r.body
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["datasets"] == 3
