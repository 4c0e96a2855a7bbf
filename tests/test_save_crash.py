"""``cat.save`` killed with SIGKILL at each of its steps: the index holds all of the
save or none of it, leftovers are reported and removed by the next save, and saving
again never makes a second dataset."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan, verify_audit
from catalog.catalogue.save import SAVING, clean_store, store_dir, write_result
from catalog.index import cache_dir
from catalog.index.audit import list_audit

from .conftest import q
from .killing import kill_at, paused_at

SAVE = """
import sys
from catalog import open_catalog
cat = open_catalog(sys.argv[1])
da = cat[sys.argv[2]].read()
cat.save((da > 2000).astype("uint8"), name="pores", parents=[sys.argv[2]],
         step="threshold", params={"t": 2000}, tags=["auto"])
"""


@pytest.fixture
def lab(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, str]:
    drive = tmp_path / "drive"
    drive.mkdir()
    vol = rng.integers(0, 4000, (12, 64, 72), dtype=np.uint16)
    tifffile.imwrite(drive / "rock_rec.tif", vol, imagej=True, metadata={"axes": "ZYX"})
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    raw = next(iter(open_catalog(index)))
    return index, raw


def _saved(index: Path) -> list[str]:
    return [i for (i,) in q(index, "SELECT id FROM datasets WHERE name = 'pores.zarr'")]


def _save_again(index: Path, raw: str) -> tuple[str, list]:
    cat = open_catalog(index)
    da = cat[raw].read()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ident = cat.save(
            (da > 2000).astype("uint8"),
            name="pores",
            parents=[raw],
            step="threshold",
            params={"t": 2000},
            tags=["auto"],
        )
    return ident, [str(w.message) for w in caught]


def _complete(index: Path, ident: str, raw: str) -> None:
    """Everything one save records, for ``ident``."""
    cat = open_catalog(index)
    meta = cat[ident].metadata
    assert meta["meta"]["provenance"]["params"] == {"t": 2000}
    assert meta["tags"] == ["auto"]
    assert [(e["parent"], e["step"]) for e in cat.lineage(ident).edges] == [(raw, "threshold")]
    actions = {r["action"] for r in list_audit(index, dataset=ident, limit=0)}
    assert {"scan.added", "save", "link", "tag"} <= actions
    assert verify_audit(index).ok
    assert q(index, "SELECT count(*) FROM scans WHERE status = 'running'") == [(0,)]


@pytest.mark.parametrize(
    "step",
    [
        pytest.param("save.writing", marks=pytest.mark.slow),  # in the Zarr write
        "save.written",  # data in place, nothing indexed yet
        pytest.param("save.commit", marks=pytest.mark.slow),  # inside the transaction
    ],
)
def test_a_save_killed_before_its_commit_leaves_nothing_and_is_cleaned_up(lab, step) -> None:
    index, raw = lab
    kill_at(SAVE, step, index, raw)
    assert _saved(index) == []  # nothing of it in the index: no dataset, scan, audit row
    assert q(index, "SELECT count(*) FROM audit WHERE action = 'save'") == [(0,)]
    assert q(index, "SELECT count(*) FROM scans WHERE status = 'running'") == [(0,)]
    left = sorted(store_dir(index).rglob("*.zarr*"))
    assert left, "the killed save wrote its data first"
    assert len(list((cache_dir(index) / SAVING).iterdir())) == 1  # its claim on the folder

    ident, warned = _save_again(index, raw)
    assert _saved(index) == [ident]
    _complete(index, ident, raw)
    folders = [p for p in store_dir(index).iterdir()]
    assert folders == [Path(open_catalog(index)[ident].metadata["path"]).parent]
    assert not any(p.name.endswith(".tmp") for p in store_dir(index).rglob("*"))
    assert list((cache_dir(index) / SAVING).iterdir()) == []
    # reported: a warning and an audit row naming what was removed
    assert any("leftover" in w and "interrupted saves" in w for w in warned)
    (cleaned,) = [r for r in list_audit(index, limit=0) if r["action"] == "store.cleaned"]
    assert str(left[0].parent) in json.dumps(cleaned["detail"])


def test_a_save_killed_after_its_commit_is_whole_and_not_made_twice(lab) -> None:
    index, raw = lab
    kill_at(SAVE, "save.committed", index, raw)
    (first,) = _saved(index)
    _complete(index, first, raw)  # all of it or nothing: here all of it
    again, _ = _save_again(index, raw)  # the user reruns the cell
    assert again == first and _saved(index) == [first]
    assert [p for p in store_dir(index).iterdir()] == [
        Path(open_catalog(index)[first].metadata["path"]).parent
    ]
    assert list((cache_dir(index) / SAVING).iterdir()) == []
    # other parameters, or other data, are another result
    cat = open_catalog(index)
    da = cat[raw].read()
    other = cat.save((da > 2000).astype("uint8"), name="pores", parents=[raw], step="t", params={})
    assert other != first and len(_saved(index)) == 2


def test_a_save_in_progress_is_left_alone(lab) -> None:
    """Another process's save, still running, is not a leftover; once it is killed,
    its folder is."""
    index, raw = lab
    with paused_at(SAVE, "save.written", index, raw):
        assert clean_store(index) == []  # its writer is alive
        assert any(store_dir(index).rglob("pores.zarr"))
    removed = clean_store(index)  # now it is dead
    assert len(removed) == 1 and not removed[0].exists()
    assert list((cache_dir(index) / SAVING).iterdir()) == []


def test_a_save_an_older_voxcat_left_half_done_is_completed_not_made_twice(lab) -> None:
    """Before saves were one transaction, a crash after the scan of the result left a
    dataset without lineage, provenance or save record; saving the same result again
    completes that dataset instead of adding a second one."""
    index, raw = lab
    cat = open_catalog(index)
    da = cat[raw].read()
    seg = (da > 2000).astype("uint8")
    folder = store_dir(index) / "20250101-120000-abcdef"
    folder.mkdir(parents=True)
    write_result(seg, folder / "pores.zarr")  # what the old save did, up to its scan
    scan(folder / "pores.zarr", index, jobs=1, progress=False)
    (old,) = _saved(index)
    assert "provenance" not in (open_catalog(index)[old].metadata["meta"] or {})
    again = cat.save(
        seg, name="pores", parents=[raw], step="threshold", params={"t": 2000}, tags=["auto"]
    )
    assert again == old and _saved(index) == [old]
    _complete(index, old, raw)
    assert [p.name for p in store_dir(index).iterdir()] == [folder.name]
