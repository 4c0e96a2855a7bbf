"""Are the OME-Zarr stores voxcat writes byte-identical to those of another revision?

    python -m benchmarks.omezarr_identity 789d4b0      # this checkout against that commit

Both revisions (this checkout, and ``REV`` unpacked with ``git archive``) build, from
the same seeded TIFFs, a preview of each dataset (a uint16 volume, a float32 image, a
uint8 segmentation), a ``mode="zarr"`` export of all three and two ``cat.save``
results, each in a subprocess with its checkout first on ``PYTHONPATH``. Every file
of every store is then compared byte for byte, except what names the run itself (the
dataset ids and source paths in attributes, the build time). Prints the files that
differ; exits 1 if any does.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

WRITE = r"""
import sys
from pathlib import Path
import numpy as np, tifffile, xarray as xr
from catalog import open_catalog, scan
from catalog.export import export_catalog
from catalog.preview import ensure_preview

out = Path(sys.argv[1]); d = out / "d"; d.mkdir(parents=True)
rng = np.random.default_rng(0)
vol = rng.integers(0, 60000, (70, 300, 333), dtype=np.uint16)
tifffile.imwrite(d / "vol.tif", vol, imagej=True, resolution=(1 / 0.65, 1 / 0.65),
                 metadata={"spacing": 2.5, "unit": "um", "axes": "ZYX"})
img = rng.random((700, 530), dtype=np.float32)
tifffile.imwrite(d / "img.tif", img)
tifffile.imwrite(d / "lab.tif", rng.integers(0, 4, (20, 600, 520)).astype(np.uint8))
idx = out / "i.duckdb"
scan(d, idx, jobs=1, progress=False)
cat = open_catalog(idx)
for ident in list(cat):
    if cat.entry(ident).metadata["name"] == "lab.tif":
        cat.set(ident, data_level="segmentation")
for ident in open_catalog(idx):
    ensure_preview(idx, ident, min_bytes=0)
export_catalog(open_catalog(idx), out / "exp", mode="zarr", progress=False)
um = lambda n, s, u: (np.arange(n) * s, {"units": u})
da = xr.DataArray(vol[:40], dims=("z", "y", "x"), name="v", coords={
    "z": ("z", *um(40, 2.5, "µm")), "y": ("y", *um(300, 0.65, "um")),
    "x": ("x", *um(333, 0.65, "micron"))})
cat.save(da, name="saved")
cat.save(xr.DataArray(img, dims=("y", "x"), name="im"), name="saved2")
"""


def digests(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if not (p.is_file() and ".zarr" in str(p)):
            continue
        parts = list(p.relative_to(root).parts)
        if parts[0] == "exp":
            parts = ["exp", *parts[3:]]  # drop data/<dataset id>/
        if "previews" in parts:
            parts = parts[parts.index("previews") + 1 :]
        if parts[0].endswith(".store"):
            parts = ["store", *parts[2:]]  # drop the save's time-stamped folder
        data = p.read_bytes()
        if p.name == ".zattrs":
            attrs = json.loads(data)
            for key in ("voxcat_id", "path"):
                attrs.pop(key, None)
            if isinstance(attrs.get("voxcat"), dict):
                for key in ("created", "source", "dataset_id"):
                    attrs["voxcat"].pop(key, None)
            data = json.dumps(attrs).encode()  # key order kept
        out["/".join(parts)] = hashlib.sha256(data).hexdigest()
    return out


def write(checkout: Path, dest: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    subprocess.run([sys.executable, "-c", WRITE, str(dest)], env=env, check=True, cwd=dest.parent)
    return digests(dest)


def main(rev: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(HERE), "archive", rev], check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(base, filter="data")
        theirs = write(base, Path(tmp) / "a")
        ours = write(HERE, Path(tmp) / "b")
    differ = sorted(k for k in theirs.keys() | ours.keys() if theirs.get(k) != ours.get(k))
    print(f"{len(ours)} files in this checkout, {len(theirs)} at {rev}; {len(differ)} differ")
    for name in differ[:50]:
        print("  ", name)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "HEAD"))
