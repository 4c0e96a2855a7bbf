"""The REST dataset detail says which drive a dataset is on and whether it is mounted;
a dataset on an unplugged drive is ``offline``, still found, with its thumbnail."""

from __future__ import annotations

from catalog.drives import check_drives

from ..absent_drive import on_absent_drive


async def test_dataset_detail_names_the_drive_and_says_offline(api, lab) -> None:
    ident = lab.id("sandstone_0.tif")
    r = await api("datasets", ident)
    assert r.status == 200
    drive = r.json["on_drive"]
    assert drive["online"] is True and drive["text"].endswith("(online)")
    assert r.json["drive"] == drive["id"]

    mount = r.json["root"]  # the scanned folder, as if it were the top of a drive
    on_absent_drive(lab.index, mount, label="WD-2019")
    assert check_drives(lab.index)["went_offline"] == 5  # four images and a text file
    r = await api("datasets", ident)
    d = r.json
    assert d["status"] == "offline"
    assert d["on_drive"]["label"] == "WD-2019" and d["on_drive"]["online"] is False
    assert d["on_drive"]["text"] == "on drive WD-2019 (offline)"
    assert d["on_drive"]["mount_point"] == mount
    assert d["error"] == f"on drive WD-2019 (offline): plug it in; last seen at {mount}"
    assert d["slice"] is None and d["thumbnail"].endswith(f"thumbnails/{ident}.png")
    r = await api("thumbnails", f"{ident}.png")
    assert r.status == 200 and r.body.startswith(b"\x89PNG")
    r = await api("search", params={"q": "sandstone", "status": "offline"})
    assert r.json["total"] == 3
    assert all(row["thumbnail"].endswith(".png") for row in r.json["rows"])


async def test_drives_route_lists_them_and_checks_on_request(api, lab) -> None:
    r = await api("drives")
    assert r.status == 200
    [drive] = r.json["drives"]
    assert drive["online"] is True and drive["datasets"] == 5 and drive["only_here"] == 5
    root = (await api("datasets", lab.id("cell_a.tif"))).json["root"]
    on_absent_drive(lab.index, root, label="WD-2019")
    [drive] = (await api("drives")).json["drives"]
    assert (drive["label"], drive["online"]) == ("WD-2019", True)  # as last recorded
    [drive] = (await api("drives", params={"check": "true"})).json["drives"]
    assert (drive["label"], drive["online"], drive["where"]) == ("WD-2019", False, "offline")
    r = await api("drives", params={"check": "maybe"})
    assert r.status == 400 and "check" in r.json["error"]


async def test_a_scan_job_of_a_root_on_an_unplugged_drive_says_which_to_plug_in(
    api, lab, jp_root_dir
) -> None:
    import shutil

    from catalog import scan

    from .conftest import write_tiffs
    from .test_jobs import wait_for

    drive = jp_root_dir / "WD-2019"
    write_tiffs(drive / "scans", ["granite.tif"], seed=4)
    scan(drive / "scans", lab.index, jobs=1, progress=False)
    on_absent_drive(lab.index, drive, label="WD-2019")
    shutil.rmtree(drive)  # unplugged: its folder is gone
    r = await api("jobs", method="POST", body={"kind": "scan", "path": "WD-2019/scans"})
    assert r.status == 202, r.body
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    message = f"on drive WD-2019 (offline): plug it in; last seen at {drive}"
    assert done["result"]["offline"] == message
    assert done["result"]["counts"]["offline"] == 1
    r = await api("search", params={"q": "granite", "status": "offline"})
    assert r.json["total"] == 1
    # a folder that is on no drive the index knows is still refused
    r = await api("jobs", method="POST", body={"kind": "scan", "path": "nowhere"})
    assert r.status == 400 and "does not exist" in r.json["error"]


async def test_dataset_detail_lists_its_locations(api, lab) -> None:
    ident = lab.id("sandstone_0.tif")
    r = await api("datasets", ident)
    assert r.status == 200
    [place] = r.json["locations"]  # one copy known: where it was scanned
    assert place["primary"] is True and place["status"] == "ok"
    assert place["path"] == r.json["path"] and place["drive_id"] == r.json["drive"]
    assert place["last_seen"] and r.json["copies"] == 1
