"""Migration benchmark: ``migrate`` (copy, hash, verify, record) against a plain copy.

    python -m benchmarks.migrate              # about 400 MB of TIFF and Zarr
    python -m benchmarks.migrate --mb 8       # a quick look

The data is written here, seeded: eight uint16 TIFF volumes (40 % of the bytes), a
folder of 2 MiB TIFF slices (40 %, one dataset) and a Zarr array of 1 MiB chunks
(20 %), in ``--data`` (default
``/tmp/voxcat-bench/migrate``), scanned once into an index kept pristine (each
migration starts from a copy of it). The target is a folder on ``--target``'s
filesystem (default: under ``--data``). Contenders, alternating, ``--repeat`` times
each, the best run kept:

- plain: ``shutil.copyfile`` of every file of the datasets into the target, then
  ``os.sync()`` (a copy is not finished before its bytes are on disk);
- migrate: ``catalog.migrate`` of every dataset into the target, then ``os.sync()``:
  each file read once and hashed (SHA-256, BLAKE3) while written, compared with the
  index checksum, ``fsync``-ed, read back from the device (its cached pages dropped)
  and compared again, renamed, journaled, and each copy recorded in the index as a
  replica with its audit rows.

Before each timed run the page cache is emptied (``sync`` and ``echo 3 >
/proc/sys/vm/drop_caches``; root only), for both contenders alike, so both read the
sources from the device; where that is refused the sources are read once before
each run instead (both warm). The line ``cache:`` says which. Target: migrate >= 0.7
of the plain copy's MB/s, verification included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

SIDE = 1024  # TIFF planes of SIDE x SIDE uint16 (2 MiB each)
VOLUMES = 8


def make_data(root: Path, mb: float) -> Path:
    """The TIFF volumes and the Zarr array (seeded; written once per size), scanned;
    returns the pristine index."""
    import tifffile
    import zarr

    from catalog import scan

    drive = root / f"src2-{mb:g}"
    index = root / f"index2-{mb:g}.duckdb"
    marker = root / f".scanned2-{mb:g}"
    if marker.exists() and index.exists():
        return index
    shutil.rmtree(drive, ignore_errors=True)
    index.unlink(missing_ok=True)
    drive.mkdir(parents=True)
    total = mb * 1e6
    side = SIDE if total >= 40e6 else 256  # tiny runs: small planes
    plane = side * side * 2
    rng = np.random.default_rng(11)
    for k in range(VOLUMES):
        planes = max(1, int(total * 0.4 / VOLUMES / plane))
        base = rng.integers(0, 4000, (side, side), dtype=np.uint16)

        def gen(base: np.ndarray = base, planes: int = planes):
            for z in range(planes):
                yield np.roll(base, z, axis=1) + np.uint16(z % 97)

        tifffile.imwrite(
            drive / f"volume_{k}.tif",
            gen(),
            shape=(planes, side, side),
            dtype=np.uint16,
            photometric="minisblack",
        )
    slices = drive / "rec"
    slices.mkdir()
    for z in range(max(2, int(total * 0.4 / plane))):
        tifffile.imwrite(
            slices / f"rec_{z:05d}.tif", rng.integers(0, 4000, (side, side), dtype=np.uint16)
        )
    planes = max(2, int(total * 0.2 / plane))
    chunk = (max(1, (1 << 20) // plane), side, side)
    z = zarr.open_array(
        drive / "stack.zarr",
        mode="w",
        shape=(planes, side, side),
        chunks=chunk,
        dtype="uint16",
        zarr_format=2,
        compressor=None,
    )
    z[:] = rng.integers(0, 4000, (planes, side, side), dtype=np.uint16)
    scan(drive, index, progress=False, full_checksums=True)
    marker.write_text("ok")
    return index


def source_files(index: Path) -> list[Path]:
    from catalog.index import connect

    with connect(index, read_only=True) as con:
        return [Path(p) for (p,) in con.execute("SELECT path FROM files ORDER BY path").fetchall()]


def drop_caches() -> bool:
    """Write dirty pages and drop the page cache (root only); ``False`` if refused."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
    except OSError:
        return False
    return True


def warm(paths: list[Path]) -> None:
    buf = bytearray(16 << 20)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def prepare(paths: list[Path], cold: bool) -> None:
    if not (cold and drop_caches()):
        warm(paths)


def plain_copy(paths: list[Path], dest: Path) -> float:
    """Seconds to ``shutil.copyfile`` every file into ``dest`` and sync."""
    t0 = time.perf_counter()
    for k, p in enumerate(paths):
        folder = dest / str(k)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, folder / p.name)
    os.sync()
    return time.perf_counter() - t0


def run_migrate(
    pristine: Path, work: Path, dest: Path, read_back: bool = True
) -> tuple[float, int]:
    """Seconds to migrate every dataset of a fresh copy of ``pristine`` into ``dest``
    and sync; and how many datasets it copied."""
    from catalog import migrate

    index = work / "index.duckdb"
    shutil.copyfile(pristine, index)
    t0 = time.perf_counter()
    report = migrate(index, dest, ids=_ids(index), deep_verify=read_back, progress=False)
    os.sync()
    seconds = time.perf_counter() - t0
    if report.refused:
        raise SystemExit(f"the migration refused datasets: {report.refused}")
    return seconds, len(report.datasets)


def _ids(index: Path) -> list[str]:
    from catalog.index import connect

    with connect(index, read_only=True) as con:
        return [i for (i,) in con.execute("SELECT id FROM datasets ORDER BY id").fetchall()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--mb", type=float, default=400, help="size of the data (default 400)")
    parser.add_argument("--data", default="/tmp/voxcat-bench/migrate", help="where data is kept")
    parser.add_argument("--target", default=None, help="folder to copy into (default: --data)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each contender")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="read the sources before each run instead of dropping the page cache",
    )
    args = parser.parse_args(argv)
    root = Path(args.data)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pristine = make_data(root, args.mb)
    paths = source_files(pristine)
    size = sum(p.stat().st_size for p in paths)
    target = Path(args.target or root) / "out"
    work = root / "work"
    print(
        f"data: {len(paths)} files, {size / 1e6:.1f} MB of TIFF and Zarr "
        f"(ready in {time.perf_counter() - t0:.0f} s); target {target}"
    )
    cold = not args.warm and drop_caches()
    print(
        "cache: dropped before every run (sync; echo 3 > /proc/sys/vm/drop_caches), both "
        "contenders read the sources from the device"
        if cold
        else "cache: sources read once before every run (both contenders warm)"
    )
    times: dict[str, list[float]] = {"plain": [], "migrate": [], "no-read-back": []}
    count = 0
    for _ in range(args.repeat):
        for name in times:
            shutil.rmtree(target, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            prepare(paths, cold)
            if name == "plain":
                times[name].append(plain_copy(paths, target / "plain"))
            else:
                seconds, count = run_migrate(
                    pristine, work, target / "migrated", read_back=name == "migrate"
                )
                times[name].append(seconds)
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}

    def rate(s: float) -> float:
        return size / 1e6 / s

    labels = {
        "plain": "plain shutil.copyfile + sync",
        "migrate": f"migrate ({count} datasets) + sync",
        "no-read-back": "migrate --no-read-back + sync",
    }
    notes = {
        "plain": "",
        "migrate": "  BLAKE3 while copying, fsync, read back from the device, recorded",
        "no-read-back": "  BLAKE3 while copying, fsync and size checked, recorded",
    }
    for k, label in labels.items():
        runs = ", ".join(f"{s:.2f}" for s in times[k])
        print(
            f"{label:33}: {best[k]:6.2f} s  {rate(best[k]):7.1f} MB/s  (runs: {runs} s){notes[k]}"
        )
    print(
        f"{'migrate / plain copy':33}: {rate(best['migrate']) / rate(best['plain']):.2f}   "
        "(target >= 0.7, verification by read-back included)"
    )
    print(
        f"{'migrate --no-read-back / plain':33}: "
        f"{rate(best['no-read-back']) / rate(best['plain']):.2f}"
    )


if __name__ == "__main__":
    main()
