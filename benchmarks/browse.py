"""Browse benchmark: 2-D views of a big volume and a big mosaic with ``catalog.preview``.

    python -m benchmarks.browse                          # a 4.3 GB volume, a 20000² mosaic
    python -m benchmarks.browse --gb 0.5 --mosaic 6000   # a quick look

Generates (seeded; files are reused between runs) one uint16 volume of ``--gb`` GB
stored three ways (a TIFF slice folder, one contiguous TIFF, a Zarr v3 store of
zstd-compressed 64³ chunks) and one tiled-TIFF mosaic, scans them into an index, then
measures in fresh processes, for every dataset:

- first slice: open a ``Slicer``, read the xy plane (or the whole mosaic) and the
  contrast range, with the files evicted from the page cache first (cold): what the
  slice browser shows first; then the other two orthogonal planes (views), and all
  of it again with the files cached (warm);
- a slider step: the median (and worst) of ``--steps`` consecutive z planes, and of
  xz planes at consecutive y, right after the cold first view; zoom steps (halving the
  window) and pan steps on the mosaic;
- peak memory: growth of the peak RSS (VmHWM) during the views;

without a preview pyramid, then after building one (its build time, memory and size
are reported too), against the naive approach (read the whole array with tifffile or
zarr, then slice it in memory) when the array fits in RAM. The machine's other users
share its two cores: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_FIRST, TARGET_STEP = 1.0, 0.150


def volume_shape(gb: float) -> tuple[int, int, int]:
    """A cube of uint16 of at least ``gb`` GB, sides a multiple of 16."""
    n = math.ceil((gb * 1e9 / 2) ** (1 / 3) / 16) * 16
    return n, n, n


def _balls(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = shape[0]
    centres = rng.uniform(0, 1, (40, 3)) * np.array(shape)
    radii = rng.uniform(0.03, 0.12, 40) * n
    levels = rng.uniform(8000, 30000, 40)
    return np.column_stack([centres, radii, levels])


def volume_plane(z: int, shape: tuple[int, int, int], balls: np.ndarray, seed: int) -> np.ndarray:
    """Plane ``z`` of the test volume: noisy background, bright balls, a gradient."""
    _, ny, nx = shape
    rng = np.random.default_rng([seed, z])
    plane = rng.integers(500, 2500, (ny, nx), dtype=np.uint16)
    plane += np.linspace(0, 3000, nx, dtype=np.uint16)[None, :]
    for cz, cy, cx, r, level in balls:
        d = r * r - (z - cz) ** 2
        if d <= 0:
            continue
        rr = math.sqrt(d)
        y0, y1 = max(0, int(cy - rr)), min(ny, int(cy + rr) + 1)
        x0, x1 = max(0, int(cx - rr)), min(nx, int(cx + rr) + 1)
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < d
        plane[y0:y1, x0:x1][inside] += np.uint16(level)
    return plane


def write_volume(root: Path, gb: float, seed: int = 7) -> dict[str, Path]:
    """The same volume as a slice folder, a contiguous TIFF and a Zarr store."""
    import tifffile
    import zarr

    shape = volume_shape(gb)
    tag = "x".join(map(str, shape))
    out = {
        "slices": root / f"slices-{tag}" / "rec",
        "tiff": root / f"tiff-{tag}" / "volume.tif",
        "zarr": root / f"zarr-{tag}" / "volume.zarr",
    }
    marker = root / f".volume-{tag}-done"
    if marker.exists():
        return out
    for p in out.values():
        shutil.rmtree(p.parent, ignore_errors=True)
        p.parent.mkdir(parents=True)
    out["slices"].mkdir()
    balls = _balls(shape, seed)
    big = tifffile.memmap(out["tiff"], shape=shape, dtype=np.uint16, photometric="minisblack")
    store = zarr.create_array(out["zarr"], shape=shape, chunks=(64, 64, 64), dtype=np.uint16)
    slab = np.empty((64, *shape[1:]), np.uint16)
    for z in range(shape[0]):
        plane = volume_plane(z, shape, balls, seed)
        tifffile.imwrite(out["slices"] / f"rec_{z:05d}.tif", plane, photometric="minisblack")
        big[z] = plane
        slab[z % 64] = plane
        if z % 64 == 63 or z == shape[0] - 1:
            z0 = z - z % 64
            store[z0 : z + 1] = slab[: z + 1 - z0]
        if z % 100 == 0:
            print(f"  writing volume: plane {z}/{shape[0]}", flush=True)
    big.flush()
    del big
    marker.write_text("ok")
    return out


def write_mosaic(path: Path, n: int, seed: int = 11) -> Path:
    """An ``n`` x ``n`` uint16 tiled TIFF written tile by tile (never held in memory)."""
    import tifffile

    marker = path.with_name(f".{path.name}-{n}-done")
    if marker.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tile = 256

    def tiles() -> Any:
        rng = np.random.default_rng(seed)
        ty, tx = np.mgrid[0:tile, 0:tile]
        for y0 in range(0, n, tile):
            for x0 in range(0, n, tile):
                yy, xx = (ty + y0) / n, (tx + x0) / n
                pattern = 20000 * (0.5 + 0.5 * np.sin(40 * yy) * np.cos(30 * xx))
                noise = rng.integers(0, 3000, (tile, tile))
                yield (pattern + noise).astype(np.uint16)

    tifffile.imwrite(path, tiles(), shape=(n, n), dtype=np.uint16, tile=(tile, tile))
    marker.write_text("ok")
    return path


# -- measurements, each in a fresh process ---------------------------------------------


def _status(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _start_peak() -> int:
    """Reset the peak RSS to the current RSS (Linux ``clear_refs``); returns it.

    (``ru_maxrss`` is useless here: it keeps the parent's peak across fork and exec.)
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _peak_growth(base: int) -> int:
    return _status("VmHWM") - base


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def evict(*paths: str) -> None:
    """Drop the files under ``paths`` from the page cache (``posix_fadvise``), so the
    next reads come from the disk, as for data nobody looked at recently."""
    for root in paths:
        files = [root] if os.path.isfile(root) else []
        for folder, _, names in os.walk(root):
            files += [os.path.join(folder, n) for n in names]
        for name in files:
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fdatasync(fd)  # dirty pages cannot be dropped
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def volume_views(s: Any, steps: int, size: int) -> dict:
    nz, ny, nx = s.shape
    s.plane(("y", "x"), at={"z": nz // 2}, max_size=size)
    s.contrast()
    one = time.perf_counter()  # the slice browser shows this view first
    s.plane(("z", "x"), at={"y": ny // 2}, max_size=size)
    s.plane(("z", "y"), at={"x": nx // 2}, max_size=size)
    first = time.perf_counter()
    return {
        "slice_end": one,
        "first_end": first,
        "z": [
            _timed(lambda i=i: s.plane(("y", "x"), at={"z": nz // 2 + i}, max_size=size))
            for i in range(1, steps + 1)
        ],
        "y": [
            _timed(lambda i=i: s.plane(("z", "x"), at={"y": ny // 2 + i}, max_size=size))
            for i in range(1, steps + 1)
        ],
    }


def mosaic_views(s: Any, steps: int, size: int) -> dict:
    ny, nx = s.shape
    s.plane(("y", "x"), max_size=size)
    s.contrast()
    first = time.perf_counter()
    out: dict[str, Any] = {"slice_end": first, "first_end": first}
    cy, cx, half = ny // 2, nx // 2, max(ny, nx) // 2
    zoom = []
    while half >= size // 4 and len(zoom) < steps:
        half //= 2
        box = {"y": (cy - half, cy + half), "x": (cx - half, cx + half)}
        zoom.append(_timed(lambda b=box: s.region(**b, max_size=size)))
    win = min(2 * size, ny, nx)
    starts = [(cx + i * win // 2) % max(1, nx - win) for i in range(1, steps + 1)]
    y0 = min(cy, ny - win)
    pan = [
        _timed(lambda x0=x0: s.region(y=(y0, y0 + win), x=(x0, x0 + win), max_size=size))
        for x0 in starts
    ]
    return {**out, "zoom": zoom, "pan": pan}


def measure_views(
    index: str, ident: str, preview: bool, steps: int, size: int, cold: list[str]
) -> dict:
    import warnings

    from catalog.preview import Slicer

    warnings.simplefilter("ignore")
    evict(*cold)
    base = _start_peak()
    t0 = time.perf_counter()
    s = Slicer(index, ident, preview=preview)
    views = volume_views if "z" in s.dims else mosaic_views
    out = views(s, steps, size)
    out["first"] = out.pop("first_end") - t0
    out["slice"] = out.pop("slice_end") - t0
    out["source"], out["mem"] = s.source, _peak_growth(base)
    return out


def measure_naive(kind: str, path: str, steps: int, cold: bool) -> dict:
    import tifffile
    import zarr

    if cold:
        evict(path)
    base = _start_peak()
    t0 = time.perf_counter()
    if kind == "slices":
        vol = tifffile.imread(sorted(Path(path).glob("rec_*.tif")))
    elif kind == "zarr":
        vol = zarr.open_array(path, mode="r")[:]
    else:
        vol = tifffile.imread(path)
    out: dict[str, Any] = {"load": time.perf_counter() - t0}
    if vol.ndim == 3:
        nz, ny, nx = vol.shape
        _ = vol[nz // 2].copy()
        np.percentile(vol[::4, ::4, ::4], (1, 99.5))
        out["slice"] = time.perf_counter() - t0
        _ = vol[:, ny // 2].copy(), vol[:, :, nx // 2].copy()
        out["first"] = time.perf_counter() - t0
        out["z"] = [_timed(lambda i=i: vol[nz // 2 + i].copy()) for i in range(1, steps + 1)]
        out["y"] = [_timed(lambda i=i: vol[:, ny // 2 + i].copy()) for i in range(1, steps + 1)]
    else:
        ny, nx = vol.shape
        _ = vol[:: max(1, ny // 1024), :: max(1, nx // 1024)].copy()
        np.percentile(vol[::4, ::4], (1, 99.5))
        out["first"] = out["slice"] = time.perf_counter() - t0
        out["pan"] = [
            _timed(lambda i=i: vol[ny // 2 : ny // 2 + 2048, i * 1024 : i * 1024 + 2048].copy())
            for i in range(1, steps + 1)
        ]
    out["mem"] = _peak_growth(base)
    return out


def measure_build(index: str, ident: str) -> dict:
    from catalog.preview import ensure_preview

    base = _start_peak()
    t = time.perf_counter()
    path = ensure_preview(index, ident, min_bytes=0)
    return {
        "seconds": time.perf_counter() - t,
        "mem": _peak_growth(base),
        "path": str(path),
    }


def _worker(argv: list[str]) -> None:
    mode, *rest = argv
    import dask.array  # noqa: F401  (imports are not part of any figure)
    import tifffile  # noqa: F401
    import xarray  # noqa: F401
    import zarr  # noqa: F401

    import catalog.preview  # noqa: F401

    if mode == "views":
        index, ident, preview, steps, size, *cold = rest
        res = measure_views(index, ident, preview == "1", int(steps), int(size), cold)
    elif mode == "naive":
        res = measure_naive(rest[0], rest[1], int(rest[2]), rest[3] == "1")
    else:
        res = measure_build(rest[0], rest[1])
    print("RESULT " + json.dumps(res))


def run(*args: Any) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.browse", "--worker", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")


# -- report ------------------------------------------------------------------------------


def _ms(values: list[float] | None) -> str:
    if not values:
        return "-"
    return f"{1000 * statistics.median(values):6.1f} ({1000 * max(values):6.1f})"


def _row(name: str, mode: str, cold: dict, warm: dict, naive: dict | None) -> str:
    keys = ("z", "y") if "y" in cold else ("zoom", "pan")
    ok_first = "ok" if cold["slice"] < TARGET_FIRST else "SLOW"
    ok_step = all(statistics.median(cold[k]) < TARGET_STEP for k in keys if cold.get(k))
    vs = "-"
    if naive:
        vs = f"{naive['slice'] / cold['slice']:5.1f}x / {naive['mem'] / max(cold['mem'], 1):4.0f}x"
    return (
        f"{name:<7} {mode:<10} {cold['slice']:7.2f} {ok_first:<4} {cold['first']:7.2f} "
        f"{warm['first']:6.2f}  "
        f"{_ms(cold.get(keys[0])):>15} {_ms(cold.get(keys[1])):>15} {'ok' if ok_step else 'SLOW':<4}"
        f" {cold['mem'] / 1e6:7.0f}  {vs}"
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gb", type=float, default=4.3, help="volume size in GB (uint16)")
    p.add_argument("--mosaic", type=int, default=20000, help="mosaic side in pixels")
    p.add_argument("--data", type=Path, default=Path("/tmp/voxcat-bench/browse"))
    p.add_argument("--steps", type=int, default=10, help="slider, zoom and pan steps")
    p.add_argument("--max-size", type=int, default=1024, help="max_size of every view")
    p.add_argument("--no-naive", action="store_true", help="skip the load-everything baseline")
    args = p.parse_args(argv)

    import psutil

    from catalog import open_catalog, scan

    root = args.data
    print(
        f"voxcat browse benchmark: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {root}"
    )
    t = time.perf_counter()
    paths = write_volume(root / "volume", args.gb)
    paths["mosaic"] = write_mosaic(root / "mosaic" / "mosaic.tif", args.mosaic)
    print(f"data ready in {time.perf_counter() - t:.1f} s")
    index = root / "browse.duckdb"
    t = time.perf_counter()
    for where in paths.values():
        scan(where.parent, index, progress=False)
    print(f"scanned (or rescanned) in {time.perf_counter() - t:.1f} s")
    cat = open_catalog(index)
    ids = {
        k: next(i for i in cat if cat.entry(i).metadata["path"] == str(v))
        for k, v in paths.items()
    }
    previews = index.with_name(index.stem + ".voxcat") / "previews"
    shutil.rmtree(previews, ignore_errors=True)

    rows, notes = [], []
    for kind, ident in ids.items():
        meta = cat.entry(ident).metadata
        nbytes = math.prod(meta["shape"]) * np.dtype(meta["dtype"]).itemsize
        shape = "x".join(map(str, meta["shape"]))
        print(f"\n[{kind}: {shape} {meta['dtype']}, {nbytes / 1e9:.2f} GB]", flush=True)
        src, naive = str(paths[kind]), None
        if args.no_naive:
            notes.append(f"{kind}: naive run skipped (--no-naive)")
        elif nbytes * 1.5 > psutil.virtual_memory().available:
            notes.append(f"{kind}: naive run skipped: {nbytes / 1e9:.1f} GB does not fit in RAM")
        else:
            naive = run("naive", kind, src, args.steps, 1)
            warm = run("naive", kind, src, args.steps, 0)
            rows.append(_row(kind, "naive", naive, warm, None))
        for mode in ("no preview", "preview"):
            if mode == "preview":
                build = run("build", index, ident)
                size = sum(f.stat().st_size for f in Path(build["path"]).rglob("*") if f.is_file())
                notes.append(
                    f"{kind}: preview built in {build['seconds']:.1f} s "
                    f"({nbytes / 1e9 / build['seconds']:.2f} GB/s), peak RSS "
                    f"+{build['mem'] / 1e6:.0f} MB, {size / 1e9:.2f} GB on disk"
                )
                print(f"  {notes[-1]}", flush=True)
            flag = int(mode == "preview")
            cold = run("views", index, ident, flag, args.steps, args.max_size, src, previews)
            warm = run("views", index, ident, flag, args.steps, args.max_size)
            rows.append(_row(kind, mode, cold, warm, naive))
            print(f"  {rows[-1]}", flush=True)

    head = (
        f"{'dataset':<7} {'mode':<10} {'first slice s':>12} {'views s':>7} {'warm':>6}  "
        f"{'step1 ms':>15} "
        f"{'step2 ms':>15}      {'peak MB':>7}  vs naive"
    )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (2 cores; others share them)")
    print(head + "\n" + "-" * len(head))
    print("\n".join(rows))
    print(
        f"""
first slice: open a Slicer, read the xy plane (volumes) or the whole image (mosaic)
  with max_size={args.max_size}, and the contrast range, with the files evicted from
  the page cache first: what the slice browser shows first (it reads the other two
  views after showing it). views: all three orthogonal planes of a volume read, cold;
  'warm': the same again with the files cached.
step1/step2, median (max) of {args.steps} steps right after the cold first view:
  volumes: z slider (yx plane at z+1..) / y slider (xz plane at y+1..);
  mosaic: zoom (window halved each step) / pan (half a {2 * args.max_size} px window).
peak MB: growth of the peak RSS during the views (VmHWM).
vs naive: how much faster the cold first slice is / how much less peak memory.
targets: first view (first slice) < {TARGET_FIRST:.0f} s, slider step < {TARGET_STEP * 1000:.0f} ms,
  memory bounded.
naive: tifffile.imread / zarr [:] of the whole array (first slice = load + the xy plane +
  percentiles of a 1/64 subsample; views: + the other two planes), then numpy slicing."""
    )
    for note in notes:
        print(f"  {note}")


if __name__ == "__main__":
    main()
