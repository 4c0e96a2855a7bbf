"""Migration: datasets copied to another drive with the export copy engine become
replicas (same ids, ``copies`` up, files identical), resumably (``kill -9`` mid-copy),
refusing changed sources; ``--dry-run`` writes nothing; ``--convert ome-zarr`` records
a derived dataset; ``--retire-source`` deletes only with enough verified copies.

The drives are real separate filesystems: ext4 images loop-mounted (``make_drive``,
root only; skipped, saying why, elsewhere) and the tmpfs at ``/dev/shm``
(``other_drive``).
"""

from __future__ import annotations

import filecmp
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from catalog import migrate, open_catalog, scan
from catalog.cli import main
from catalog.errors import MigrationCancelled, MigrationError
from catalog.migration import STATE_DIR, run
from catalog.progress import Progress

from .drives import drive_id, q
from .killing import kill_at
from .validators import assert_ome_zarr
from .volumes import write_volumes

BIG = (40, 128, 128)  # 1.3 MB of uint16: copied in four blocks


@pytest.fixture
def lab(tmp_path: Path, make_drive) -> tuple[Path, Path, Path, Any]:
    """Drive WD-A (mounted at ``a``) holding three volumes and a slice stack, scanned
    into ``index``; returns ``(index, a, where to mount more, drive A)``."""
    a = tmp_path / "mnt" / "a"
    drive = make_drive("WD-A", a)
    write_volumes(a / "rocks", ["granite.tif", "basalt.tif", "marble.tif"], seed=31, shape=BIG)
    stack = a / "rocks" / "core_stack"
    write_volumes(stack, [f"slice_{k:03d}.tif" for k in range(5)], seed=32, shape=(1, 32, 32))
    index = tmp_path / "lab.duckdb"
    scan(a, index, jobs=1, progress=False)
    cat = open_catalog(index)
    cat.set(list(cat), project="rocks")
    return index, a, tmp_path / "mnt", drive


def by_name(index: Path) -> dict[str, str]:
    return dict(q(index, "SELECT name, id FROM datasets"))


def actions(index: Path, ident: str | None = None) -> list[str]:
    if ident is None:
        return [a for (a,) in q(index, "SELECT action FROM audit ORDER BY seq")]
    return [
        a
        for (a,) in q(index, "SELECT action FROM audit WHERE dataset_id = ? ORDER BY seq", [ident])
    ]


@pytest.mark.slow
def test_a_project_migrated_to_another_drive_becomes_replicas(
    lab, make_drive, other_drive: Path
) -> None:
    index, a, mnt, drive_a = lab
    b = mnt / "b"
    make_drive("WD-B", b)
    ids = by_name(index)
    assert len(ids) == 4 and q(index, "SELECT DISTINCT copies FROM datasets") == [(1,)]
    cat = open_catalog(index)
    cat.tag(ids["granite.tif"], "porosity")
    before = {i: cat[i].read().values for i in ids.values()}

    report = cat.migrate(b / "lab-data", project="rocks", progress=False)
    assert sorted(report.datasets) == sorted(ids.values()) and not report.refused
    assert report.files == 3 + 5
    assert by_name(index) == ids  # the same datasets, no new ones
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(2,)]
    # laid out as DIR/<drive label>/<path inside the drive>
    granite = b / "lab-data" / "WD-A" / "rocks" / "granite.tif"
    assert filecmp.cmp(a / "rocks" / "granite.tif", granite, shallow=False)
    for k in range(5):
        name = f"slice_{k:03d}.tif"
        copy = b / "lab-data" / "WD-A" / "rocks" / "core_stack" / name
        assert filecmp.cmp(a / "rocks" / "core_stack" / name, copy, shallow=False)
    assert not list((b / "lab-data").rglob("*.voxcat-tmp"))
    places = open_catalog(index).locations(ids["granite.tif"])
    assert [(p["primary"], p["status"]) for p in places] == [(True, "ok"), (False, "ok")]
    assert places[1]["path"] == str(granite)
    assert places[1]["drive"] == "WD-B" and places[1]["drive_id"] == drive_id(b)
    assert places[0]["last_verified"] and places[1]["last_verified"]  # both read in full
    cat = open_catalog(index)
    assert list(cat.search(tags="porosity")) == [ids["granite.tif"]]  # tags shared
    assert len(cat.search(copies=2)) == 4
    granite_actions = actions(index, ids["granite.tif"])
    assert granite_actions[-2:] == ["migrate.start", "migrate"]
    detail = q(
        index,
        "SELECT detail FROM audit WHERE action = 'migrate' AND dataset_id = ?",
        [ids["granite.tif"]],
    )
    assert json.loads(detail[0][0])["verified"] == "read back"
    assert {"migrate.begin", "migrate.end"} <= set(actions(index))

    # a rescan of the new drive finds the copies unchanged, without reading them
    again = scan(b, index, jobs=1, progress=False)
    assert again["added"] == 0 and again.bytes_processed == 0
    assert by_name(index) == ids and q(index, "SELECT DISTINCT copies FROM datasets") == [(2,)]

    # the source drive unplugged: every dataset reads from the copy
    drive_a.unmount()
    cat = open_catalog(index)
    for ident, values in before.items():
        assert np.array_equal(cat[ident].read().values, values)
    # a dry run now: every dataset is there already, nothing to copy
    planned = migrate(index, b / "lab-data", project="rocks", dry_run=True)
    assert {d["how"] for d in planned.datasets.values()} == {"already there"}
    assert planned.bytes == 0 and planned.estimated_seconds == 0
    # run again: every dataset is there already; nothing is read or copied
    report = migrate(index, b / "lab-data", project="rocks", progress=False)
    assert not report.refused and report.bytes_written == 0
    assert {d["how"] for d in report.datasets.values()} == {"already there"}
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(2,)]

    # a third copy while drive A is unplugged: read from the copy on B, laid out as
    # the dataset's home (its primary location) says; the source is never retired then
    report = migrate(
        index, other_drive / "lab-data", project="rocks", retire_source=True, progress=False
    )
    assert not report.refused and {d["how"] for d in report.datasets.values()} == {"copied"}
    third = other_drive / "lab-data" / "WD-A" / "rocks" / "granite.tif"
    assert filecmp.cmp(granite, third, shallow=False)
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(3,)]
    assert set(report.retire_refused) == set(ids.values()) and not report.retired
    assert "copied from a replica" in report.retire_refused[ids["granite.tif"]]
    detail = q(
        index,
        "SELECT detail FROM audit WHERE action = 'migrate' AND dataset_id = ? ORDER BY seq",
        [ids["granite.tif"]],
    )
    assert json.loads(detail[-1][0])["from"] == str(granite)  # read from drive B


@pytest.mark.slow
def test_dry_run_prints_counts_and_an_estimate_and_writes_nothing(
    lab, other_drive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, a, _, _ = lab
    audit = q(index, "SELECT count(*) FROM audit")
    target = other_drive / "lab-data"
    code = main(["migrate", "--index", str(index), "--to", str(target), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    size = sum(p.stat().st_size for p in (a / "rocks").rglob("*.tif"))
    assert f"would migrate 4 datasets (8 files, {size / 1e9:.3f} GB)" in out
    assert "Estimated time:" in out and "nothing was written" in out
    assert not target.exists()
    assert q(index, "SELECT count(*) FROM audit") == audit
    assert q(index, "SELECT count(*) FROM locations") == [(4,)]

    report = migrate(index, target, project="rocks", dry_run=True)
    assert report.dry_run and report.bytes == size and report.files == 8
    assert report.rate and report.estimated_seconds and report.estimated_seconds > 0
    assert not target.exists()


KILLED = """
import sys
import catalog.migration.run
from catalog import migrate
catalog.migration.run.BATCH_DATASETS = int(sys.argv[4])  # datasets per commit
migrate(sys.argv[1], sys.argv[2], sys.argv[3].split(","), progress=False)
"""


@pytest.mark.slow
def test_killed_mid_copy_a_rerun_finishes_without_copying_twice(lab, make_drive) -> None:
    index, a, mnt, _ = lab
    b = mnt / "b"
    make_drive("WD-B", b)
    ids = by_name(index)
    volumes = [ids[n] for n in ("granite.tif", "basalt.tif", "marble.tif")]
    target = b / "lab-data"
    # one dataset per commit; each volume is copied in four blocks: the sixth is half
    # way through the second, after the first was verified and recorded
    kill_at(KILLED, "migrate.block#6", index, target, ",".join(volumes), 1)
    journal = target / STATE_DIR / "done.jsonl"
    done = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(done) == 1 and done[0]["verified"] == "reread"
    first = ids[Path(done[0]["path"]).name]
    half = list(target.rglob("*.voxcat-tmp"))
    size = (a / "rocks" / "basalt.tif").stat().st_size
    assert len(half) == 1 and half[0].stat().st_size < size  # cut short, not in place
    copies = dict(q(index, "SELECT id, copies FROM datasets"))
    assert {i: copies[i] for i in volumes} == {i: 2 if i == first else 1 for i in volumes}
    assert actions(index, first)[-1] == "migrate"
    started = [i for i in volumes if actions(index, i)[-1] == "migrate.start"]
    assert len(started) == 1 and started[0] != first  # started, never ended

    report = migrate(index, target, volumes, progress=False)
    assert not report.refused and report.resumed_files == 1
    assert report.datasets[first]["how"] == "already there"
    assert all(report.datasets[i]["resumed"] == 0 for i in volumes if i != first)
    assert not list(target.rglob("*.voxcat-tmp"))
    copies = dict(q(index, "SELECT id, copies FROM datasets"))
    assert [copies[i] for i in volumes] == [2, 2, 2]
    for name in ("granite.tif", "basalt.tif", "marble.tif"):
        copy = target / "WD-A" / "rocks" / name
        assert filecmp.cmp(a / "rocks" / name, copy, shallow=False)
    assert len(journal.read_text().splitlines()) == 3
    assert all(actions(index, i)[-1] == "migrate" for i in volumes)
    # one location per dataset on the new drive, not two
    assert q(index, "SELECT count(*) FROM locations WHERE drive = ?", [drive_id(b)]) == [(3,)]


@pytest.mark.slow
def test_killed_after_the_copies_before_recording_them(lab, other_drive: Path) -> None:
    index, _, _, _ = lab
    ids = by_name(index)
    target = other_drive / "lab-data"
    # one batch: its copies are recorded by the second commit, killed just before it
    kill_at(KILLED, "migrate.commit#2", index, target, ",".join(ids.values()), 64)
    assert len((target / STATE_DIR / "done.jsonl").read_text().splitlines()) == 8
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(1,)]
    assert all(actions(index, i)[-1] == "migrate.start" for i in ids.values())
    report = migrate(index, target, list(ids.values()), progress=False)
    assert report.resumed_files == 8 and report.bytes_written == 0  # nothing copied again
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(2,)]


@pytest.mark.slow
def test_a_changed_source_is_refused_by_name_and_the_others_go_on(lab, other_drive: Path) -> None:
    index, a, _, _ = lab
    ids = by_name(index)
    granite, basalt = a / "rocks" / "granite.tif", a / "rocks" / "basalt.tif"
    st = granite.stat()
    with open(granite, "r+b") as fh:  # same size, same mtime, other bytes
        fh.seek(st.st_size // 2)
        fh.write(b"\x55" * 64)
    os.utime(granite, ns=(st.st_atime_ns, st.st_mtime_ns))
    with open(basalt, "ab") as fh:  # grown
        fh.write(b"\0" * 10)
    target = other_drive / "lab-data"
    report = migrate(index, target, project="rocks", progress=False)
    assert sorted(report.refused) == sorted([ids["granite.tif"], ids["basalt.tif"]])
    assert sorted(report.datasets) == sorted([ids["marble.tif"], ids["core_stack"]])
    for ident, path in ((ids["granite.tif"], granite), (ids["basalt.tif"], basalt)):
        cause = report.refused[ident]["cause"]
        assert str(path) in cause and report.refused[ident]["error"] == "SourceChanged"
        assert q(index, "SELECT copies FROM datasets WHERE id = ?", [ident]) == [(1,)]
        assert q(index, "SELECT count(*) FROM locations WHERE dataset_id = ?", [ident]) == [(1,)]
        assert actions(index, ident)[-1] == "migrate.refused"
    # found while copying (read, hashed): started, then refused; found by its size: never started
    assert actions(index, ids["granite.tif"])[-2:] == ["migrate.start", "migrate.refused"]
    assert "migrate.start" not in actions(index, ids["basalt.tif"])
    assert "does not match the index" in report.refused[ids["granite.tif"]]["cause"]
    assert "the index recorded" in report.refused[ids["basalt.tif"]]["cause"]
    assert not (target / "WD-A" / "rocks" / "granite.tif").exists()
    assert not (target / "WD-A" / "rocks" / "basalt.tif").exists()
    assert not list(target.rglob("*.voxcat-tmp"))
    assert q(index, "SELECT copies FROM datasets WHERE id = ?", [ids["marble.tif"]]) == [(2,)]
    with pytest.raises(MigrationError, match="nothing to migrate"):
        migrate(index, target, project="no-such-project", progress=False)


@pytest.mark.slow
def test_convert_ome_zarr_records_a_derived_dataset_with_lineage(lab, other_drive: Path) -> None:
    index, a, _, _ = lab
    ids = by_name(index)
    granite = ids["granite.tif"]
    target = other_drive / "lab-data"
    report = migrate(index, target, [granite], convert="ome-zarr", progress=False)
    line = report.datasets[granite]
    derived = line["derived"]
    assert derived != granite and line["how"] == "converted to OME-Zarr"
    store = target / "WD-A" / "rocks" / "granite.ome.zarr"
    assert line["path"] == str(store)
    assert_ome_zarr(store)  # ome-zarr-models parses it
    cat = open_catalog(index)
    assert np.array_equal(cat[derived].read().values, cat[granite].read().values)
    assert q(index, "SELECT copies FROM datasets WHERE id = ?", [granite]) == [(1,)]  # no replica
    (link,) = q(
        index, "SELECT parent, step, params, user_name FROM lineage WHERE child = ?", [derived]
    )
    assert link[0] == granite and link[1] == "migrate --convert ome-zarr" and link[3]
    params = json.loads(link[2])
    assert params["convert"] == "ome-zarr" and params["source"] == str(a / "rocks" / "granite.tif")
    assert q(index, "SELECT project, drive FROM datasets WHERE id = ?", [derived]) == [
        ("rocks", drive_id(other_drive))
    ]
    assert actions(index, granite)[-2:] == ["migrate.start", "migrate.convert"]
    # run again: the conversion is found, not made twice
    again = migrate(index, target, [granite], convert="ome-zarr", progress=False)
    assert again.datasets[granite]["derived"] == derived
    assert q(index, "SELECT count(*) FROM datasets") == [(5,)]


@pytest.mark.slow
def test_retire_source_needs_enough_verified_copies(lab, make_drive, other_drive: Path) -> None:
    index, a, mnt, _ = lab
    b = mnt / "b"
    make_drive("WD-B", b)
    ids = by_name(index)
    granite = ids["granite.tif"]
    source = a / "rocks" / "granite.tif"
    values = open_catalog(index)[granite].read().values

    # one copy would remain without the source: refused, nothing deleted
    report = migrate(index, b / "lab-data", [granite], retire_source=True, progress=False)
    assert granite in report.retire_refused and not report.retired
    assert "1 verified copies would remain" in report.retire_refused[granite]
    assert source.exists()
    assert q(index, "SELECT path, copies FROM datasets WHERE id = ?", [granite]) == [
        (str(source), 2)
    ]
    assert actions(index, granite)[-1] == "retire.refused"

    # a second verified copy elsewhere: the source is retired
    report = migrate(
        index, other_drive / "lab-data", [granite], retire_source=True, progress=False
    )
    assert granite in report.retired, report
    assert not source.exists()
    assert (a / "rocks" / "basalt.tif").exists()  # nothing else deleted
    new = other_drive / "lab-data" / "WD-A" / "rocks" / "granite.tif"
    assert q(index, "SELECT path, copies, status FROM datasets WHERE id = ?", [granite]) == [
        (str(new), 2, "ok")
    ]
    assert q(index, "SELECT path FROM files WHERE dataset_id = ?", [granite]) == [(str(new),)]
    places = {p["path"]: p["status"] for p in open_catalog(index).locations(granite)}
    assert places == {
        str(new): "ok",
        str(b / "lab-data" / "WD-A" / "rocks" / "granite.tif"): "ok",
        str(source): "retired",
    }
    assert np.array_equal(open_catalog(index)[granite].read().values, values)
    assert actions(index, granite)[-3:] == ["migrate.start", "migrate", "retire"]
    detail = json.loads(
        q(index, "SELECT detail FROM audit WHERE action = 'retire' AND dataset_id = ?", [granite])[
            0
        ][0]
    )
    assert detail["from"] == str(source) and detail["verified_copies"] == 2
    # run again: the retired dataset's copy there is its primary now; nothing is copied
    again = migrate(index, other_drive / "lab-data", [granite], progress=False)
    assert again.datasets[granite]["how"] == "already there" and again.bytes_written == 0
    assert sorted(p.name for p in (other_drive / "lab-data").iterdir()) == [
        ".voxcat-migrate",
        "WD-A",
    ]

    # the folder dataset retired with --min-copies 1: its folder goes, nothing else
    stack = ids["core_stack"]
    (a / "rocks" / "core_stack" / "notes.txt").write_text("keep me")
    report = migrate(
        index, b / "lab-data", [stack], retire_source=True, min_copies=1, progress=False
    )
    assert stack in report.retired
    assert sorted(p.name for p in (a / "rocks" / "core_stack").iterdir()) == ["notes.txt"]
    assert open_catalog(index)[stack].read().shape[0] == 5


@pytest.mark.slow
def test_cancel_stops_like_export_and_a_rerun_finishes(
    lab, other_drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, _, _, _ = lab
    ids = by_name(index)
    volumes = [ids[n] for n in ("granite.tif", "basalt.tif", "marble.tif")]
    target = other_drive / "lab-data"
    stop = threading.Event()
    seen: list[Progress] = []

    def watch(p: Progress) -> None:
        seen.append(p)
        if p.items >= 1:  # one dataset copied: cancel
            stop.set()

    monkeypatch.setattr(run, "BATCH_DATASETS", 1)  # a commit per dataset
    with pytest.raises(MigrationCancelled, match="run the same migration again"):
        migrate(index, target, volumes, progress=watch, cancel=stop)
    assert seen[0].phase == "copying"
    copies = dict(q(index, "SELECT id, copies FROM datasets"))
    assert sorted(copies[i] for i in volumes) == [1, 1, 2]  # the one copied is recorded
    assert "migrate.cancelled" in actions(index)
    report = migrate(index, target, volumes, progress=False)
    assert sorted(d["how"] for d in report.datasets.values()) == [
        "already there",
        "copied",
        "copied",
    ]
    assert q(
        index, "SELECT DISTINCT copies FROM datasets WHERE id IN (SELECT unnest(?))", [volumes]
    ) == [(2,)]


def test_a_folder_on_no_labelled_drive_goes_under_its_root_name(
    tmp_path: Path, other_drive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fast test (no mounting): this machine's own two filesystems, and the CLI."""
    write_volumes(tmp_path / "old" / "rocks", ["granite.tif"], seed=33)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "old", index, jobs=1, progress=False)
    (ident,) = by_name(index).values()
    target = other_drive / "lab-data"
    code = main(["migrate", "--index", str(index), "--to", str(target), "--json", "--id", ident])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["datasets"][ident]["how"] == "copied"
    copy = target / "old" / "rocks" / "granite.tif"  # DIR/<root folder>/<path in it>
    assert report["datasets"][ident]["path"] == str(copy)
    assert filecmp.cmp(tmp_path / "old" / "rocks" / "granite.tif", copy, shallow=False)
    assert q(index, "SELECT copies FROM datasets") == [(2,)]
    with pytest.raises(MigrationError, match="no dataset with id nope"):
        migrate(index, target, ["nope"])
    with pytest.raises(MigrationError, match="min_copies"):
        migrate(index, target, [ident], min_copies=0)
    (target / "x.tif").write_bytes(b"")
    with pytest.raises(MigrationError, match="is a file"):
        migrate(index, target / "x.tif", [ident])
