"""Derived data and lineage: cat.save, cat.link, cat.lineage, derived_from searches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr

from catalog import open_catalog, scan, verify_audit
from catalog.catalogue import DuckDBCatalog
from catalog.catalogue.save import store_dir
from catalog.errors import LineageError

from .validators import assert_ome_zarr


@pytest.fixture
def lab(tmp_path: Path, rng: np.random.Generator) -> tuple[DuckDBCatalog, str, Path]:
    drive = tmp_path / "drive"
    drive.mkdir()
    vol = rng.integers(0, 4000, (12, 64, 72), dtype=np.uint16)
    tifffile.imwrite(
        drive / "rock_rec.tif",
        vol,
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.5),
        metadata={"unit": "um", "spacing": 0.5, "axes": "ZYX"},
    )
    tifffile.imwrite(
        drive / "segmentation_other_tool.tif", (vol > 2000).astype(np.uint8), imagej=True
    )
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    raw = next(iter(cat.search(name="rock_rec.tif")))
    return cat, raw, drive


def test_save_writes_ome_zarr_indexes_it_and_records_provenance(lab, monkeypatch) -> None:
    cat, raw, drive = lab
    monkeypatch.setenv("VOXCAT_USER", "anna")
    da = cat[raw].read()
    seg = (da > 2000).astype("uint8")
    sid = cat.save(
        seg,
        name="pores",
        parents=[raw],
        step="threshold",
        params={"t": 2000},
        level="segmentation",
    )
    meta = cat[sid].metadata
    assert meta["name"] == "pores.zarr" and meta["format"] == "zarr" and meta["status"] == "ok"
    assert meta["data_level"] == "segmentation" and meta["checksum"] and meta["thumbnail"]
    assert Path(meta["path"]).is_relative_to(store_dir(cat.index))
    assert not any(p.suffix == ".zarr" for p in drive.rglob("*"))  # never beside the originals
    assert_ome_zarr(meta["path"])  # an independent validator (ome-zarr-models) accepts it
    back = cat[sid].read()
    np.testing.assert_array_equal(back.values, seg.values)
    assert float(back.x[1] - back.x[0]) == pytest.approx(float(da.x[1] - da.x[0]))
    assert back.x.attrs["units"] in ("µm", "micrometer")
    prov = meta["meta"]["provenance"]
    assert prov["step"] == "threshold" and prov["params"] == {"t": 2000}
    assert (
        prov["parents"] == [raw] and "numpy" in prov["versions"] and "voxcat" in prov["versions"]
    )
    assert prov["file"].endswith("test_lineage.py") and "cat.save(" in prov["code"]
    edge = cat.lineage(sid).edges[0]
    assert (edge["parent"], edge["child"], edge["step"], edge["user"]) == (
        raw,
        sid,
        "threshold",
        "anna",
    )
    assert edge["params"] == {"t": 2000}
    assert cat.search("threshold").keys() == [sid]  # the step is searchable
    assert verify_audit(cat.index).ok


def test_lineage_through_generations_and_searches(lab) -> None:
    cat, raw, _ = lab
    da = cat[raw].read()
    gen1 = cat.save(
        da.astype("float32") / 4000, name="normalised", parents=[raw], step="normalise"
    )
    gen2 = cat.save(
        (cat[gen1].read() > 0.5).astype("uint8"),
        name="mask",
        parents=[gen1],
        step="threshold",
        level="segmentation",
    )
    labels = xr.Dataset({"porosity": (("z",), np.linspace(0, 1, 12))})
    gen3 = cat.save(labels, name="porosity", parents=[gen2, raw], step="measure", level="analysis")
    g = cat.lineage(gen2)
    assert g.ancestors == {gen1, raw} and g.descendants == {gen3}
    assert g.parents(gen3) == sorted([gen2, raw]) and g.children(raw) == sorted([gen1, gen3])
    assert [sorted(x) for x in g.generations()] == [[raw], [gen1], [gen2], [gen3]]
    text = str(g)
    assert "threshold(normalised.zarr)" in text and "*" + gen2 in text
    svg = g._repr_html_()
    assert svg.startswith("<svg") and svg.count("<rect") == 4 and "threshold" in svg
    assert sorted(cat.search(derived_from=raw)) == sorted([gen1, gen2, gen3])
    assert cat.search(derived_from=gen2).keys() == [gen3]
    assert sorted(cat.search(derived_from=raw, level="segmentation")) == [gen2]
    assert sorted(cat.search(ancestor_of=gen3)) == sorted([raw, gen1, gen2])
    assert cat.search(derived_from=[gen3]).keys() == []
    assert sorted(cat.search(origin="derived")) == sorted([gen1, gen2, gen3])
    assert cat.search(origin="scanned", name="rock*").keys() == [raw]
    assert cat.facets("origin")["origin"] == {"scanned": 2, "derived": 3}
    back = cat[gen3].read()  # a one-variable Dataset reads back as that variable
    arr = back["porosity"] if isinstance(back, xr.Dataset) else back
    np.testing.assert_allclose(arr.values, np.linspace(0, 1, 12))


def test_link_results_made_elsewhere(lab) -> None:
    cat, raw, _ = lab
    other = next(iter(cat.search(name="segmentation_other_tool.tif")))
    assert cat.link(other, parents=[raw], step="ilastik", params={"model": "v3"}) == 1
    assert cat.link(other, parents=[raw], step="ilastik", params={"model": "v3"}) == 0  # once
    assert cat.search(derived_from=raw).keys() == [other]
    edge = cat.lineage(other).edges[0]
    assert edge["step"] == "ilastik" and edge["provenance"]["versions"]["python"]
    with pytest.raises(LineageError, match="cycle"):
        cat.link(raw, parents=[other], step="oops")
    with pytest.raises(LineageError, match="its own parent"):
        cat.link(raw, parents=[raw], step="oops")
    with pytest.raises(LineageError, match="no dataset with id 'nope'"):
        cat.link(other, parents=["nope"], step="x")
    with pytest.raises(LineageError, match="step"):
        cat.link(other, parents=[raw], step="")
    # parameters that are not plain JSON (numpy scalars, paths) are recorded as text
    assert cat.link(other, parents=[raw], step="clean", params={"r": np.float32(1.5)}) == 1
    assert {e["step"]: e["params"] for e in cat.lineage(other).edges}["clean"] == {"r": "1.5"}


def test_bad_saves(lab) -> None:
    cat, raw, _ = lab
    da = cat[raw].read()
    with pytest.raises(LineageError, match="needs step"):
        cat.save(da, name="x", parents=[raw])
    with pytest.raises(LineageError, match="unknown parent"):
        cat.save(da, name="x", parents=["nope"], step="s")
    with pytest.raises(LineageError, match="dims"):
        cat.save(da.rename(x="w"), name="x", step="s")
    with pytest.raises(LineageError, match="not one of"):
        cat.save(da, name="x", level="final")
    with pytest.raises(LineageError, match="DataArray or Dataset"):
        cat.save(np.zeros((4, 4)), name="x")


def test_audit_records_saves_and_links(lab) -> None:
    cat, raw, _ = lab
    sid = cat.save(cat[raw].read()[:2], name="crop", parents=[raw], step="crop")
    from catalog.index.audit import list_audit

    actions = {r["action"]: r for r in list_audit(cat.index, dataset=sid, limit=0)}
    assert {"save", "link", "scan.added"} <= set(actions)
    assert json.loads(json.dumps(actions["link"]["detail"]))["parent"] == raw


def test_saved_results_inherit_modality_sample_and_project(lab) -> None:
    cat, raw, _drive = lab
    other = next(iter(cat.search(name="segmentation_other_tool.tif")))
    cat.set(raw, modality="CT", sample="S01", project="rocks")
    cat.set(other, modality="CT", sample="S02", project="rocks")
    da = cat[raw].read()
    one = cat.save((da > 2000).astype("uint8"), name="pores", parents=[raw], step="t")
    meta = cat[one].metadata
    # from its parent, not "LM" from the OME-Zarr it was written as
    assert (meta["modality"], meta["sample"], meta["project"]) == ("CT", "S01", "rocks")
    both = cat.save(da[:2], name="pair", parents=[raw, other], step="register")
    meta = cat[both].metadata
    assert (meta["modality"], meta["project"]) == ("CT", "rocks")
    assert meta["sample"] is None  # the parents disagree: neither is claimed
    assert set(cat.search(modality="CT", derived_from=raw)) == {one, both}
    # kept by a rescan of the store, like any user-set field
    scan(store_dir(cat.index), cat.index, jobs=1, progress=False)
    assert open_catalog(cat.index)[one].metadata["modality"] == "CT"
