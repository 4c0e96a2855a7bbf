"""Export benchmark: ``export_catalog`` in copy and zarr modes against a plain file copy.

    python -m benchmarks.export              # a 4.3 GB subset
    python -m benchmarks.export --gb 0.5     # a quick look

The subset is three big uint16 TIFF volumes and a folder of TIFF slices (seeded,
kept in ``--data``, default ``/tmp/voxcat-bench/export``, and scanned once). Before
every timed run the source files are read once, so the page cache is warmed the same
way for all contenders; every run ends with ``os.sync()``, so each figure is the time
until the bytes are on disk (the export flushes each file before renaming it into
place; a copy is not finished before that either). The baseline is
``shutil.copyfile`` of each file of the same subset, measured in the same run,
alternating with the export. Copy mode includes everything the export does: copying,
re-reading every written file for SHA-256 (BagIt) and BLAKE3 (compared with the
index), the catalogue, index, manifests and RO-Crate. Zarr mode converts every
dataset to multiscale Zarr (chunks of 4-8 MB, LZ4) and reads level 0 back to compare.
Target: copy mode >= 0.7 of the plain copy's GB/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

SIDE = 1024  # volumes and slices are SIDE x SIDE uint16 planes (2 MiB each)


def _write_volume(path: Path, planes: int, seed: int) -> None:
    import tifffile

    if path.exists() and path.stat().st_size >= planes * SIDE * SIDE * 2:
        return
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 4000, (SIDE, SIDE), dtype=np.uint16)

    def gen():
        for z in range(planes):
            yield np.roll(base, z, axis=1) + np.uint16(z % 97)

    tifffile.imwrite(
        path, gen(), shape=(planes, SIDE, SIDE), dtype=np.uint16, photometric="minisblack"
    )


def make_subset(root: Path, gb: float) -> Path:
    """Three volumes (28 % of the bytes each) and a slice folder (16 %); returns the index."""
    import tifffile

    from catalog import scan

    plane = SIDE * SIDE * 2
    total = int(gb * 1e9 / plane)
    drive = root / f"drive-{gb:g}"
    drive.mkdir(parents=True, exist_ok=True)
    for k in range(3):
        _write_volume(drive / f"volume_{k}.tif", int(total * 0.28), seed=k)
    rec = drive / "rec"
    rec.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)
    for z in range(total - 3 * int(total * 0.28)):
        path = rec / f"rec_{z:05d}.tif"
        if not path.exists():
            tifffile.imwrite(path, rng.integers(0, 4000, (SIDE, SIDE), dtype=np.uint16))
    index = root / f"index-{gb:g}.duckdb"
    marker = root / f".scanned-{gb:g}"
    if not marker.exists():
        index.unlink(missing_ok=True)
        scan(drive, index, progress=False)
        marker.write_text("ok")
    return index


def _files(index: Path) -> list[Path]:
    from catalog.index import connect

    with connect(index, read_only=True) as con:
        return [Path(p) for (p,) in con.execute("SELECT path FROM files ORDER BY path").fetchall()]


def _warm(paths: list[Path]) -> None:
    buf = bytearray(64 << 20)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def _fresh(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.sync()


def plain_copy(paths: list[Path], dest: Path) -> float:
    """Seconds to ``shutil.copyfile`` every file into ``dest`` and sync."""
    t0 = time.perf_counter()
    for k, p in enumerate(paths):
        folder = dest / str(k % 64)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, folder / p.name)
    os.sync()
    return time.perf_counter() - t0


def run_export(index: Path, dest: Path, mode: str) -> float:
    from catalog import open_catalog
    from catalog.export import export_catalog

    t0 = time.perf_counter()
    export_catalog(open_catalog(index), dest, mode=mode, progress=False)
    os.sync()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=4.3, help="size of the subset (default 4.3)")
    parser.add_argument("--data", default="/tmp/voxcat-bench/export", help="where data is kept")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of copy mode")
    parser.add_argument("--no-zarr", action="store_true", help="skip the zarr mode")
    args = parser.parse_args()
    root = Path(args.data)
    t0 = time.perf_counter()
    index = make_subset(root, args.gb)
    paths = _files(index)
    size = sum(p.stat().st_size for p in paths)
    print(
        f"subset: {len(paths)} files, {size / 1e9:.2f} GB (ready in {time.perf_counter() - t0:.0f} s)"
    )
    out = root / "out"
    base, copy = [], []
    for _ in range(args.repeat):
        _fresh(out)
        _warm(paths)
        base.append(plain_copy(paths, out / "plain"))
        _fresh(out)
        _warm(paths)
        copy.append(run_export(index, out / "copy", "copy"))
    _fresh(out)
    b, c = min(base), min(copy)
    rate = lambda s: size / 1e9 / s  # noqa: E731
    print(
        f"plain shutil.copyfile + sync : {b:6.2f} s  {rate(b):5.2f} GB/s   (runs: {', '.join(f'{s:.2f}' for s in base)} s)"
    )
    print(
        f"export mode=copy + sync      : {c:6.2f} s  {rate(c):5.2f} GB/s   (runs: {', '.join(f'{s:.2f}' for s in copy)} s)"
    )
    print(f"copy mode / plain copy       : {rate(c) / rate(b):.2f}   (target >= 0.7)")
    if not args.no_zarr:
        _warm(paths)
        z = run_export(index, out / "zarr", "zarr")
        written = sum(f.stat().st_size for f in (out / "zarr" / "data").rglob("*") if f.is_file())
        _fresh(out)
        print(
            f"export mode=zarr + sync      : {z:6.2f} s  {rate(z):5.2f} GB/s of source  ({written / 1e9:.2f} GB written with pyramids)"
        )
        print(f"zarr mode / plain copy       : {rate(z) / rate(b):.2f}")


if __name__ == "__main__":
    main()
