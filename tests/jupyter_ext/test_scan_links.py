"""A server scan job never leaves the scanned folder through a symlink, and with
``follow_links`` it follows links only into the server's allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

from catalog import open_catalog

from .conftest import write_tiffs
from .test_jobs import wait_for


def linked_drive(root_dir: Path, outside: Path) -> Path:
    """``root_dir/drive`` with a link to a folder of the server's root (allowed) and a
    link to a folder outside every allowed root."""
    drive = root_dir / "drive"
    write_tiffs(drive, ["mine.tif"], seed=11)
    write_tiffs(root_dir / "other", ["shared.tif"], seed=12)
    write_tiffs(outside, ["private.tif"], seed=13)
    os.symlink("../other", drive / "side")
    os.symlink(outside, drive / "out")
    return drive


def names(index: Path) -> list[str]:
    cat = open_catalog(index)
    return sorted(cat[i].metadata["name"] for i in cat.search(name="*.tif"))


async def test_a_scan_job_records_links_out_of_its_folder_and_follows_none(
    api, lab, jp_root_dir, tmp_path
) -> None:
    before = names(lab.index)
    linked_drive(jp_root_dir, tmp_path / "outside")
    r = await api("jobs", method="POST", body={"kind": "scan", "path": "drive", "jobs": 1})
    assert r.status == 202, r.body
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert sorted(names(lab.index)) == sorted([*before, "mine.tif"])
    links = {Path(x["path"]).name: x["target"] for x in done["result"]["links"]}
    assert links == {
        "side": str((jp_root_dir / "other").resolve()),
        "out": str((tmp_path / "outside").resolve()),
    }


async def test_follow_links_in_a_job_stays_inside_the_allowed_roots(
    api, lab, jp_root_dir, tmp_path
) -> None:
    before = names(lab.index)
    linked_drive(jp_root_dir, tmp_path / "outside")
    body = {"kind": "scan", "path": "drive", "jobs": 1, "follow_links": True}
    r = await api("jobs", method="POST", body=body)
    assert r.status == 202, r.body
    assert r.json["args"]["follow_links"] is True
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    # the server's own folder is allowed: followed; elsewhere: recorded, never read
    assert sorted(names(lab.index)) == sorted([*before, "mine.tif", "shared.tif"])
    assert [Path(x["path"]).name for x in done["result"]["links"]] == ["out"]
    r = await api("jobs", method="POST", body={**body, "follow_links": "yes"})
    assert r.status == 400 and "follow_links must be true or false" in r.json["error"]
