"""Restricted data: what is derived from it (by ``cat.save`` or ``cat.link``) is
restricted too, and an export refuses it like its parent unless explicitly allowed,
whenever the derivation was recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import export_catalog, open_catalog, scan
from catalog.catalogue import DuckDBCatalog
from catalog.cli import main
from catalog.errors import RestrictedDataError
from catalog.index.audit import list_audit


@pytest.fixture
def lab(tmp_path: Path, rng: np.random.Generator) -> tuple[DuckDBCatalog, dict[str, str]]:
    drive = tmp_path / "drive"
    drive.mkdir()
    for name in ("patient_ct.tif", "seg_a.tif", "seg_b.tif", "phantom.tif"):
        vol = rng.integers(0, 4000, (6, 32, 40), dtype=np.uint16)
        tifffile.imwrite(drive / name, vol, imagej=True, metadata={"axes": "ZYX"})
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    return cat, {cat[i].metadata["name"]: i for i in cat}


def test_a_result_saved_from_restricted_data_is_restricted(lab, tmp_path) -> None:
    cat, ids = lab
    ct = ids["patient_ct.tif"]
    cat.set(ct, access="restricted")
    da = cat[ct].read()
    seg = cat.save((da > 2000).astype("uint8"), name="mask", parents=[ct], step="threshold")
    assert cat[seg].metadata["access"] == "restricted"
    # a result of that result, and one of a restricted and an open parent, too
    again = cat.save(cat[seg].read()[:2], name="crop", parents=[seg], step="crop")
    mixed = cat.save(da[:2], name="pair", parents=[ct, ids["phantom.tif"]], step="register")
    assert {cat[i].metadata["access"] for i in (again, mixed)} == {"restricted"}
    open_one = cat.save(
        cat[ids["phantom.tif"]].read(), name="copy", parents=[ids["phantom.tif"]], step="c"
    )
    assert cat[open_one].metadata["access"] is None
    with pytest.raises(RestrictedDataError, match=seg) as err:
        export_catalog(cat.search(id=[seg]), tmp_path / "out", progress=False)
    assert "allow_restricted" in str(err.value) and not (tmp_path / "out").exists()
    report = export_catalog(
        cat.search(id=[seg]), tmp_path / "ok", allow_restricted=True, progress=False
    )
    assert list(report.datasets) == [seg]
    # a rescan of the store keeps it
    scan(Path(cat[seg].metadata["path"]).parent, cat.index, jobs=1, progress=False)
    assert open_catalog(cat.index)[seg].metadata["access"] == "restricted"


def test_link_restricts_the_child_and_what_was_derived_from_it(lab) -> None:
    cat, ids = lab
    ct, a, b = ids["patient_ct.tif"], ids["seg_a.tif"], ids["seg_b.tif"]
    cat.link(b, [a], step="clean")  # b was made from a before a was known to derive from ct
    cat.set(ct, access="restricted")
    cat.link(a, [ct], step="ilastik")
    cat = open_catalog(cat.index)
    assert cat[a].metadata["access"] == "restricted"
    assert cat[b].metadata["access"] == "restricted"  # down the existing lineage
    assert cat[ids["phantom.tif"]].metadata["access"] is None
    (row,) = [r for r in list_audit(cat.index, dataset=b, limit=0) if r["action"] == "set"]
    assert row["detail"]["after"] == {"access": "restricted"}
    assert row["detail"]["inherited_from"] == [ct]
    assert set(cat.search(access="restricted")) == {ct, a, b}


def test_an_export_refuses_data_derived_before_the_parent_was_restricted(lab, tmp_path) -> None:
    """Lineage recorded before the restriction (or by an older voxcat): the export
    follows the lineage itself and names the restricted ancestor."""
    cat, ids = lab
    ct, a, b = ids["patient_ct.tif"], ids["seg_a.tif"], ids["seg_b.tif"]
    cat.link(a, [ct], step="ilastik")
    cat.link(b, [a], step="clean")
    cat.set(ct, access="restricted")  # after the derivations
    assert cat[b].metadata["access"] is None
    with pytest.raises(RestrictedDataError) as err:
        export_catalog(cat.search(id=[b, ids["phantom.tif"]]), tmp_path / "x", progress=False)
    text = str(err.value)
    assert b in text and f"derived from restricted {ct}" in text
    assert ids["phantom.tif"] not in text
    report = export_catalog(
        cat.search(id=[b]), tmp_path / "y", allow_restricted=True, progress=False
    )
    assert list(report.datasets) == [b]
    # the command line: one line naming it, and the explicit opt-in
    assert (
        main(
            ["export", "--index", str(cat.index), "--where", "name=seg_b.tif", str(tmp_path / "z")]
        )
        != 0
    )
    assert not (tmp_path / "z").exists()
    code = main(
        [
            "export", "--index", str(cat.index), "--where", "name=seg_b.tif",
            "--allow-restricted", str(tmp_path / "w"),
        ]
    )  # fmt: skip
    assert code == 0 and (tmp_path / "w" / "catalog.yaml").is_file()
