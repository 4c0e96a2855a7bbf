"""Rescans of unchanged folders reuse what the index knows (scanner/known.py) and give
exactly what a full walk gives: same rows, counts and recorded issues."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pytest
import tifffile
from PIL import Image

from catalog import scan
from catalog.readers import BUILTIN_READERS, ImageInfo, Reader, Source, get_reader
from catalog.scanner import known as known_mod
from catalog.scanner import run as run_mod
from catalog.scanner import walk as walk_mod

from .conftest import q


@pytest.fixture
def drive(tmp_path: Path, volume: np.ndarray, rng: np.random.Generator) -> Path:
    """Slice stacks, single images, a failed file, a text file, a dangling link."""
    root = tmp_path / "drive"
    stack = root / "2024" / "s01" / "rec"
    stack.mkdir(parents=True)
    for i, sl in enumerate(volume):
        tifffile.imwrite(stack / f"s01_rec{i:04d}.tif", sl)
    two = root / "2024" / "s02"
    two.mkdir()
    for z in range(4):
        tifffile.imwrite(two / f"a_{z:03d}.tif", volume[z])
    tifffile.imwrite(two / "overview.tif", volume[:3])
    Image.fromarray(rng.integers(0, 255, (30, 50), dtype=np.uint8)).save(root / "overview.png")
    (root / "notes.txt").write_text("hello\n")
    (root / "zero.tif").write_bytes(b"")  # fails: empty
    os.symlink("/nonexistent/target.tif", root / "dangling.tif")
    return root


def _rows(index: Path) -> list[tuple]:
    return q(
        index,
        "SELECT id, name, path, reader, options, n_files, size, checksum, signature, status, "
        "error, warnings, shape, first_seen FROM datasets ORDER BY path",
    )


def _state(index: Path) -> tuple:
    files = q(index, "SELECT path, dataset_id, size, mtime, position FROM files ORDER BY path")
    issues = q(
        index,
        "SELECT scan_id, path, severity, message FROM scan_issues ORDER BY ALL",
    )
    scans = q(index, "SELECT scan_id, status, counts FROM scans ORDER BY scan_id")
    audit = q(index, "SELECT action, dataset_id FROM audit ORDER BY seq")
    return _rows(index), files, issues, scans, audit


def _grouped(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every folder whose files the walk groups (reads headers of)."""
    folders: list[Path] = []
    real = walk_mod._files_to_candidates

    def spy(folder, files, *args, **kwargs):
        if files:
            folders.append(folder)
        return real(folder, files, *args, **kwargs)

    monkeypatch.setattr(walk_mod, "_files_to_candidates", spy)
    return folders


def test_unchanged_rescan_reads_no_folder_and_starts_no_worker(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "lab.duckdb"
    first = scan(drive, index, jobs=2, progress=False)
    assert first["added"] == 5 and first["failed"] == 1, first.counts
    before = _rows(index)
    grouped = _grouped(monkeypatch)

    def no_pool(jobs: int) -> None:
        raise AssertionError("a worker pool was started for an unchanged tree")

    monkeypatch.setattr(run_mod, "_pool", no_pool)
    again = scan(drive, index, jobs=2, progress=False)
    assert again["unchanged"] == 6 and again["datasets"] + again["files"] == 6, again.counts
    assert grouped == []  # no folder was grouped again: nothing was read
    assert _rows(index) == before
    last_seen = q(index, "SELECT DISTINCT scan_id FROM datasets")
    assert last_seen == [(again.scan_id,)]
    # the dangling link is reported by every scan, the reused folder included
    msgs = q(index, "SELECT message FROM scan_issues WHERE scan_id = ?", [again.scan_id])
    assert any("dangling symlink" in m for (m,) in msgs)


def test_rescans_match_full_walks(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same history of changes, scanned with and without reuse, ends the same."""
    fast, full = tmp_path / "fast.duckdb", tmp_path / "full.duckdb"

    def both(**kwargs) -> None:
        a = scan(drive, fast, jobs=1, progress=False, **kwargs)
        with monkeypatch.context() as m:
            m.setattr(known_mod, "load", lambda *a, **k: None)
            b = scan(drive, full, jobs=1, progress=False, **kwargs)
        assert a.counts == b.counts
        assert [i[1:] for i in a.issues] == [i[1:] for i in b.issues]

    both()
    both()  # unchanged
    rec = drive / "2024" / "s01" / "rec"
    st = os.stat(rec / "s01_rec0003.tif")
    os.utime(rec / "s01_rec0003.tif", ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # touched
    (drive / "2024" / "s02" / "a_003.tif").unlink()  # a stack loses a slice
    (drive / "2024" / "new.txt").write_text("new\n")  # a new file in a known folder
    (drive / "notes.txt").write_text("hello again\n")
    both()
    both(retry_failed=True)
    (drive / "zero.tif").unlink()
    both()
    fa, fu = _state(fast), _state(full)
    # same datasets, files, issues, scans and audit trail (first_seen differs by run time)
    assert [r[:-1] for r in fa[0]] == [r[:-1] for r in fu[0]]
    assert fa[1:] == fu[1:]


class TextReader(Reader):
    """A test plugin: text files as one-pixel images."""

    name = "testtext"
    suffixes = (".txt",)

    def describe(self, source: Source) -> ImageInfo:
        return ImageInfo(shape=(1,), dtype="uint8", axes="x")

    def open(self, source: Source, *, level: int = 0) -> None:  # Reader is abstract
        raise NotImplementedError


class BoomReader(Reader):
    """A test plugin whose grouping fails in folders holding ``boom.dat``."""

    name = "testboom"

    def describe(self, source: Source) -> ImageInfo:  # Reader is abstract
        raise NotImplementedError

    def open(self, source: Source, *, level: int = 0) -> None:
        raise NotImplementedError

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        if any(f.name == "boom.dat" for f in files):
            raise RuntimeError("boom")
        return [], files


def test_other_readers_group_again(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False, thumbnails=False)
    with monkeypatch.context() as m:
        m.setitem(BUILTIN_READERS, "testtext", ("tests.test_rescan", "TextReader"))
        rep = scan(drive, index, jobs=1, progress=False, thumbnails=False)
        assert rep["changed"] == 1 and rep["unchanged"] == 5, rep.counts
        assert q(index, "SELECT reader FROM datasets WHERE name = 'notes.txt'") == [("testtext",)]
        assert scan(drive, index, jobs=1, progress=False)["unchanged"] == 6
    get_reader.cache_clear()
    rep = scan(drive, index, jobs=1, progress=False, thumbnails=False)
    assert rep["changed"] == 1 and rep["unchanged"] == 5, rep.counts
    assert q(index, "SELECT reader FROM datasets WHERE name = 'notes.txt'") == [(None,)]


def test_issues_of_a_folder_are_recorded_by_every_scan(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BUILTIN_READERS, "testboom", ("tests.test_rescan", "BoomReader"))
    (drive / "2024" / "s02" / "boom.dat").write_bytes(b"x")
    index = tmp_path / "lab.duckdb"
    ids = [scan(drive, index, jobs=1, progress=False).scan_id for _ in range(3)]
    per_scan = q(
        index,
        "SELECT scan_id, count(*) FROM scan_issues WHERE message LIKE '%testboom reader failed%' "
        "GROUP BY ALL ORDER BY 1",
    )
    assert per_scan == [(i, 1) for i in ids]
    get_reader.cache_clear()


def test_a_dataset_changed_in_the_index_during_the_walk_is_processed(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    real_walk = run_mod.walk

    def walk_then_register(*args, **kwargs):
        found = list(real_walk(*args, **kwargs))
        assert any(isinstance(f, known_mod.Known) for f in found)
        con = duckdb.connect(str(index))  # another process registers the PNG meanwhile
        con.execute("UPDATE datasets SET status = 'registered' WHERE name = 'overview.png'")
        con.close()
        return iter(found)

    monkeypatch.setattr(run_mod, "walk", walk_then_register)
    rep = scan(drive, index, jobs=1, progress=False)
    assert rep["added"] == 1 and rep["unchanged"] == 5, rep.counts
    assert q(index, "SELECT status FROM datasets WHERE name = 'overview.png'") == [("ok",)]


def test_only_live_reader_records_are_kept(drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    ids = [scan(drive, index, jobs=1, progress=False).scan_id for _ in range(4)]
    keys = q(index, "SELECT key FROM settings WHERE starts_with(key, 'readers:')")
    assert keys == [(f"readers:{ids[-1]}",)]
