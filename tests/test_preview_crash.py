"""A preview build killed with SIGKILL half way: its temporary folder never counts as
a preview (nor in ``bytes_on_disk``), and is removed as soon as its process is gone,
by the next build or by ``prune_previews``, while a build in progress is left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan
from catalog.index.audit import list_audit
from catalog.preview import ensure_preview, prune_previews
from catalog.preview.batch import build_previews
from catalog.preview.store import previews_dir

from .killing import kill_at, paused_at
from .test_preview import TARGET, make_volume

BUILD = """
import sys
from catalog.preview import ensure_preview
ensure_preview(sys.argv[1], sys.argv[2], min_bytes=0, target=32, block_bytes=1 << 16)
"""


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, str]:
    drive = tmp_path / "drive"
    drive.mkdir()
    tifffile.imwrite(drive / "vol.tif", make_volume(np.random.default_rng(7)))
    index = tmp_path / "i.duckdb"
    scan(drive, index, jobs=1, progress=False)
    return index, next(iter(open_catalog(index)))


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_a_killed_build_is_not_counted_and_is_removed_when_its_process_is_gone(small) -> None:
    index, ident = small
    folder = previews_dir(index)
    with paused_at(BUILD, "preview.level", index, ident):
        (tmp,) = list(folder.iterdir())
        assert tmp.name.startswith(".") and tmp.name.endswith(".tmp") and _size(tmp) > 0
        assert prune_previews(index) == []  # its build is running: left alone
        assert build_previews(index, dry_run=True, min_bytes=0).bytes_on_disk == 0
    assert tmp.is_dir() and _size(tmp) > 0  # killed: what it wrote stays behind
    report = build_previews(index, dry_run=True, min_bytes=0)
    assert report.bytes_on_disk == 0 and report.removed == []  # a dry run removes nothing
    assert tmp.is_dir()
    assert prune_previews(index) == [tmp]  # minutes old, but its process is gone
    assert list(folder.iterdir()) == []
    actions = [r for r in list_audit(index, limit=0) if r["action"] == "preview.pruned"]
    assert actions and tmp.name in str(actions[0]["detail"])


def test_the_next_build_removes_what_a_killed_one_left(small) -> None:
    index, ident = small
    kill_at(BUILD, "preview.level", index, ident)
    (tmp,) = list(previews_dir(index).iterdir())
    path = ensure_preview(index, ident, min_bytes=0, target=TARGET)
    assert list(previews_dir(index).iterdir()) == [path]
    (built,) = [r for r in list_audit(index, limit=0) if r["action"] == "preview.built"]
    assert built["detail"]["removed"] == [f"previews/{tmp.name}"]
    report = build_previews(index, min_bytes=0)
    assert report.counts["current"] == 1 and report.bytes_on_disk == _size(path)
