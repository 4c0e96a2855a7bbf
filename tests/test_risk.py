"""Risk, per-copy verification and copy policies, on real separate filesystems.

The fast tests use this machine's own two filesystems (the one ``tmp_path`` is on and
the tmpfs at ``/dev/shm``: ``other_drive``, skipped when both are one volume); the
``slow`` ones loop-mount ext4 images with their own UUIDs and labels (``make_drive``,
root only; they skip, saying why, elsewhere).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from catalog import open_catalog, scan, verify
from catalog.cli import main
from catalog.errors import PolicyError, QueryError
from catalog.index import SCHEMA_VERSION, connect, transaction
from catalog.integrity import verify_location
from catalog.policies import list_policies, mark_offsite, policy_check, set_policy
from catalog.risk import risk

from .clusters import local_cluster
from .drives import drive_id, q
from .volumes import write_volumes


def _sql(index: Path, sql: str, params: list | None = None) -> None:
    with connect(index) as con:
        con.execute(sql, params or [])


def _ids(index: Path) -> dict[str, str]:
    return dict(q(index, "SELECT name, id FROM datasets ORDER BY path"))


def _size(index: Path, ident: str) -> int:
    return q(index, "SELECT size FROM datasets WHERE id = ?", [ident])[0][0]


def _flip_byte(path: Path) -> None:
    """Change one byte in the middle of ``path``, keeping its size and mtime."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        b = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_an_index_at_schema_11_migrates_to_12_losing_nothing(tmp_path: Path) -> None:
    write_volumes(tmp_path / "drive", ["a.tif", "b.tif"], seed=31)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    cat = open_catalog(index)
    ident = sorted(cat)[0]
    cat.tag(ident, "porosity")
    assert verify(index, progress=False).ok
    con = duckdb.connect(str(index))
    try:  # what schema 11 looked like: no policies, drives without offsite and created
        con.execute("DROP TABLE policies")
        con.execute("ALTER TABLE drives DROP COLUMN offsite")
        con.execute("ALTER TABLE drives DROP COLUMN created")
        con.execute("UPDATE settings SET value = '11' WHERE key = 'schema_version'")
        tables = {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("datasets", "files", "audit", "tags", "locations", "drives", "roots")
        }
    finally:
        con.close()
    assert tables["locations"] and tables["drives"] and tables["audit"]
    open_catalog(index)  # opening migrates
    assert SCHEMA_VERSION == 12
    assert q(index, "SELECT value FROM settings WHERE key = 'schema_version'") == [("12",)]
    for table, rows in tables.items():
        exclude = " EXCLUDE (offsite, created)" if table == "drives" else ""
        assert q(index, f"SELECT *{exclude} FROM {table} ORDER BY ALL") == rows, table
    assert q(index, "SELECT DISTINCT offsite, created FROM drives") == [(False, None)]
    assert q(index, "SELECT count(*) FROM policies") == [(0,)]
    set_policy(index, "raw", copies=2)  # the new table works
    assert [p.copies for p in list_policies(index)] == [2]


def test_risk_counts_verified_copies_on_two_filesystems(
    tmp_path: Path, other_drive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_volumes(tmp_path / "lab" / "rocks", ["granite.tif", "basalt.tif"], seed=32)
    write_volumes(tmp_path / "lab" / "cells", ["cell.tif"], seed=33, shape=(3, 20, 24))
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    ids = _ids(index)
    granite, basalt, cell = ids["granite.tif"], ids["basalt.tif"], ids["cell.tif"]
    cat = open_catalog(index)
    cat.set([granite, basalt], project="rocks")
    cat.set(cell, project="cells")

    # scanned, never verified: no copy counts yet
    report = risk(index, copies=2)
    assert sorted(report.datasets.index) == sorted([granite, basalt, cell])
    assert set(report.datasets["verified_copies"]) == {0}
    assert report.datasets.loc[granite, "reasons"] == ["0 verified of 2 copies needed (1 known)"]
    assert len(cat.search(verified_copies=0)) == 3

    # a copy of the rocks on the second filesystem, verified: granite and basalt are safe
    shutil.copytree(tmp_path / "lab" / "rocks", other_drive / "rocks")
    assert scan(other_drive, index, jobs=1, progress=False).replicas == 2
    assert len(risk(index, copies=2)) == 3  # two copies each, neither verified yet
    checked = verify(index, progress=False)
    assert checked.ok and checked.counts["unchanged"] == 3
    assert {c["drive_id"] for c in checked.results[granite]["copies"]} == {
        drive_id(tmp_path),
        drive_id(other_drive),
    }
    report = risk(index, copies=2)
    assert list(report.datasets.index) == [cell]
    assert report.datasets.loc[cell, "verified_copies"] == 1
    assert report.bytes == _size(index, cell)
    assert report.by_project.to_dict("records") == [
        {"project": "cells", "datasets": 1, "bytes": _size(index, cell)}
    ]
    assert [(d["drive_id"], d["bytes"]) for d in report.by_drive.to_dict("records")] == [
        (drive_id(tmp_path), _size(index, cell))
    ]
    assert sorted(cat.search(verified_copies=2)) == sorted([granite, basalt])
    assert list(cat.search(verified_copies="<2")) == [cell]
    assert list(cat.risk(copies=3).datasets.index) != []  # the catalogue method
    assert sorted(cat.search(project="rocks").risk(copies=3).datasets.index) == sorted(
        [granite, basalt]
    )

    # without cell's second copy, both projects at risk with copies=3: bytes per project
    # and per drive add up (a dataset's bytes count on each drive holding a copy)
    three = risk(index, copies=3)
    rocks = _size(index, granite) + _size(index, basalt)
    by_project = {r["project"]: r["bytes"] for r in three.by_project.to_dict("records")}
    assert by_project == {"rocks": rocks, "cells": _size(index, cell)}
    by_drive = {r["drive_id"]: r["bytes"] for r in three.by_drive.to_dict("records")}
    assert by_drive == {
        drive_id(tmp_path): rocks + _size(index, cell),
        drive_id(other_drive): rocks,
    }

    # the CLI: table and JSON, and the same test as a search field
    assert main(["risk", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 datasets at risk") and cell in out and granite not in out
    assert (
        main(["risk", "--index", str(index), "--copies", "3", "--project", "rocks", "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert sorted(d["id"] for d in data["datasets"]) == sorted([granite, basalt])
    assert data["bytes"] == rocks and data["by_project"] == [
        {"project": "rocks", "datasets": 2, "bytes": rocks}
    ]
    assert main(["search", "--index", str(index), "--where", "verified_copies=..1", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["datasets"]] == [cell]

    # a copy not verified for 100 days (the replica of granite)
    _sql(
        index,
        "UPDATE locations SET last_verified = last_verified - INTERVAL 100 DAY "
        "WHERE dataset_id = ? AND path LIKE ?",
        [granite, str(other_drive) + "%"],
    )
    stale = risk(index, copies=None, unverified_days=90)
    assert list(stale.datasets.index) == [granite]
    assert stale.datasets.loc[granite, "reasons"] == ["a copy not verified for 100 days"]
    assert len(risk(index, copies=None, unverified_days="101d")) == 0
    assert list(cat.search(unverified_days=">90")) == [granite]
    assert list(cat.search(unverified_days=(">3mo"))) == [granite]
    assert main(["risk", "-i", str(index), "--copies", "0", "--unverified-days", "90"]) == 0
    assert granite in capsys.readouterr().out
    assert verify(index, [granite], progress=False).ok  # verified again: not stale
    assert len(risk(index, copies=None, unverified_days=90)) == 0

    # bad input is named
    with pytest.raises(QueryError, match="as an age"):
        risk(index, drive_age="five years")
    with pytest.raises(QueryError, match="at least one of"):
        risk(index, copies=None)
    with pytest.raises(QueryError, match="as an age"):
        cat.search(drive_age=">old")


def test_verify_reads_every_copy_and_marks_a_corrupt_one(
    tmp_path: Path, other_drive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_volumes(tmp_path / "lab" / "rocks", ["granite.tif"], seed=34)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    shutil.copytree(tmp_path / "lab" / "rocks", other_drive / "rocks")
    scan(other_drive, index, jobs=1, progress=False)
    (granite,) = _ids(index).values()
    replica = other_drive / "rocks" / "granite.tif"
    assert verify(index, progress=False).ok

    _flip_byte(replica)
    report = verify(index, progress=False)
    assert not report.ok and report.counts["modified"] == 1
    (bad,) = report.corrupt
    assert (bad["id"], bad["path"], bad["drive_id"]) == (
        granite,
        str(replica),
        drive_id(other_drive),
    )
    text = str(report)
    assert f"CORRUPT   {granite}" in text and f"at {replica}" in text
    assert f"copy on drive {bad['drive']} " in text
    places = open_catalog(index).locations(granite)
    assert [(p["primary"], p["status"]) for p in places] == [(True, "ok"), (False, "corrupt")]
    assert q(index, "SELECT copies FROM datasets") == [(1,)]
    assert list(risk(index, copies=2).datasets.index) == [granite]
    detail = json.loads(
        q(index, "SELECT detail FROM audit WHERE action = 'verify.modified'")[0][0]
    )
    assert {(c["path"], c["outcome"]) for c in detail["copies"]} == {
        (str(tmp_path / "lab" / "rocks" / "granite.tif"), "unchanged"),
        (str(replica), "modified"),
    }
    # same size and mtime: a rescan does not read it, and it stays corrupt
    again = scan(other_drive, index, jobs=1, progress=False)
    assert again.bytes_processed == 0
    assert [p["status"] for p in open_catalog(index).locations(granite)] == ["ok", "corrupt"]
    assert main(["verify", "--index", str(index)]) == 4
    assert str(replica) in capsys.readouterr().out

    # one copy verified on its own (what a migration does after copying)
    _flip_byte(replica)  # flipped back: intact again
    result = verify_location(index, granite, replica)
    assert (result["outcome"], result["primary"]) == ("unchanged", False)
    assert [p["status"] for p in open_catalog(index).locations(granite)] == ["ok", "ok"]
    assert q(index, "SELECT copies FROM datasets") == [(2,)]
    assert q(index, "SELECT count(*) FROM audit WHERE action = 'verify.copy'") == [(1,)]
    with transaction(index) as con:  # inside a caller's write (a migration's)
        assert verify_location(con, granite, replica)["outcome"] == "unchanged"
    assert q(index, "SELECT count(*) FROM audit WHERE action = 'verify.copy'") == [(2,)]
    with pytest.raises(KeyError, match="not a location of dataset"):
        verify_location(index, granite, tmp_path / "elsewhere.tif")

    # a copy gone: no longer verified (a replica's location is missing; the primary
    # one keeps its status for the next rescan to mark the dataset)
    primary = tmp_path / "lab" / "rocks" / "granite.tif"
    primary.unlink()
    report = verify(index, progress=False)  # the replica is intact: the dataset is safe
    assert report.ok and report.counts["unchanged"] == 1
    assert [c["path"] for c in report.missing] == [str(primary)]
    assert f"MISSING   {granite} granite.tif: copy on drive" in str(report)
    assert "copies corrupt: 0, missing: 1, offline: 0" in str(report)
    places = open_catalog(index).locations(granite)
    assert [(p["status"], p["last_verified"] is None) for p in places] == [
        ("ok", True),
        ("ok", False),
    ]
    assert risk(index, copies=2).datasets.loc[granite, "verified_copies"] == 1
    replica.unlink()
    assert verify(index, progress=False).counts["missing"] == 1  # no copy left
    places = open_catalog(index).locations(granite)
    assert [(p["status"], p["last_verified"]) for p in places] == [("ok", None), ("missing", None)]
    assert q(index, "SELECT copies FROM datasets") == [(1,)]
    scan(tmp_path / "lab", index, jobs=1, progress=False)  # the rescan marks it missing
    assert q(index, "SELECT status FROM datasets") == [("missing",)]


def test_policy_check_lists_exactly_the_violations_then_is_clean(
    tmp_path: Path, other_drive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["raw_a.tif", "raw_b.tif", "inter_c.tif", "report_d.tif"]
    write_volumes(tmp_path / "lab", names, seed=35, shape=(3, 20, 24))
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    ids = _ids(index)
    a, b, c, d = (ids[n] for n in names)
    cat = open_catalog(index)
    cat.set([a, b], data_level="raw")
    cat.set(c, data_level="processed")
    cat.set(d, data_level="report")
    (other_drive / "backup").mkdir()
    shutil.copy2(tmp_path / "lab" / "raw_a.tif", other_drive / "backup" / "raw_a.tif")
    scan(other_drive, index, jobs=1, progress=False)
    assert verify(index, progress=False).ok

    assert main(["policy", "check", "-i", str(index)]) == 0  # no policies: nothing to break
    assert "no policies set" in capsys.readouterr().out
    assert main(["policy", "set", "raw", "-i", str(index), "--copies", "2", "--offsite", "1"]) == 0
    assert capsys.readouterr().out.strip() == "raw: 2 verified copies, 1 of them offsite"
    assert main(["policy", "set", "Processed", "-i", str(index), "--copies", "1"]) == 0
    assert main(["policy", "set", "report", "-i", str(index), "--keep"]) == 0
    assert main(["policy", "list", "-i", str(index), "--json"]) == 0
    capsys.readouterr()

    report = policy_check(index)
    assert report.checked == 4
    assert [(v.id, v.rule, v.have, v.need) for v in report.violations] == [
        (a, "offsite", 0, 1),
        (b, "copies", 1, 2),
        (b, "offsite", 0, 1),
    ]
    assert report.violations[1].bytes == _size(index, b)
    assert main(["policy", "check", "-i", str(index), "--json"]) == 5
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"] and [v["id"] for v in data["violations"]] == [a, b, b]
    assert main(["policy", "check", "-i", str(index)]) == 5
    assert "3 violations by 2 of 4 datasets" in capsys.readouterr().out
    assert [v.id for v in cat.search(data_level="raw").policy_check().violations] == [a, b, b]

    # fixed: the second filesystem is the offsite one, b gets its copy there
    assert main(["drives", "-i", str(index), "--mark-offsite", drive_id(other_drive)]) == 0
    capsys.readouterr()
    assert main(["drives", "-i", str(index), "--no-check", "--json"]) == 0
    listed = {d["id"]: d["offsite"] for d in json.loads(capsys.readouterr().out)}
    assert listed == {drive_id(tmp_path): False, drive_id(other_drive): True}
    assert [(v.id, v.rule) for v in policy_check(index).violations] == [
        (b, "copies"),
        (b, "offsite"),
    ]
    shutil.copy2(tmp_path / "lab" / "raw_b.tif", other_drive / "backup" / "raw_b.tif")
    scan(other_drive, index, jobs=1, progress=False)
    assert policy_check(index).violations[0].rule == "copies"  # not verified yet
    assert verify(index, progress=False).ok
    assert policy_check(index).ok
    assert main(["policy", "check", "-i", str(index)]) == 0
    assert "all 4 datasets with a policy comply" in capsys.readouterr().out

    # keep: the report is lost
    (tmp_path / "lab" / "report_d.tif").unlink()
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    assert [(v.id, v.rule) for v in policy_check(index).violations] == [(d, "keep")]

    # audited; bad input named
    actions = [
        r[0]
        for r in q(
            index,
            "SELECT action FROM audit WHERE action LIKE 'policy.%' "
            "OR action = 'drive.offsite' ORDER BY seq",
        )
    ]
    assert actions == ["policy.set"] * 3 + ["drive.offsite"]
    with pytest.raises(PolicyError, match="offsite 3 is more than copies 2"):
        set_policy(index, "raw", offsite=3)
    with pytest.raises(PolicyError, match="no drive matches 'nope'"):
        mark_offsite(index, "nope")
    assert main(["policy", "set", "raw", "-i", str(index), "--copies", "0"]) == 1
    assert "copies is a whole number >= 1" in capsys.readouterr().err
    assert main(["policy", "remove", "processed", "-i", str(index)]) == 0
    assert [p.data_level for p in list_policies(index)] == ["raw", "report"]


@pytest.mark.slow
def test_loop_drives_risk_age_corruption_and_offline_copies(
    tmp_path: Path, make_drive, capsys: pytest.CaptureFixture[str]
) -> None:
    a_at, b_at = tmp_path / "media" / "WD-2019", tmp_path / "media" / "LaCie-2024"
    make_drive("WD-2019", a_at)
    b = make_drive("LaCie-2024", b_at)
    write_volumes(a_at / "rocks", ["granite.tif", "basalt.tif"], seed=36)
    index = tmp_path / "lab.duckdb"
    scan(a_at, index, jobs=1, progress=False)
    ids = _ids(index)
    granite, basalt = ids["granite.tif"], ids["basalt.tif"]
    # the drive's age: its filesystem's creation time, from tune2fs, read once
    (created,) = q(index, "SELECT created FROM drives")[0]
    assert created is not None and dt.timedelta(0) <= dt.datetime.now() - created < dt.timedelta(
        days=1
    )
    assert verify(index, progress=False).ok

    # on one drive only: at risk with copies=2
    assert sorted(risk(index, copies=2).datasets.index) == sorted([granite, basalt])
    (b_at / "backup").mkdir()
    shutil.copy2(a_at / "rocks" / "granite.tif", b_at / "backup" / "granite.tif")
    scan(b_at, index, jobs=1, progress=False)
    assert verify(index, progress=False).ok
    report = risk(index, copies=2)
    assert list(report.datasets.index) == [basalt]
    assert report.by_drive["drive"].tolist() == ["WD-2019"]
    # each drive's last verified: the verify that read a copy there
    assert main(["drives", "-i", str(index), "--no-check", "--json"]) == 0
    listed = {d["label"]: d["last_verified"] for d in json.loads(capsys.readouterr().out)}
    (t,) = q(index, "SELECT max(last_verified) FROM locations WHERE path LIKE ?", [f"{b_at}%"])[0]
    assert listed == {"WD-2019": t.isoformat(), "LaCie-2024": t.isoformat()}
    assert report.datasets.loc[basalt, "drives"] == ["WD-2019"]

    # drive age: WD-2019 made six years ago; granite has a copy on a young drive
    _sql(index, "UPDATE drives SET created = created - INTERVAL 6 YEAR WHERE label = 'WD-2019'")
    old = risk(index, copies=None, drive_age="5y")
    assert list(old.datasets.index) == [basalt]
    assert old.datasets.loc[basalt, "reasons"] == ["only on drives 6.0 years old or older"]
    assert list(open_catalog(index).search(drive_age=">=5y")) == [basalt]
    assert len(risk(index, copies=None, drive_age="7y")) == 0
    assert main(["risk", "-i", str(index), "--copies", "0", "--drive-age", "5y", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in data["datasets"]] == [basalt]
    assert [(d["drive"], d["bytes"]) for d in data["by_drive"]] == [
        ("WD-2019", _size(index, basalt))
    ]

    # a flipped byte on the second drive: corrupt, named
    _flip_byte(b_at / "backup" / "granite.tif")
    checked = verify(index, [granite], progress=False)
    assert not checked.ok
    assert [(c["drive"], c["path"]) for c in checked.corrupt] == [
        ("LaCie-2024", str(b_at / "backup" / "granite.tif"))
    ]
    assert "copy on drive LaCie-2024 at" in str(checked)
    assert sorted(risk(index, copies=2).datasets.index) == sorted([granite, basalt])

    # the second drive unplugged: its copy is not read, and the report names the drive
    b.unmount()
    checked = verify(index, [granite], progress=False)
    assert checked.ok and checked.results[granite]["outcome"] == "unchanged"
    (away,) = checked.offline
    assert away["drive"] == "LaCie-2024" and "plug it in" in away["offline"]
    assert "copy on drive LaCie-2024" in str(checked) and "(unverifiable)" in str(checked)
    # still corrupt: nothing was read there
    assert [p["status"] for p in open_catalog(index).locations(granite)] == ["ok", "corrupt"]


@pytest.mark.slow
def test_every_copy_is_verified_on_a_dask_cluster_as_here(
    tmp_path: Path, other_drive: Path
) -> None:
    write_volumes(tmp_path / "lab" / "rocks", ["granite.tif", "basalt.tif"], seed=37)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    shutil.copytree(tmp_path / "lab" / "rocks", other_drive / "rocks")
    scan(other_drive, index, jobs=1, progress=False)
    _flip_byte(other_drive / "rocks" / "basalt.tif")
    here = verify(index, progress=False)
    with local_cluster(n_workers=1, threads_per_worker=1) as cluster:
        there = verify(index, progress=False, scheduler=cluster.scheduler_address)
    assert there.results == here.results and there.bytes_read == here.bytes_read
    assert [c["path"] for c in there.corrupt] == [str(other_drive / "rocks" / "basalt.tif")]
    assert there.counts == {"unchanged": 1, "modified": 1, "missing": 0, "unverifiable": 0}
