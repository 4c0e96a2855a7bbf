"""A stitched SEM-like mosaic at the size the issue names (32,000 columns x 27,000
rows, uint8, 864 MB of pixels) as a zstd-tiled BigTIFF, written tile by tile from a
seeded RNG without ever holding the image (tifffile takes an iterator of tiles).

Every pixel is a function of where it is: smooth bands, a brightness step per tile (the
seams of a stitched acquisition), bright grains and noise, each tile from its own
generator seeded by ``(SEED, tile row, tile column)``, so :func:`pixels` gives any
window's expected values without the file, and zoomed views look different from the
whole.

Run as ``python -m tests.big_mosaic_lab STEP DIR`` (``write`` or ``pyramid``) to do one
step in a process of its own: it prints ``{"seconds", "peak_rss", "base_rss", ...}`` as
JSON, the peak being ``VmHWM`` of that process (its high-water resident memory).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROWS, COLS = 27_000, 32_000
TILE = 512
SEED = 20261206
NAME = "wafer_big.tif"
GRAINS = 6  # bright grains per tile


def tile(ty: int, tx: int) -> np.ndarray:
    """Tile ``(ty, tx)`` of the mosaic, always ``TILE x TILE`` (the TIFF pads the edges)."""
    rng = np.random.default_rng([SEED, ty, tx])
    y = (ty * TILE + np.arange(TILE, dtype=np.float32)) * np.float32(36 * np.pi / ROWS)
    x = (tx * TILE + np.arange(TILE, dtype=np.float32)) * np.float32(48 * np.pi / COLS)
    img = 100 + 60 * np.sin(y)[:, None] * np.cos(x)[None, :]
    img += rng.integers(-6, 7)  # this tile's brightness: the stitching seams
    for _ in range(GRAINS):
        cy, cx = rng.integers(0, TILE, 2)
        r = int(rng.integers(6, 40))
        y0, y1, x0, x1 = max(cy - r, 0), min(cy + r, TILE), max(cx - r, 0), min(cx + r, TILE)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        img[y0:y1, x0:x1][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += 70
    img += rng.integers(0, 8, (TILE, TILE), dtype=np.uint8)
    return np.clip(img, 0, 255).astype(np.uint8)


def tiles() -> Iterator[np.ndarray]:
    """Every tile, row by row: what ``tifffile.imwrite`` stores."""
    for ty in range(-(-ROWS // TILE)):
        for tx in range(-(-COLS // TILE)):
            yield tile(ty, tx)


def pixels(rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """The mosaic's pixels in ``rows x cols`` (level-0 ranges, end excluded)."""
    (r0, r1), (c0, c1) = rows, cols
    out = np.empty((r1 - r0, c1 - c0), np.uint8)
    for ty in range(r0 // TILE, -(-r1 // TILE)):
        for tx in range(c0 // TILE, -(-c1 // TILE)):
            t = tile(ty, tx)
            y0, x0 = ty * TILE, tx * TILE
            ys, ye = max(r0, y0), min(r1, y0 + TILE)
            xs, xe = max(c0, x0), min(c1, x0 + TILE)
            out[ys - r0 : ye - r0, xs - c0 : xe - c0] = t[ys - y0 : ye - y0, xs - x0 : xe - x0]
    return out


def write_mosaic(path: Path) -> Path:
    """Write the mosaic to ``path`` (a zstd-compressed, tiled BigTIFF)."""
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path,
        tiles(),
        shape=(ROWS, COLS),
        dtype=np.uint8,
        tile=(TILE, TILE),
        bigtiff=True,
        compression="zstd",
        compressionargs={"level": 1},
        predictor=True,
        photometric="minisblack",
    )
    return path


def peak_rss() -> int:
    """This process's high-water resident memory (``VmHWM``) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _step(step: str, base: Path) -> dict:
    if step == "write":
        before = peak_rss()
        t0 = time.perf_counter()
        path = write_mosaic(base / "drive" / "sem" / NAME)
        return {
            "seconds": time.perf_counter() - t0,
            "base_rss": before,
            "peak_rss": peak_rss(),
            "bytes": path.stat().st_size,
        }
    if step == "pyramid":
        # everything a build imports or opens first, so the growth is the build's own
        import dask.array  # noqa: F401
        import xarray  # noqa: F401
        import zarr  # noqa: F401

        from catalog import open_catalog
        from catalog.preview import ensure_preview
        from catalog.preview.dataset import load_ref
        from catalog.preview.originals import open_level

        index = base / "big.duckdb"
        (ident,) = list(open_catalog(index))
        ref = load_ref(open_catalog(index), ident)
        ref.read(0)
        open_level(ref, 0).close()
        before = peak_rss()
        t0 = time.perf_counter()
        path = ensure_preview(index, ident, min_bytes=0)
        return {
            "seconds": time.perf_counter() - t0,
            "base_rss": before,
            "peak_rss": peak_rss(),
            "path": str(path),
        }
    raise SystemExit(f"unknown step {step!r}: write or pyramid")


if __name__ == "__main__":
    print(json.dumps(_step(sys.argv[1], Path(sys.argv[2]))))
