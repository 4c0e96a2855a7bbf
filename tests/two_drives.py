"""Two small drives of TIFFs (seeded random pixels), scanned into one index, with
modality, project and data level set by ``cat.set``: what ``cat.stats`` and the
dashboard are tested on."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import tifffile

from catalog import open_catalog, scan

# name -> (drive, DateTime tag or None (then the file's mtime counts), y, x)
FILES = {
    "a": ("one", dt.datetime(2024, 3, 5, 10), 16, 20),
    "b": ("one", dt.datetime(2024, 3, 20, 9), 24, 20),
    "c": ("one", dt.datetime(2024, 5, 1, 8), 16, 32),
    "d": ("two", None, 40, 24),
    "e": ("two", dt.datetime(2024, 5, 10, 12), 8, 8),
}
MTIME = dt.datetime(2023, 11, 15, 12).timestamp()


def write_two_drives(base: Path) -> tuple[Path, dict[str, int]]:
    """Write and scan drives ``one`` and ``two`` under ``base``: (index, bytes per file)."""
    rng = np.random.default_rng(20261205)
    sizes = {}
    for name, (drive, when, y, x) in FILES.items():
        path = base / drive / f"{name}.tif"
        path.parent.mkdir(exist_ok=True)
        data = rng.integers(0, 4000, (y, x), dtype=np.uint16)
        if when is None:
            tifffile.imwrite(path, data)
            os.utime(path, (MTIME, MTIME))
        else:
            tifffile.imwrite(path, data, datetime=when)
        sizes[name] = path.stat().st_size
    index = base / "lab.duckdb"
    for drive in ("one", "two"):
        scan(base / drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {Path(name).stem: i for i, name in cat.df["name"].items()}
    cat.set([ids["a"], ids["b"], ids["d"]], modality="CT", project="rocks")
    cat.set([ids["c"]], modality="MR", project="brains", data_level="raw")
    cat.set([ids["e"]], data_level="raw")
    return index, sizes
