"""A catalogue opened for an account sees only what its access levels admit, by every
method (with and without the listing snapshot), may change only what its role allows,
and audits changes under its name; DICOM patient data is restricted by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import export_catalog, open_catalog, scan
from catalog.errors import DatasetNotFound, Forbidden
from catalog.index import listing
from catalog.index.audit import list_audit
from catalog.index.store import acting_as, current_user
from catalog.users import add_user, disable_user

from .readers.test_dicom import write_series

LEVELS = {
    "open_scan": "public",
    "lab_scan": None,  # unset: internal
    "tomo_scan": "collaborator:tomo",
    "other_scan": "collaborator:bio",
    "patient_ct": "restricted",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("access")
    drive = root / "drive"
    drive.mkdir()
    rng = np.random.default_rng(15)
    for name in LEVELS:
        vol = rng.integers(0, 4000, (4, 24, 32), dtype=np.uint16)
        tifffile.imwrite(drive / f"{name}.tif", vol, imagej=True, metadata={"axes": "ZYX"})
    index = root / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"].split(".")[0]: i for i in cat}
    for name, level in LEVELS.items():
        if level:
            cat.set(ids[name], access=level)
    seg = cat.save(
        (cat[ids["patient_ct"]].read() > 2000).astype("uint8"),
        name="patient_mask",
        parents=[ids["patient_ct"]],
        step="threshold",
    )
    ids["patient_mask"] = seg
    # an open result derived from the lab scan, and a link from open to restricted data
    ids["lab_mask"] = cat.save(
        cat[ids["lab_scan"]].read()[:2], name="lab_mask", parents=[ids["lab_scan"]], step="crop"
    )
    add_user(index, "vera", role="viewer", groups=["tomo"])
    add_user(index, "cora", role="curator")
    add_user(index, "ada", role="admin")
    add_user(index, "rita", role="viewer", groups=["restricted"])
    add_user(index, "gone", role="curator")
    disable_user(index, "gone")
    return index, ids


def _names(cat) -> set[str]:
    return {cat.entry(i).metadata["name"].split(".")[0] for i in cat}


VERA_SEES = {"open_scan", "lab_scan", "tomo_scan", "lab_mask"}


@pytest.mark.parametrize("snapshot", [False, True], ids=["duckdb", "snapshot"])
def test_a_viewer_sees_public_internal_and_her_groups(lab, snapshot) -> None:
    index, ids = lab
    if snapshot:
        listing.build(index)
        assert listing.current(index) is not None
    vera = open_catalog(index, user="vera")
    assert vera.user.name == "vera"
    assert _names(vera) == VERA_SEES
    assert len(vera) == len(VERA_SEES) and set(vera.df.index) == {ids[n] for n in VERA_SEES}
    assert sum(vera.facets("format")["format"].values()) == len(VERA_SEES)
    counts = vera.multiselect_facets("format", filters={"format": "tiff"})
    assert counts["format"] == {"tiff": 3, "zarr": 1}  # its own filter off
    assert len(vera.search(name="*_scan*")) == 3  # open, lab, tomo (not other, patient)
    assert [len(vera.page(p, 2)) for p in range(3)] == [2, 2, 0]
    assert vera.stats("modality")["datasets"].sum() == len(VERA_SEES)
    assert len(open_catalog(index)) == len(ids)  # the local user sees everything


def test_a_hidden_dataset_is_reported_exactly_like_a_missing_one(lab) -> None:
    index, ids = lab
    vera = open_catalog(index, user="vera")
    hidden = ids["patient_ct"]
    with pytest.raises(DatasetNotFound) as hid:
        vera[hidden]
    with pytest.raises(DatasetNotFound) as missing:
        vera["zzzzzzzzzzzz"]
    assert str(hid.value).replace(hidden, "X") == str(missing.value).replace("zzzzzzzzzzzz", "X")
    assert "patient" not in str(hid.value)
    with pytest.raises(DatasetNotFound):  # names are not hints either
        vera["patient_ct.tif"]
    assert hidden not in vera and hidden not in vera.visible([hidden, ids["open_scan"]])
    assert vera.thumbnails([hidden, ids["open_scan"]]).keys() == {ids["open_scan"]}
    for call in (vera.lineage, vera.relatives):
        with pytest.raises(DatasetNotFound):
            call(hidden)


def test_lineage_shows_only_what_the_account_may_see(lab) -> None:
    index, ids = lab
    rita = open_catalog(index, user="rita")  # in the group "restricted"
    assert {ids["patient_ct"], ids["patient_mask"]} <= set(rita)
    assert ids["patient_ct"] in rita.lineage(ids["patient_mask"]).nodes
    # the local user links an open dataset to the restricted scan: vera sees the
    # open one, and neither the restricted parent nor the edge to it
    local = open_catalog(index)
    local.link(ids["open_scan"], [ids["lab_scan"]], step="register")
    vera = open_catalog(index, user="vera")
    graph = vera.lineage(ids["lab_scan"])
    assert set(graph.nodes) == {ids["lab_scan"], ids["lab_mask"], ids["open_scan"]}
    assert [
        r["id"] for r in vera.relatives(ids["lab_scan"]) if r["relation"] == "child"
    ] == sorted(
        [ids["lab_mask"], ids["open_scan"]],
        key=lambda i: [r["id"] for r in local.relatives(ids["lab_scan"])].index(i),
    )


def test_roles_decide_what_may_change_and_the_audit_names_the_account(lab, tmp_path) -> None:
    index, ids = lab
    vera, cora, ada = (open_catalog(index, user=n) for n in ("vera", "cora", "ada"))
    target = ids["open_scan"]
    for change in (
        lambda: vera.tag(target, "nice"),
        lambda: vera.note(target, "hello"),
        lambda: vera.set(target, sample="S1"),
        lambda: vera.export(tmp_path / "out", progress=False),
    ):
        with pytest.raises(Forbidden, match="needs the role 'curator'; 'vera' is a viewer"):
            change()
    assert not (tmp_path / "out").exists()
    assert cora.tag(target, "reviewed") == 1
    with pytest.raises(Forbidden, match="setting access levels needs the role 'admin'"):
        cora.set(target, access="internal")
    with pytest.raises(DatasetNotFound):  # a curator cannot tag what she cannot see
        cora.tag(ids["tomo_scan"], "x")
    assert ada.set(target, access="public", sample="S1") == 1
    rows = list_audit(index, dataset=target, limit=2)  # newest first
    assert [(r["action"], r["user"]) for r in rows] == [("set", "ada"), ("tag", "cora")]
    with pytest.raises(Forbidden, match="disabled"):
        open_catalog(index, user="gone").tag(target, "x")
    assert open_catalog(index, user="gone").visible([target]) == []


def test_an_export_by_a_curator_leaves_out_ancestors_she_may_not_see(lab, tmp_path) -> None:
    index, ids = lab
    cora = open_catalog(index, user="cora")
    report = export_catalog(
        cora.search(id=[ids["lab_mask"]]), tmp_path / "x", include_ancestors=True, progress=False
    )
    assert set(report.datasets) == {ids["lab_mask"], ids["lab_scan"]}
    vera_like = open_catalog(index, user="cora").search(id=[ids["patient_mask"]])
    assert len(vera_like) == 0  # restricted: not even in her selections


def test_acting_as_names_the_account_in_this_thread_only() -> None:
    import threading

    seen = []
    with acting_as("ada"):
        t = threading.Thread(target=lambda: seen.append(current_user()))
        t.start()
        t.join()
        assert current_user() == "ada"
    assert seen and seen[0] != "ada" and current_user() != "ada"


def test_dicom_patient_data_is_restricted_unless_deidentified(tmp_path) -> None:
    rng = np.random.default_rng(2)
    vol = rng.integers(0, 3000, (3, 16, 16), dtype=np.uint16)
    write_series(tmp_path / "drive" / "patient", vol)
    anon = write_series(tmp_path / "drive" / "anon", vol)
    import pydicom

    for path in anon:
        ds = pydicom.dcmread(path)
        ds.PatientIdentityRemoved = "YES"
        ds.save_as(path)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    cat = open_catalog(index)
    access = {Path(cat[i].metadata["path"]).name: cat[i].metadata["access"] for i in cat}
    assert access == {"patient": "restricted", "anon": None}
    # the lab may open it up; a rescan keeps that
    ident = next(i for i in cat if cat[i].metadata["access"] == "restricted")
    cat.set(ident, access="internal")
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    assert open_catalog(index)[ident].metadata["access"] == "internal"
    add_user(index, "vera", role="viewer")
    assert len(open_catalog(index, user="vera")) == 2
