"""Drives: every scanned root knows its volume; an unplugged drive's datasets are
``offline`` (searchable, with thumbnails), not ``missing``; a drive mounted elsewhere
is recognised by its UUID and its datasets keep their ids.

The ``slow`` tests use real separate filesystems: ext4 images under ``tmp_path``,
loop-mounted (root only); they skip, saying why, where mounting is not allowed. The
others run anywhere: the OS probing on this machine, the schema migration, and the
offline logic on a drive recorded under a UUID that is not mounted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from catalog import open_catalog, scan, verify
from catalog.cli import main
from catalog.drives import check_drives, list_drives, offline_message, relocate
from catalog.errors import DatasetUnavailable, DriveConflict
from catalog.index import SCHEMA_VERSION, cache_dir, connect
from catalog.volumes import Volume, _mountinfo, volume_of

from .absent_drive import on_absent_drive
from .drives import q
from .volumes import write_volumes

# -- anywhere ---------------------------------------------------------------------------


def test_mountinfo_lines_are_parsed_with_their_escapes() -> None:
    text = (
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "45 22 7:0 / /media/lab/my\\040drive rw,relatime - ext4 /dev/loop0 rw\n"
        "broken line\n"
    )
    got = _mountinfo(text)
    assert [(m.mount_point, m.majmin, m.fstype, m.source) for m in got] == [
        ("/", "254:0", "ext4", "/dev/vda"),
        ("/media/lab/my drive", "7:0", "ext4", "/dev/loop0"),
    ]


def test_a_volume_without_uuid_is_known_by_its_mount_point_or_network_source() -> None:
    assert Volume("/mnt/x", uuid="A4DE-01").id == "a4de-01"
    assert Volume("/mnt/x").id == "mount:/mnt/x"
    assert Volume("/mnt/x", device="srv:/export", fstype="nfs4").id == "net:srv:/export"
    assert Volume("/media/lab/WD-2019").name == "WD-2019"


def test_the_volume_of_a_folder_here_holds_it(tmp_path: Path) -> None:
    vol = volume_of(tmp_path)
    assert vol is not None
    assert str(tmp_path.resolve()).startswith(vol.mount_point.rstrip("/") + "/")
    assert vol.capacity and vol.capacity > 0 and vol.used is not None
    assert volume_of(tmp_path / "nothing here") is None


def test_an_index_at_schema_9_migrates_to_10_losing_nothing(tmp_path: Path) -> None:
    write_volumes(tmp_path / "drive", ["a.tif", "b.tif"], seed=3)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    cat = open_catalog(index)
    ident = sorted(cat)[0]
    cat.tag(ident, "porosity")
    cat.note(ident, "ring artefacts")
    con = duckdb.connect(str(index))
    try:  # what schema 9 looked like: no drives, roots or datasets.drive
        con.execute("DROP TABLE drives")
        con.execute("DROP TABLE roots")
        con.execute("ALTER TABLE datasets DROP COLUMN drive")
        con.execute("UPDATE settings SET value = '9' WHERE key = 'schema_version'")
        before = con.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        files = con.execute("SELECT * FROM files ORDER BY path").fetchall()
        audit = con.execute("SELECT count(*) FROM audit").fetchone()
    finally:
        con.close()
    assert list_drives(index, check=False) == []  # read-only: no tables yet
    cat = open_catalog(index)  # opening migrates
    assert q(index, "SELECT value FROM settings WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert SCHEMA_VERSION >= 10  # 11: locations (tests/test_replicas.py)
    after = q(index, "SELECT * EXCLUDE (drive) FROM datasets ORDER BY id")
    assert after == before
    assert q(index, "SELECT * FROM files ORDER BY path") == files
    assert q(index, "SELECT count(*) FROM audit") == [audit]
    assert cat.entry(ident).metadata["tags"] == ["porosity"]
    assert q(index, "SELECT count(*) FROM datasets WHERE drive IS NOT NULL") == [(0,)]
    # the next scan records the drive of the root
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    vol = volume_of(tmp_path / "drive")
    assert q(index, "SELECT DISTINCT drive FROM datasets") == [(vol.id,)]
    assert q(index, "SELECT path, drive_id FROM roots") == [(str(tmp_path / "drive"), vol.id)]


def test_a_root_whose_drive_is_absent_goes_offline_not_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fallback of the slow tests below: the drive is recorded under a UUID no
    mounted volume has, and the root's folder is gone, as after unplugging it."""
    root = tmp_path / "WD-2019"
    write_volumes(root, ["granite.tif", "basalt.tif"], seed=11)
    index = tmp_path / "lab.duckdb"
    scan(root, index, jobs=1, progress=False)
    ids = sorted(open_catalog(index))
    on_absent_drive(index, root)
    shutil.move(root, tmp_path / "unplugged")
    report = scan(root, index, jobs=1, progress=False)
    message = offline_message("WD-2019", str(root))
    assert report.offline == message
    assert report.counts["offline"] == 2
    assert message in str(report)
    cat = open_catalog(index)
    assert sorted(cat) == ids
    assert set(cat.df["status"]) == {"offline"}
    assert len(cat.search("granite")) == 1
    assert len(cat.search(status="offline")) == 2
    with pytest.raises(DatasetUnavailable, match="plug it in; last seen at"):
        cat[ids[0]].read()
    checked = verify(index, progress=False)  # nothing read: unverifiable, saying why
    assert checked.ok and checked.counts["unverifiable"] == 2 and checked.bytes_read == 0
    assert {r["offline"] for r in checked.results.values()} == {message}
    assert f"OFFLINE   {ids[0]}" in str(checked)
    assert len(cat.search(drive="0badc0de-0000-4000-8000-000000000001")) == 2
    assert q(index, "SELECT online FROM drives") == [(False,)]
    assert q(index, "SELECT action FROM audit WHERE action LIKE 'drive.%'") == [("drive.offline",)]
    assert main(["drives", "--index", str(index), "--no-check", "--only-here"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("WD-2019          offline ")
    assert "2 datasets" in text and "2 only here" in text and f"only here: {ids[0]}" in text
    # scanned again, or a folder of it never scanned before: still offline, all counted
    again = scan(root / "sub" / "folder", index, jobs=1, progress=False)
    assert again.offline == message and again.counts["offline"] == 2
    assert set(open_catalog(index).df["status"]) == {"offline"}


def test_a_drive_mounted_where_other_datasets_are_recorded_is_refused(tmp_path: Path) -> None:
    write_volumes(tmp_path / "WD-2019", ["a.tif"], seed=12)
    write_volumes(tmp_path / "other", ["a.tif"], seed=13)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "WD-2019", index, jobs=1, progress=False)
    scan(tmp_path / "other", index, jobs=1, progress=False)
    with connect(index) as con:
        con.execute(
            "INSERT INTO drives (id, uuid, label, mount_point) VALUES ('u1', 'u1', 'WD', ?)",
            [str(tmp_path / "WD-2019")],
        )
        con.execute(
            "UPDATE datasets SET drive = 'u1' WHERE starts_with(path, ?)",
            [str(tmp_path / "WD-2019")],
        )
        before = con.execute("SELECT id, path FROM datasets ORDER BY id").fetchall()
        with pytest.raises(DriveConflict, match=r"holds .*other/a.tif for another dataset"):
            relocate(con, "u1", str(tmp_path / "other"))
    assert q(index, "SELECT id, path FROM datasets ORDER BY id") == before


# -- real drives (loop-mounted ext4 images, as root) ------------------------------------


@pytest.mark.slow
def test_an_unplugged_drive_is_offline_and_stays_searchable_with_thumbnails(
    tmp_path: Path, make_drive
) -> None:
    at = tmp_path / "media" / "WD-2019"
    drive = make_drive("WD-2019", at)
    write_volumes(at / "rocks", ["granite.tif", "basalt.tif", "shale.tif"], seed=5)
    index = tmp_path / "lab.duckdb"
    first = scan(at / "rocks", index, jobs=1, progress=False)
    assert first["added"] == 3
    vol = volume_of(at)
    assert vol is not None and vol.label == "WD-2019" and vol.uuid
    assert q(index, "SELECT id, uuid, label, mount_point, online FROM drives") == [
        (vol.uuid, vol.uuid, "WD-2019", str(at), True)
    ]
    (cap, used) = q(index, "SELECT capacity, used FROM drives")[0]
    assert cap > 15e6 and 0 < used < cap
    cat = open_catalog(index)
    ids = sorted(cat)
    thumbs = {i: cat.entry(i).metadata["thumbnail"] for i in ids}
    assert all(thumbs.values())

    drive.unmount()
    report = scan(at / "rocks", index, jobs=1, progress=False)
    assert report.offline == offline_message("WD-2019", str(at))
    assert report.counts["offline"] == 3
    cat = open_catalog(index)
    assert sorted(cat) == ids  # nothing deleted, no new ids
    assert set(cat.df["status"]) == {"offline"}
    assert sorted(cat.search("basalt")) == [
        i for i in ids if cat.entry(i).metadata["name"] == "basalt.tif"
    ]
    for i in ids:  # thumbnails are kept next to the index, not on the drive
        meta = cat.entry(i).metadata
        assert meta["thumbnail"] == thumbs[i]
        assert (cache_dir(index) / meta["thumbnail"]).is_file()
        assert meta["on_drive"]["text"] == "on drive WD-2019 (offline)"
        assert meta["error"] == offline_message("WD-2019", str(at))
    with pytest.raises(DatasetUnavailable) as caught:
        cat[ids[0]].read()
    assert f"on drive WD-2019 (offline): plug it in; last seen at {at}" in str(caught.value)

    drive.mount(at)  # plugged in again, same place: a rescan finds them unchanged
    again = scan(at / "rocks", index, jobs=1, progress=False)
    assert again["unchanged"] == 3 and again["missing"] == 0
    cat = open_catalog(index)
    assert set(cat.df["status"]) == {"ok"}
    assert q(index, "SELECT count(*) FROM datasets WHERE error IS NOT NULL") == [(0,)]
    assert cat[ids[0]].read().shape == (6, 40, 48)


@pytest.mark.slow
def test_a_drive_mounted_elsewhere_is_recognised_by_uuid_and_keeps_ids(
    tmp_path: Path, make_drive
) -> None:
    old = tmp_path / "media" / "lab" / "WD-2019"
    drive = make_drive("WD-2019", old)
    write_volumes(old / "scans" / "2019", ["granite.tif", "basalt.tif"], seed=6)
    index = tmp_path / "lab.duckdb"
    scan(old / "scans", index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = sorted(cat)
    cat.tag(ids[0], "porosity")
    pixels = cat[ids[0]].read().values

    # a rescan of the old root follows the drive to where it is mounted now
    drive.unmount()
    first = tmp_path / "mnt" / "usb1"
    drive.mount(first)
    report = scan(old / "scans", index, jobs=1, progress=False)
    assert report.root == str(first / "scans")
    assert report["unchanged"] == 2 and report["added"] == 0 and report.drive_moved == 2
    assert "2 datasets followed their drive" in str(report)
    assert sorted(open_catalog(index)) == ids

    # the status check finds it at another place
    drive.unmount()
    new = tmp_path / "mnt" / "usb2"
    drive.mount(new)
    counts = check_drives(index)
    assert counts["moved"] == 2 and counts["online"] >= 1
    cat = open_catalog(index)
    assert sorted(cat) == ids
    assert set(cat.df["status"]) == {"ok"}
    assert sorted(cat.df["path"]) == sorted(
        str(new / "scans" / "2019" / n) for n in ("basalt.tif", "granite.tif")
    )
    assert q(index, "SELECT path FROM roots") == [(str(new / "scans"),)]
    assert q(index, "SELECT DISTINCT root FROM datasets") == [(str(new / "scans"),)]
    assert all(p.startswith(str(new)) for (p,) in q(index, "SELECT path FROM files"))
    assert cat.entry(ids[0]).metadata["tags"] == ["porosity"]
    assert (cat[ids[0]].read().values == pixels).all()
    moved = q(index, "SELECT dataset_id, detail FROM audit WHERE action = 'drive.moved'")
    assert sorted(i for i, d in moved if i and json.loads(d)["to"] == str(new)) == ids
    assert {json.loads(d)["to"] for _, d in moved} == {str(first), str(new)}
    assert len(cat.search("usb2")) == 2  # the search text follows the path

    # and a scan of the new place directly, after one more move
    drive.unmount()
    third = tmp_path / "mnt" / "usb3"
    drive.mount(third)
    report = scan(third / "scans", index, jobs=1, progress=False)
    assert report["unchanged"] == 2 and report["added"] == 0 and report["missing"] == 0
    assert report.drive_moved == 2
    assert sorted(open_catalog(index)) == ids
    assert q(index, "SELECT mount_point FROM drives") == [(str(third),)]


@pytest.mark.slow
def test_voxcat_drives_lists_both_states_and_what_exists_only_there(
    tmp_path: Path, make_drive, capsys: pytest.CaptureFixture[str]
) -> None:
    a_at, b_at = tmp_path / "media" / "WD-2019", tmp_path / "media" / "LaCie-2021"
    make_drive("WD-2019", a_at)
    b = make_drive("LaCie-2021", b_at)
    write_volumes(a_at / "rocks", ["granite.tif", "basalt.tif"], seed=7)
    (b_at / "backup").mkdir()
    shutil.copy2(a_at / "rocks" / "granite.tif", b_at / "backup" / "granite.tif")
    write_volumes(b_at / "cells", ["cell.tif"], seed=8, shape=(3, 20, 24))
    index = tmp_path / "lab.duckdb"
    scan(a_at, index, jobs=1, progress=False)
    scan(b_at, index, jobs=1, progress=False)
    cat = open_catalog(index)
    by_name = {cat.entry(i).metadata["path"]: i for i in cat}
    basalt = by_name[str(a_at / "rocks" / "basalt.tif")]
    cell = by_name[str(b_at / "cells" / "cell.tif")]
    assert verify(index, [basalt], progress=False).ok
    b.unmount()

    assert main(["drives", "--index", str(index), "--json"]) == 0
    listed = {d["label"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"WD-2019", "LaCie-2021"}
    wd, lacie = listed["WD-2019"], listed["LaCie-2021"]
    assert (wd["online"], wd["where"]) == (True, str(a_at))
    assert (lacie["online"], lacie["where"]) == (False, "offline")
    assert lacie["mount_point"] == str(b_at)
    assert (wd["datasets"], lacie["datasets"]) == (2, 2)
    # granite has a copy on each drive; basalt and the cell exist only once
    assert wd["only_here_ids"] == [basalt] and lacie["only_here_ids"] == [cell]
    assert wd["only_here_bytes"] == os.path.getsize(a_at / "rocks" / "basalt.tif")
    assert wd["last_verified"] is not None and lacie["last_verified"] is None
    assert wd["capacity"] > wd["used"] > 0 and wd["last_seen"]
    assert wd["uuid"] == volume_of(a_at).uuid
    assert open_catalog(index).entry(cell).metadata["status"] == "offline"

    assert main(["drives", "--index", str(index), "--only-here"]) == 0
    text = capsys.readouterr().out
    assert "LaCie-2021       offline" in text
    assert f"WD-2019          {a_at}" in text
    assert f"only here: {basalt}" in text and f"only here: {cell}" in text
    assert "1 only here" in text
    assert [d.name for d in open_catalog(index).drives(check=False)] == [
        "LaCie-2021",
        "WD-2019",
    ]
