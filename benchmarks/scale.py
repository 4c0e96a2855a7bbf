"""Scale benchmark: a simulated 1 PB lab catalogue, and work on a Dask cluster.

    python -m benchmarks.scale                    # 1,000,000 datasets; 200 files, 1 and 2 workers
    python -m benchmarks.scale --quick            # 100,000 datasets; 60 files (about 2 min)
    python -m benchmarks.scale --part lab         # only the 1 PB simulation (or --part cluster)

1. **A 1 PB lab.** ``--rows`` generated datasets (seeded) whose sizes follow a
   log-normal from 100 MB to 500 GB, 1 GB on average (1 PB at 1M datasets): TIFF stacks and slice
   folders, DICOM series, Zarr stores, HDF5 and NIfTI, acquired over 2015-2025, on 60
   external drives (``/media/lab/WD-2019-03/...``, each imported with its mount point
   as the dataset's drive, as a lab registers a drive's inventory) and in an object
   store (``s3://lab-archive/...``). The same vocabulary as ``benchmarks.catalogue``
   (projects, modalities, data levels, words), so its operations (open, ``len``,
   faceted search, text search, facets, reading one lazy entry: its own
   ``run_voxcat``, each run in a fresh process) run unchanged on both; the baseline is
   that benchmark's generated table at the same row count, measured in the same run
   (``--rounds`` runs per catalogue taking turns, the median shown: on shared cores a
   single run of millisecond operations is noisy).
   Then the questions a PB lab asks: sizes (``size=">100GB"``), one drive
   (``path="/media/lab/WD-2019-03/*"``), the object store, and bytes per drive and per
   project (``cat.stats``).
2. **A cluster.** A seeded tree of small TIFF volumes and Zarr stores is scanned, its
   files verified, and preview pyramids of a few bigger volumes built, with the local
   pool (``jobs=1``, ``jobs=2``: the baseline) and on a ``distributed.LocalCluster`` of
   1 and then 2 single-threaded workers. Figures: datasets/s, MB/s and scaling
   efficiency = throughput(2) / (2 x throughput(1)). A function of this build without
   ``scheduler=`` prints "not available in this build" for its cluster rows.

The machine's cores are shared (the load average is printed): efficiencies on 2 busy
cores say how much of the second core the work got, not what a cluster of idle
machines gives. Files are read from the page cache (they were just written).
Generated data is kept in ``--data`` between runs: the first full run builds two
indexes of a million datasets (about 9 minutes on 2 busy cores), later runs reuse them
and take about 2 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from benchmarks.catalogue import (
    INSTRUMENTS,
    PROJECTS,
    TAGS,
    WORDS,
    _child,
    _time,
    _time_each,
    prepare,
    write_real_zarr,
)

#: months from January 2015 to December 2025, and the 60 external drives filled one
#: after the other over them (named for the month each came into use)
MONTHS = 132
DRIVES = [
    f"/media/lab/{('WD', 'Seagate', 'LaCie', 'Samsung-T7', 'Toshiba')[k % 5]}-"
    f"{2015 + m // 12}-{m % 12 + 1:02d}"
    for k, m in ((k, (k * MONTHS + 59) // 60) for k in range(60))
]
BUCKET = "s3://lab-archive"
MODULE = "benchmarks.scale"
PETABYTE = 10**15
#: the simulated lab's mean dataset size: 1,000,000 datasets make 1 PB
BYTES_PER_DATASET = PETABYTE // 1_000_000
#: format -> (share of datasets, path suffix; "/" + word: a folder of files)
FORMATS = {
    "tiff": (0.25, ".tif"),
    "slices": (0.25, "/rec"),
    "dicom": (0.15, "/DICOM"),
    "zarr": (0.15, ".zarr"),
    "hdf5": (0.12, ".h5"),
    "nifti": (0.08, ".nii.gz"),
}


# -- 1. the 1 PB lab -------------------------------------------------------------------


def lab_table(rows: int, zarr_path: Path, seed: int = 11):
    """The simulated lab: a DataFrame of ``rows`` datasets of 1 GB on average (1 PB for
    a million), with
    a ``location`` column (a drive's mount point or the bucket); the last row is a real
    Zarr volume (named ``real_volume``, as in ``benchmarks.catalogue``)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    i = np.arange(rows)
    start = np.datetime64("2015-01-01T00:00:00", "s")
    span = int((np.datetime64("2026-01-01", "s") - start).astype(np.int64))
    acquired = start + rng.integers(0, span, rows).astype("timedelta64[s]")
    year = acquired.astype("datetime64[Y]").astype(int) + 1970
    project = rng.integers(0, 500, rows)
    sample = rng.integers(0, 50_000, rows)
    word = np.asarray(WORDS)[rng.integers(0, len(WORDS), rows)]
    names = np.char.add(np.char.add(word, "_"), np.char.zfill(i.astype(str), 7))
    kinds = list(FORMATS)
    fmt = rng.choice(kinds, rows, p=[FORMATS[k][0] for k in kinds])
    suffix = pd.Series(fmt).map({k: v[1] for k, v in FORMATS.items()}).to_numpy().astype(str)
    # sizes: log-normal (median about 300 MB) within 100 MB..500 GB, scaled to 1 GB on
    # average: 1 PB for a million datasets
    size = np.exp(rng.normal(np.log(3e8), 1.6, rows))
    size = np.clip(size * rows * BYTES_PER_DATASET / size.sum(), 1e8, 5e11).astype(np.int64)
    # 30 % in the object store (old data more often), the rest on the drive in use then
    months = acquired.astype("datetime64[M]").astype(int) - (2015 - 1970) * 12
    drive = months * len(DRIVES) // MONTHS
    archived = rng.random(rows) < np.where(year < 2020, 0.45, 0.15)
    location = np.where(archived, BUCKET, np.asarray(DRIVES)[drive])
    proj = np.char.add("proj_", np.char.zfill(project.astype(str), 4))
    samp = np.char.add("S", np.char.zfill(sample.astype(str), 5))
    where = np.where(archived, np.char.add(np.char.add(location, "/"), year.astype(str)), location)
    paths = np.char.add(
        np.char.add(np.char.add(np.char.add(where, "/"), proj), np.char.add("/", samp)),
        np.char.add(np.char.add("/", names), suffix),
    )
    level = rng.choice(["raw", "reconstructed", "processed", "segmentation", "analysis"], rows)
    tag_a = np.asarray(TAGS)[rng.integers(0, len(TAGS), rows)]
    tag_b = np.asarray(TAGS)[rng.integers(0, len(TAGS), rows)]
    frame = pd.DataFrame(
        {
            "dataset_id": np.char.add("pb", np.char.zfill(i.astype(str), 7)),
            "path": paths,
            "name": names,
            "modality": rng.choice(["CT", "MR", "EM", "LM"], rows, p=[0.4, 0.1, 0.2, 0.3]),
            "format": fmt,
            "voxel_size": np.exp(rng.uniform(np.log(1e-7), np.log(1e-3), rows)),
            "size": size,
            "acquired": acquired,
            "project": proj,
            "sample": samp,
            "instrument": np.asarray(INSTRUMENTS)[rng.integers(0, len(INSTRUMENTS), rows)],
            "data_level": level,
            "tags": np.char.add(np.char.add(tag_a, ","), tag_b),
            "exposure_time": np.round(rng.uniform(0.01, 5, rows), 3),
            "operator": np.char.add("user", rng.integers(0, 20, rows).astype(str)),
            "location": location,
        }
    )
    frame.loc[rows - 1, ["path", "format", "name", "dataset_id", "location"]] = [
        str(zarr_path.resolve()),
        "zarr",
        "real_volume",
        "real_volume",
        str(zarr_path.resolve().parent),
    ]
    return frame


def prepare_lab(rows: int, data: Path) -> tuple[Path, dict]:
    """The simulated lab's voxcat index under ``data/lab-rows`` (made if missing):
    one ``import_table`` per drive (its mount point as ``root``, so ``stats("drive")``
    groups by drive) and one for the bucket, inside one bulk write (one snapshot
    build at the end). Returns the index and a summary of the table."""
    import json

    from catalog import import_table
    from catalog.index import listing

    work = data / f"lab-{rows}"
    work.mkdir(parents=True, exist_ok=True)
    index, info = work / "voxcat.duckdb", work / "summary.json"
    if index.exists() and info.exists():
        return index, json.loads(info.read_text())
    for stale in (index, index.with_name("voxcat.duckdb.wal"), work / "voxcat.voxcat"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(
            missing_ok=True
        )
    zarr_path = work / "real" / "real_volume.zarr"
    write_real_zarr(zarr_path)
    t = time.perf_counter()
    frame = lab_table(rows, zarr_path)
    print(f"  generated the lab table in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    groups = frame.groupby("location", sort=True)
    with listing.bulk_write(index):
        for location, part in groups:
            # a URL cannot be a root folder: the bucket's rows get the benchmark's folder
            root = str(work) if location == BUCKET else str(location)
            import_table(
                part.drop(columns=["location"]).reset_index(drop=True),
                index,
                root=root,
                mapping={"dataset_id": None},
            )
    on_drives = frame["location"].isin(DRIVES)
    summary = {
        "rows": rows,
        "bytes": int(frame["size"].sum()),
        "median": float(frame["size"].median()),
        "p99": float(frame["size"].quantile(0.99)),
        "largest": int(frame["size"].max()),
        "drives": int(frame.loc[on_drives, "location"].nunique()),
        "drive bytes": int(frame.loc[on_drives, "size"].sum()),
        "bucket rows": int(frame["location"].eq(BUCKET).sum()),
        "bucket bytes": int(frame.loc[frame["location"].eq(BUCKET), "size"].sum()),
        "formats": frame["format"].value_counts().to_dict(),
        "import seconds": time.perf_counter() - t,
    }
    info.write_text(json.dumps(summary))
    print(
        f"  imported it ({len(groups)} tables, one per drive + the bucket) "
        f"in {summary['import seconds']:.1f} s"
    )
    return index, summary


def run_lab(index: str, repeat: int, simulated: int = 1) -> dict:
    """The questions of a PB lab, timed in this (fresh) process: ``simulated`` = 1
    for the lab, 0 for ``benchmarks.catalogue``'s table (no drives, no bucket: its
    folder per year stands in for a drive)."""
    from catalog import open_catalog

    cat = open_catalog(index)
    len(cat)
    prefixes = (
        [f"{d}/*" for d in DRIVES[5::7]]
        if simulated
        else [f"/archive/{2015 + k % 11}/*" for k in range(12)]
    )
    out: dict = {}
    out["size > 100GB (count)"], out["size rows"] = _time_each(
        lambda i: cat.search(size=f">{100 + i}GB"), repeat
    )
    out["size + project (df)"], _ = _time_each(
        lambda i: cat.search(size=("10GB", None), project=PROJECTS[i]).df, repeat
    )
    out["one drive (count)"], out["drive rows"] = _time_each(
        lambda i: cat.search(path=prefixes[i % len(prefixes)]), repeat
    )
    if simulated:
        out["object store (count)"], out["bucket rows"] = _time_each(
            lambda i: cat.search(path=f"{BUCKET}/{2015 + i % 5}/*"), repeat
        )
        out["bucket bytes (stats)"], _ = _time(
            lambda: cat.search(path=f"{BUCKET}/*").stats("project"), repeat
        )
    else:
        out["object store (count)"] = out["bucket bytes (stats)"] = float("nan")
    out["bytes per drive"], drives = _time(lambda: cat.stats("drive"), repeat)
    out["bytes per project"], projects = _time(lambda: cat.stats("project"), repeat)
    out["total bytes"] = int(drives["bytes"].sum())
    out["drives listed"] = len(drives)
    out["projects listed"] = len(projects)
    on_drives = drives[drives["drive"].astype(str).str.startswith("/media/lab/")]
    out["top drive"] = (
        [str(on_drives.iloc[0, 0]), int(on_drives.iloc[0, 2])] if len(on_drives) else ["-", 0]
    )
    return out


def _median_of(runs: list[dict]) -> dict:
    """One run's figures, each timing replaced by its median over ``runs``."""
    out = dict(runs[0])
    for key, value in out.items():
        if isinstance(value, float) and value == value:
            out[key] = statistics.median(r[key] for r in runs)
    return out


def lab_part(rows: int, data: Path, repeat: int, rounds: int = 3) -> None:
    print(f"\n== lab simulation: {rows:,} datasets of 1 GB on average (1M: 1 PB) ==")
    base_index = prepare(rows, data / "catalogue")  # its own copy: no other run writes it
    lab_index, s = prepare_lab(rows, data)
    print(
        f"  simulated lab: {s['bytes'] / 1e15:.3f} PB; sizes median "
        f"{s['median'] / 1e9:.2f} GB, p99 {s['p99'] / 1e9:.0f} GB, largest "
        f"{s['largest'] / 1e9:.0f} GB; {s['drives']} drives hold "
        f"{s['drive bytes'] / 1e12:.0f} TB, {BUCKET} {s['bucket rows']:,} datasets "
        f"({s['bucket bytes'] / 1e12:.0f} TB); formats {s['formats']}"
    )
    print(f"  baseline: benchmarks.catalogue's table of {rows:,} datasets ({base_index})")
    runs: dict[str, list[dict]] = {"base": [], "lab": [], "base_q": [], "lab_q": []}
    for _ in range(rounds):  # taking turns, each run a fresh process
        runs["base"].append(_child("voxcat", str(base_index), repeat))
        runs["lab"].append(_child("voxcat", str(lab_index), repeat))
        runs["base_q"].append(_child("lab", str(base_index), repeat, "0", module=MODULE))
        runs["lab_q"].append(_child("lab", str(lab_index), repeat, "1", module=MODULE))
    base, lab, base_q, lab_q = (_median_of(runs[k]) for k in ("base", "lab", "base_q", "lab_q"))
    print(
        f"  figures: medians of {repeat} questions per run, then the median of {rounds} "
        "runs per catalogue (runs taking turns)"
    )

    def ms(v: float) -> str:
        return "-" if v != v else f"{v * 1e3:.1f}"

    def ratio(a: float, b: float) -> str:
        return "-" if a != a or b != b or not b else f"{a / b:.2f}"

    print(f"\n{'operation (ms, median)':28} {'lab':>10} {'baseline':>12} {'lab/base':>9}")
    for key in ("open", "len", "faceted search", "text search", "facet counts", "read entry"):
        print(f"{key:28} {ms(lab[key]):>10} {ms(base[key]):>12} {ratio(lab[key], base[key]):>9}")
    for key in ("open (first)", "first search"):
        print(f"{key:28} {ms(lab[key]):>10} {ms(base[key]):>12} {ratio(lab[key], base[key]):>9}")
    print(
        f"{'memory growth MB':28} {lab['memory MB']:>10.0f} {base['memory MB']:>12.0f} "
        f"{ratio(lab['memory MB'], base['memory MB']):>9}"
    )
    print(f"\n{'PB-lab question (ms, median)':28} {'lab':>10} {'baseline':>12} {'lab/base':>9}")
    for key in (
        "size > 100GB (count)",
        "size + project (df)",
        "one drive (count)",
        "object store (count)",
        "bucket bytes (stats)",
        "bytes per drive",
        "bytes per project",
    ):
        print(
            f"{key:28} {ms(lab_q[key]):>10} {ms(base_q[key]):>12} "
            f"{ratio(lab_q[key], base_q[key]):>9}"
        )
    print(
        f"\nrows: len {lab['n']:,} / {base['n']:,}; faceted {lab['faceted rows']} / "
        f"{base['faceted rows']}; text {lab['text rows']} / {base['text rows']}; "
        f"size > 100GB {lab_q['size rows']} / {base_q['size rows']}; one drive "
        f"{lab_q['drive rows']} / {base_q['drive rows']} (baseline: one year's folder); "
        f"object store {lab_q['bucket rows']}"
    )
    print(
        f"stats: {lab_q['total bytes'] / 1e15:.3f} PB in {lab_q['drives listed']} drive groups "
        f"(60 drives; the bucket's rows under their table's folder, a URL being no root; "
        f"the real volume's folder), most datasets on a drive: {lab_q['top drive'][0]} "
        f"{lab_q['top drive'][1] / 1e12:.1f} TB; "
        f"{lab_q['projects listed']} projects; baseline {base_q['total bytes'] / 1e15:.3f} PB"
    )
    print(
        "baseline questions: the same calls on benchmarks.catalogue's table (one drive = "
        "'/archive/<year>/*'; it has no object store)"
    )


# -- 2. a cluster ----------------------------------------------------------------------


def write_tree(root: Path, n: int, seed: int = 5) -> Path:
    """``n`` datasets of a few MB: 70 % TIFF volumes, 30 % Zarr arrays (uint16)."""
    import tifffile
    import zarr

    marker = root.with_name(f".{root.name}-done-{n}")  # outside the scanned tree
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / f"{2015 + i % 10}" / f"project_{i % 7}" / f"sample_{i:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = rng.integers(0, 60000, (24, 256, 256), dtype=np.uint16)
        if i % 10 < 7:
            tifffile.imwrite(folder / "volume.tif", data, photometric="minisblack")
        else:
            arr = zarr.open_array(
                str(folder / "volume.zarr"),
                mode="w",
                shape=data.shape,
                chunks=(8, 256, 256),
                dtype=data.dtype,
                zarr_format=2,
            )
            arr[:] = data
    marker.write_text("ok")
    return root


def write_big(root: Path, n: int, mb: int, seed: int = 6) -> Path:
    """``n`` contiguous uint16 TIFF volumes of about ``mb`` MB (for preview pyramids)."""
    import tifffile

    marker = root.with_name(f".{root.name}-done-{n}-{mb}")
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    ny = nx = 512
    nz = max(8, mb * 10**6 // (ny * nx * 2))
    for k in range(n):
        mm = tifffile.memmap(
            root / f"big_{k}.tif", shape=(nz, ny, nx), dtype=np.uint16, photometric="minisblack"
        )
        for z in range(nz):
            mm[z] = rng.integers(0, 60000, (ny, nx), dtype=np.uint16)
        mm.flush()
        del mm
    marker.write_text("ok")
    return root


def _fresh(index: Path) -> Path:
    """``index`` removed with its WAL and its folder of thumbnails and previews."""
    from catalog.index import cache_dir

    shutil.rmtree(cache_dir(index), ignore_errors=True)
    for p in (index, index.with_name(index.name + ".wal")):
        p.unlink(missing_ok=True)
    return index


def _warm_worker() -> None:
    """Imports a worker needs, done before any timing (a cluster that is up has them)."""
    import tifffile  # noqa: F401
    import zarr  # noqa: F401

    import catalog.integrity
    import catalog.preview.store
    import catalog.scanner.worker  # noqa: F401


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[str]:
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes on 127.0.0.1
    importing this checkout's code, warmed up; yields its scheduler address."""
    import distributed

    repo = str(Path(__file__).resolve().parent.parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (repo, old) if p)
    try:
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            client.run(_warm_worker)
            yield cluster.scheduler_address
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _connect(address: str) -> None:
    """Connect a client to the scheduler and close it: what every operation on a
    cluster pays once, whatever its size."""
    from catalog.cluster import cluster_client

    with cluster_client(address):
        pass


def has_scheduler(fn: Callable) -> bool:
    return "scheduler" in inspect.signature(fn).parameters


def cluster_part(n: int, big: int, big_mb: int, data: Path, workers: list[int]) -> list[str]:
    """Scan, verify and pyramid throughput: local pool and LocalCluster; returns the
    printed rows."""
    from catalog import scan, verify
    from catalog.preview.batch import build_previews

    print(f"\n== cluster throughput: {n} datasets, {big} volumes of {big_mb} MB for pyramids ==")
    t = time.perf_counter()
    tree = write_tree(data / f"tree-{n}", n)
    bigtree = write_big(data / f"big-{big}-{big_mb}", big, big_mb)
    print(f"  data ready in {time.perf_counter() - t:.1f} s ({tree}, {bigtree})")
    out = data / "out"
    out.mkdir(parents=True, exist_ok=True)
    min_bytes = big_mb * 10**6 // 2
    pyr_index = out / "big.duckdb"
    _fresh(pyr_index)
    scan(bigtree, pyr_index, jobs=1, progress=False)
    big_bytes = sum(p.stat().st_size for p in bigtree.glob("*.tif"))

    results: dict[tuple[str, str], tuple[float, float] | None] = {}
    connects: dict[str, float] = {}

    def do_scan(label: str, **kw) -> Path:
        index = _fresh(out / f"scan-{label.replace(' ', '_').replace('=', '')}.duckdb")
        t = time.perf_counter()
        rep = scan(tree, index, progress=False, **kw)
        secs = time.perf_counter() - t
        found = rep.counts["added"]
        if found != n or rep.counts["failed"]:
            raise SystemExit(f"scan {label}: {rep.counts} (expected {n} added)")
        results[("scan", label)] = (n / secs, rep.bytes_processed / secs / 1e6)
        return index

    def do_verify(label: str, index: Path, **kw) -> None:
        t = time.perf_counter()
        rep = verify(index, progress=False, **kw)
        secs = time.perf_counter() - t
        if rep.counts["unchanged"] != n:
            raise SystemExit(f"verify {label}: {rep.counts}")
        results[("verify", label)] = (n / secs, rep.bytes_read / secs / 1e6)

    def do_pyramids(label: str, **kw) -> None:
        from catalog.preview.store import previews_dir

        shutil.rmtree(previews_dir(pyr_index), ignore_errors=True)
        t = time.perf_counter()
        rep = build_previews(pyr_index, min_bytes=min_bytes, progress=False, **kw)
        secs = time.perf_counter() - t
        if rep.counts["built"] != big or rep.failed:
            raise SystemExit(f"pyramids {label}: {rep.counts} {rep.failed}")
        results[("pyramids", label)] = (big / secs, big_bytes / secs / 1e6)

    # the baseline: the local pool (scan: processes; verify: threads; pyramids: one
    # after the other in this process, the only way this build has)
    index = None
    for jobs in (1, 2):
        label = f"local jobs={jobs}"
        index = do_scan(label, jobs=jobs)
        do_verify(label, index, jobs=jobs)
    do_pyramids("local jobs=1")
    if "jobs" in inspect.signature(build_previews).parameters:
        do_pyramids("local jobs=2", jobs=2)
    else:
        results[("pyramids", "local jobs=2")] = None
    assert index is not None
    for w in workers:
        label = f"cluster {w} worker{'s' if w > 1 else ''}"
        with local_cluster(w) as address:
            connects[label], _ = _time(lambda a=address: _connect(a), 3)
            if has_scheduler(scan):
                do_scan(label, scheduler=address)
            else:
                results[("scan", label)] = None
            do_verify(label, index, scheduler=address)
            if has_scheduler(build_previews):
                do_pyramids(label, scheduler=address)
            else:
                results[("pyramids", label)] = None

    load = os.getloadavg()
    print(
        f"\n{'work':9} {'runs on':18} {'per s':>8} {'MB/s':>9}   (datasets; pyramids: volumes; "
        f"load average {load[0]:.1f} on {os.cpu_count()} cores)"
    )
    lines = []
    labels = [f"local jobs={j}" for j in (1, 2)]
    labels += [f"cluster {w} worker{'s' if w > 1 else ''}" for w in workers]
    for work in ("scan", "verify", "pyramids"):
        for label in labels:
            r = results.get((work, label))
            if r is None:
                line = f"{work:9} {label:18} not available in this build"
            else:
                line = f"{work:9} {label:18} {r[0]:8.2f} {r[1]:9.1f}"
            print(line)
            lines.append(line)

    if connects:
        each = ", ".join(f"{k}: {v:.2f} s" for k, v in connects.items())
        line = f"(each cluster row includes connecting a client to the scheduler: {each})"
        print(line)
        lines.append(line)

    def efficiency(work: str, one: str, two: str) -> str:
        a, b = results.get((work, one)), results.get((work, two))
        return "-" if not a or not b else f"{b[0] / (2 * a[0]):.2f}"

    print(
        f"\n{'scaling efficiency':18} {'local pool':>10} {'cluster':>8} {'cluster(1)/local(1)':>20}"
        "   efficiency = throughput(2) / (2 x throughput(1))"
    )
    for work in ("scan", "verify", "pyramids"):
        local = efficiency(work, "local jobs=1", "local jobs=2")
        clus = efficiency(work, "cluster 1 worker", "cluster 2 workers")
        one, base = results.get((work, "cluster 1 worker")), results.get((work, "local jobs=1"))
        vs = f"{one[0] / base[0]:.2f}" if one and base else "-"
        line = f"{work:18} {local:>10} {clus:>8} {vs:>20}"
        print(line)
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="100,000 datasets, 60 files (~2 min)")
    p.add_argument("--rows", type=int, help="simulated datasets (default 1,000,000)")
    p.add_argument("--files", type=int, help="datasets in the scanned tree (default 200)")
    p.add_argument("--big", type=int, help="volumes for preview pyramids (default 4)")
    p.add_argument("--big-mb", type=int, help="MB per pyramid volume (default 64)")
    p.add_argument("--workers", default="1,2", help="LocalCluster sizes (default 1,2)")
    p.add_argument("--repeat", type=int, default=5, help="repetitions of fast operations")
    p.add_argument("--rounds", type=int, default=3, help="fresh runs per catalogue")
    p.add_argument("--part", choices=("all", "lab", "cluster"), default="all")
    p.add_argument("--data", type=Path, default=Path("/tmp/voxcat-bench/scale"))
    args = p.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    files = args.files or (60 if args.quick else 200)
    big = args.big or (2 if args.quick else 4)
    big_mb = args.big_mb or (24 if args.quick else 64)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    print(
        f"voxcat scale benchmark: {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}, data in {args.data}"
    )
    t = time.perf_counter()
    if args.part in ("all", "lab"):
        lab_part(rows, args.data, args.repeat, args.rounds)
    if args.part in ("all", "cluster"):
        cluster_part(files, big, big_mb, args.data / "cluster", workers)
    print(f"\nbenchmark took {time.perf_counter() - t:.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
