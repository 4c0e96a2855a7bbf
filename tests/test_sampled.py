"""Big files no reader claims get a sampled checksum (size, mtime, a few blocks) unless
a full one is asked for; verify samples them again, exports hash what they copy, and
a sampled value is never presented as a content checksum."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import blake3
import numpy as np
import pytest
import tifffile

from catalog import scan, verify
from catalog.cli import main
from catalog.errors import ExportError
from catalog.export import export_catalog
from catalog.index import readcache
from catalog.paths import to_db
from catalog.scanner import worker as worker_mod
from catalog.scanner.checksum import SAMPLED_ABOVE, is_sampled, sampled_checksum

from .conftest import q

GIB = 1 << 30


def _sparse(path: Path, size: int, marks: dict[int, bytes]) -> Path:
    """A file of ``size`` bytes, holes except ``marks`` (offset -> bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        try:
            f.truncate(size)
        except OSError as exc:  # EFBIG: a file system with a smaller size limit
            pytest.skip(f"cannot make a {size} byte file here: {exc.strerror}")
        for off, data in marks.items():
            f.seek(off)
            f.write(data)
    if path.stat().st_blocks * 512 > 64 << 20:
        path.unlink()
        pytest.skip("this file system does not keep sparse files sparse")
    return path


def _poke(path: Path, offset: int, data: bytes) -> None:
    """Change bytes in place and put the modification time back, as a silent
    corruption (or a careless tool) would."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _checksums(index: Path) -> dict[str, str]:
    """``file name -> dataset checksum``."""
    return dict(q(index, "SELECT name, checksum FROM datasets"))


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files the scanner hashed in full (``jobs=1`` runs in this process)."""
    names: list[str] = []
    real = worker_mod.file_checksum

    def spy(path: Path, **kwargs) -> str:
        names.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(worker_mod, "file_checksum", spy)
    return names


def test_a_20_gib_sparse_file_is_sampled_not_read(
    tmp_path: Path, hashed: list[str], volume: np.ndarray
) -> None:
    drive = tmp_path / "drive"
    big = _sparse(drive / "archive.bin", 20 * GIB, {0: b"VOXCAT", 10 * GIB: b"middle"})
    (drive / "notes.txt").write_text("small files are hashed in full\n")
    tifffile.imwrite(drive / "scan.tif", volume)
    index = tmp_path / "lab.duckdb"
    rep = scan(drive, index, jobs=1, progress=False)
    assert rep["added"] == 3 and rep["failed"] == 0, rep.counts
    assert sorted(hashed) == ["notes.txt", "scan.tif"]  # never the 20 GiB
    assert rep.bytes_processed < 100 << 20  # the report says what was read
    sums = _checksums(index)
    assert sums["archive.bin"] == sampled_checksum(big) and is_sampled(sums["archive.bin"])
    assert q(index, "SELECT checksum FROM files WHERE path = ?", [to_db(big)]) == [
        (sums["archive.bin"],)
    ]
    tif = (drive / "scan.tif").read_bytes()
    assert sums["scan.tif"] == "b3:" + blake3.blake3(tif).hexdigest()  # images: in full
    assert not is_sampled(sums["notes.txt"])

    # verify samples it again: unchanged, then a changed sampled block is found
    report = verify(index, progress=False)
    assert report.counts == {"unchanged": 3, "modified": 0, "missing": 0, "unverifiable": 0}
    assert report.bytes_read < 100 << 20
    _poke(big, 3, b"-")
    readcache.close_all()
    report = verify(index, progress=False)
    assert report.counts["modified"] == 1
    (changed,) = [r for r in report.results.values() if r["outcome"] == "modified"]
    assert changed["name"] == "archive.bin"
    assert is_sampled(changed["files"][0]["found"])
    _poke(big, 3, b"C")  # as it was
    # a change between sampled blocks with the mtime put back is the documented limit
    _poke(big, GIB + 12345, b"unseen")
    assert verify(index, progress=False).counts["unchanged"] == 3
    # touched: the mtime is part of the signature
    os.utime(big, ns=(big.stat().st_atime_ns, big.stat().st_mtime_ns + 5 * 10**9))
    assert verify(index, progress=False).counts["modified"] == 1

    # rescans: unchanged files are not read again; a rename is a move (same id)
    hashed.clear()
    rep = scan(drive, index, jobs=1, progress=False)
    assert (rep["changed"], rep["unchanged"]) == (1, 2), rep.counts
    assert hashed == []
    ident = q(index, "SELECT id FROM datasets WHERE name = 'archive.bin'")
    big.rename(drive / "renamed.bin")
    rep = scan(drive, index, jobs=1, progress=False)
    assert (rep["moved"], rep["missing"]) == (1, 0), rep.counts
    assert q(index, "SELECT id FROM datasets WHERE name = 'renamed.bin'") == ident


def test_full_checksums_hash_every_byte(
    tmp_path: Path, hashed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    drive = tmp_path / "drive"
    size = SAMPLED_ABOVE + (16 << 20)
    big = _sparse(drive / "big.bin", size, {0: b"VOXCAT", size - 6: b"theend"})
    small = drive / "one_mib.bin"
    small.write_bytes(np.random.default_rng(7).integers(0, 255, 1 << 20, np.uint8).tobytes())
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    sums = _checksums(index)
    assert is_sampled(sums["big.bin"])
    assert sums["one_mib.bin"] == "b3:" + blake3.blake3(small.read_bytes()).hexdigest()

    # asked for on the command line: the sampled checksum is replaced by a full one
    full = "b3:" + blake3.blake3(big.read_bytes()).hexdigest()
    args = ["scan", str(drive), "--index", str(index), "-j", "1", "--quiet"]
    assert main([*args, "--full-checksums"]) == 0
    assert "changed: 1, moved: 0, unchanged: 1" in capsys.readouterr().out
    assert _checksums(index)["big.bin"] == full
    assert "big.bin" in hashed
    # a full checksum sees a change a sample would not
    _poke(big, (2 << 20) + 7, b"unseen")
    assert sampled_checksum(big) == sums["big.bin"]
    readcache.close_all()
    report = verify(index, progress=False)
    assert report.counts["modified"] == 1
    # and a fresh index scanned with full_checksums=True never samples
    other = tmp_path / "other.duckdb"
    scan(drive, other, jobs=1, progress=False, full_checksums=True)
    assert _checksums(other)["big.bin"] == "b3:" + blake3.blake3(big.read_bytes()).hexdigest()


def test_an_export_hashes_what_it_copies(tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    size = SAMPLED_ABOVE + (8 << 20)
    big = _sparse(drive / "big.bin", size, {0: b"VOXCAT", size // 2: b"middle"})
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    [(ident, checksum)] = q(index, "SELECT id, checksum FROM datasets")
    assert is_sampled(checksum)
    data = big.read_bytes()

    dest = tmp_path / "out"
    export_catalog(index, dest, ids=[ident], progress=False)
    copy = dest / "data" / ident / "big.bin"
    assert copy.read_bytes() == data
    exported = dest / "voxcat.duckdb"
    full = "b3:" + blake3.blake3(data).hexdigest()
    assert q(exported, "SELECT checksum FROM datasets") == [(full,)]
    assert q(exported, "SELECT checksum FROM files") == [(full,)]
    manifest = (dest / "manifest-sha256.txt").read_text().split()
    assert manifest == [hashlib.sha256(data).hexdigest(), f"data/{ident}/big.bin"]
    assert verify(exported, progress=False).counts["unchanged"] == 1
    for f in dest.rglob("*"):  # no sampled value is handed on as a checksum
        if f.is_file() and f != copy:
            assert b"sampled:" not in f.read_bytes(), f

    # a source whose sampled bytes changed since the scan is refused
    _poke(big, 1, b"X")
    with pytest.raises(ExportError, match="does not match the index"):
        export_catalog(index, tmp_path / "refused", ids=[ident], progress=False)
