"""Catalogue benchmark: voxcat's lazy DuckDB catalogue against intake-esm on 1M datasets.

    pip install '.[bench]' && python -m benchmarks.catalogue           # 1,000,000 rows
    python -m benchmarks.catalogue --rows 100000                       # a quick look

One seeded table of generated datasets (plus one real Zarr volume) is written as the
CSV of an intake-esm ``esm_datastore`` and imported into a voxcat index with
``voxcat import-table``. The same operations then run on both, each library in its
own fresh process so memory figures do not mix, on the same machine in the same run:

- open the catalogue; ``len``;
- a faceted search returning <= 100 rows (modality, project, data level, voxel size);
- a text search (two words);
  (each repetition of a search asks for another project / other words, so no
  contender answers a repeat from a cache; one untimed search of each kind, with
  yet another question, comes first for every contender);
- facet counts of four fields;
- reading one lazy entry (``cat[id].read()`` / ``esm[key].to_dask()``).

intake-esm cannot range-filter or text-search, so its figures use its own ``search``
plus the pandas filtering a user would add; plain pandas over the same table is shown
as a third column, and voxcat without its listing snapshot (DuckDB alone) as the
last. Targets: open < 50 ms, faceted search < 50 ms, text search < 300
ms, every figure >= 10x ahead of intake-esm, open catalogue < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORDS = [
    "sandstone",
    "basalt",
    "granite",
    "limestone",
    "shale",
    "bone",
    "tooth",
    "enamel",
    "dentin",
    "cartilage",
    "hela",
    "neuron",
    "cortex",
    "liver",
    "kidney",
    "lung",
    "heart",
    "zebrafish",
    "drosophila",
    "arabidopsis",
    "battery",
    "cathode",
    "anode",
    "foam",
    "concrete",
    "steel",
    "weld",
    "composite",
    "fibre",
    "catalyst",
    "coral",
    "shell",
    "wood",
    "seed",
    "pollen",
    "meteorite",
    "ice",
    "snow",
    "soil",
    "glass",
]
TAGS = [f"tag{i:02d}" for i in range(30)] + ["porosity", "paper-2025", "qc-ok", "review"]
INSTRUMENTS = ["SkyScan1272", "Zeiss Xradia 520", "Titan Krios", "LSM 980", "Bruker 9.4T"]


def write_table(path: Path, rows: int, zarr_path: Path, seed: int = 7) -> None:
    """The benchmark table: ``rows`` generated datasets, the last one a real Zarr."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    i = np.arange(rows)
    year = rng.integers(2015, 2026, rows)
    project = rng.integers(0, 500, rows)
    sample = rng.integers(0, 50_000, rows)
    word = np.asarray(WORDS)[rng.integers(0, len(WORDS), rows)]
    modality = rng.choice(["CT", "MR", "EM", "LM"], rows, p=[0.4, 0.1, 0.2, 0.3])
    fmt = rng.choice(["tiff", "zarr", "slices", "hdf5", "dicom", "nifti"], rows)
    level = rng.choice(["raw", "reconstructed", "processed", "segmentation", "analysis"], rows)
    ids = np.char.add("ds", np.char.zfill(i.astype(str), 7))
    names = np.char.add(np.char.add(word, "_"), np.char.zfill(i.astype(str), 7))
    paths = [
        f"/archive/{y}/proj_{p:04d}/S{s:05d}/{n}.tif"
        for y, p, s, n in zip(year, project, sample, names)
    ]
    tag_a = np.asarray(TAGS)[rng.integers(0, len(TAGS), rows)]
    tag_b = np.asarray(TAGS)[rng.integers(0, len(TAGS), rows)]
    frame = pd.DataFrame(
        {
            "dataset_id": ids,
            "path": paths,
            "name": names,
            "modality": modality,
            "format": fmt,
            "voxel_size": np.exp(rng.uniform(np.log(1e-7), np.log(1e-3), rows)),
            "size": np.exp(rng.uniform(np.log(1e6), np.log(5e11), rows)).astype(np.int64),
            "acquired": pd.to_datetime(year.astype(str))
            + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, rows), unit="s"),
            "project": np.char.add("proj_", np.char.zfill(project.astype(str), 4)),
            "sample": np.char.add("S", np.char.zfill(sample.astype(str), 5)),
            "instrument": np.asarray(INSTRUMENTS)[rng.integers(0, len(INSTRUMENTS), rows)],
            "data_level": level,
            "tags": np.char.add(np.char.add(tag_a, ","), tag_b),
            "exposure_time": np.round(rng.uniform(0.01, 5, rows), 3),
            "operator": np.char.add("user", rng.integers(0, 20, rows).astype(str)),
            "variable": "image",
        }
    )
    frame.loc[rows - 1, ["path", "format", "name", "dataset_id"]] = [
        zarr_path.resolve().as_uri(),  # intake-esm + zarr 3 need a URI for local stores
        "zarr",
        "real_volume",
        "real_volume",
    ]
    frame.to_csv(path, index=False)


def write_real_zarr(path: Path) -> None:
    import xarray as xr

    if path.exists():
        return
    rng = np.random.default_rng(1)
    data = rng.integers(0, 60000, (64, 256, 256), dtype=np.uint16)
    coords = {d: np.arange(n) * 6.5 for d, n in zip("zyx", data.shape)}
    ds = xr.Dataset({"image": (("z", "y", "x"), data)}, coords=coords)
    ds.to_zarr(path, encoding={"image": {"chunks": (16, 256, 256)}})


def write_esm_json(path: Path, csv: Path) -> None:
    spec = {
        "esmcat_version": "0.1.0",
        "id": "voxcat-benchmark",
        "description": "generated imaging datasets",
        "catalog_file": str(csv),
        "attributes": [{"column_name": c} for c in ("modality", "project", "sample")],
        "assets": {"column_name": "path", "format": "zarr"},
        "aggregation_control": {
            "variable_column_name": "variable",
            "groupby_attrs": ["dataset_id", "modality"],
            "aggregations": [],
        },
    }
    path.write_text(json.dumps(spec, indent=1))


#: each repetition of a search asks a different question (no contender answers a
#: repeat from a cache): project and text words change, the shape of the query does not
PROJECTS = [f"proj_{42 + 37 * i:04d}" for i in range(50)]
FACETED = {"modality": "CT", "project": PROJECTS[0], "data_level": "reconstructed"}
VOXEL_MAX = 5e-6
TEXTS = [f"{WORDS[(3 + 7 * i) % len(WORDS)]} {2015 + (4 + i) % 11}" for i in range(50)]
TEXT = TEXTS[0]  # "basalt 2019"
FACET_FIELDS = ("modality", "format", "data_level", "instrument")


def _import_libraries() -> None:
    """Load the libraries every contender uses before the memory baseline, so the
    figures measure catalogues, not module code."""
    import dask.array  # noqa: F401
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import xarray  # noqa: F401
    import zarr  # noqa: F401


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mapped(*names: str) -> int:
    """Bytes of files with one of ``names`` mapped into this process (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                inside = line.rstrip().endswith(tuple("/" + n for n in names))
            elif inside and first == "Rss:":
                total += int(line.split()[1]) * 1024
    return total


def _time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _time_each(fn, repeat: int) -> tuple[float, list[int]]:
    """Median seconds of ``fn(i)`` for i in range(repeat) (a different query each
    time), and the row counts it returned. One untimed call with a question that is
    not among them comes first, for every contender alike (the first query of a kind
    in a process is shown apart, as "first search")."""
    fn(repeat + 1)
    times, rows = [], []
    for i in range(repeat):
        t = time.perf_counter()
        rows.append(len(fn(i)))
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def _faceted(i: int) -> dict:
    return {**FACETED, "project": PROJECTS[i]}


def run_voxcat(index: str, repeat: int, use_listing: bool = True) -> dict:
    import intake  # noqa: F401  (imports are not part of any figure)

    from catalog import open_catalog
    from catalog.index import listing

    listing.ENABLED = use_listing
    _import_libraries()
    base = _rss()
    first, cat = _time(lambda: open_catalog(index), 1)
    t_open, cat = _time(lambda: open_catalog(index), repeat)
    out = {"open (first)": first, "open": t_open}
    out["first search"], _ = _time(lambda: cat.search(**_faceted(repeat)).df, 1)
    out["len"], n = _time(lambda: len(cat), repeat)
    out["n"] = n
    out["faceted search"], out["faceted rows"] = _time_each(
        lambda i: cat.search(**_faceted(i), voxel_size=(None, VOXEL_MAX)).df, repeat
    )
    out["text search"], out["text rows"] = _time_each(lambda i: cat.search(TEXTS[i]).df, repeat)
    out["facet counts"], _facets = _time(lambda: cat.facets(*FACET_FIELDS), repeat)
    real = next(iter(cat.search(name="real_volume*")))
    out["read entry"], arr = _time(lambda: cat[real].read(), repeat)
    out["entry shape"] = list((arr["image"] if hasattr(arr, "data_vars") else arr).shape)
    out["memory MB"] = (_rss() - base) / 1e6
    out["mapped MB"] = _mapped(listing.FILE_NAME, listing.TERMS_FILE) / 1e6
    from catalog.index import readcache

    time.sleep(2 * readcache.IDLE + 0.5)  # idle: the DuckDB instance and mapping let go
    out["rest MB"] = (_rss() - base) / 1e6
    out["rest mapped MB"] = _mapped(listing.FILE_NAME, listing.TERMS_FILE) / 1e6
    assert len(cat) == n  # the catalogue is still open (and answers) after the rest
    return out


def run_esm(json_path: str, repeat: int) -> dict:
    import intake
    import intake_esm  # noqa: F401

    _import_libraries()
    base = _rss()
    out: dict = {}
    out["open"], esm = _time(lambda: intake.open_esm_datastore(json_path), 1)
    out["open (first)"] = out["open"]
    out["len"], n = _time(lambda: len(esm), 1)
    out["n"] = n

    def faceted(i: int):
        import pandas as pd

        sub = esm.search(**_faceted(i))  # its polars reader leaves numbers as text here
        return sub.df[pd.to_numeric(sub.df["voxel_size"]) <= VOXEL_MAX]

    out["faceted search"], out["faceted rows"] = _time_each(faceted, repeat)

    def text(i: int):  # intake-esm has no text search: regexes on name and path
        w1, w2 = TEXTS[i].split()
        return esm.search(name=f".*{w1}.*", path=f".*{w2}.*").df

    out["text search"], out["text rows"] = _time_each(text, repeat)
    out["facet counts"], _ = _time(lambda: esm.unique(), 1)
    key = esm.search(dataset_id="real_volume").keys()[0]
    out["read entry"], ds = _time(lambda: esm[key].to_dask(), 1)
    out["entry shape"] = list(ds["image"].shape)
    out["memory MB"] = (_rss() - base) / 1e6
    return out


def run_pandas(csv: str, repeat: int) -> dict:
    import pandas as pd

    _import_libraries()
    base = _rss()
    out: dict = {}
    out["open"], df = _time(lambda: pd.read_csv(csv), 1)
    out["open (first)"] = out["open"]
    out["len"], out["n"] = _time(lambda: len(df), repeat)

    def faceted(i: int):
        m = np.ones(len(df), bool)
        for k, v in _faceted(i).items():
            m &= (df[k] == v).to_numpy()
        return df[m & (df["voxel_size"] <= VOXEL_MAX).to_numpy()]

    out["faceted search"], out["faceted rows"] = _time_each(faceted, repeat)

    def text(i: int):
        m = np.ones(len(df), bool)
        for w in TEXTS[i].split():
            hit = np.zeros(len(df), bool)
            for col in ("name", "path", "tags", "project", "sample", "instrument", "operator"):
                hit |= df[col].astype(str).str.contains(w, case=False, regex=False).to_numpy()
            m &= hit
        return df[m]

    out["text search"], out["text rows"] = _time_each(text, 1)
    out["facet counts"], _ = _time(lambda: {c: df[c].value_counts() for c in FACET_FIELDS}, repeat)
    out["read entry"] = float("nan")
    out["memory MB"] = (_rss() - base) / 1e6
    return out


def _child(
    kind: str, arg: str, repeat: int, *extra: str, module: str = "benchmarks.catalogue"
) -> dict:
    """``run_<kind>(arg, repeat, *extra)`` of ``module`` in a fresh process (its
    figures as a dict): every contender starts from the same clean state."""
    code = (
        f"import json, sys; from {module} import run_" + kind + " as f; "
        "print(json.dumps(f(sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:])), "
        "default=str))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, arg, str(repeat), *extra],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if res.returncode:
        raise SystemExit(f"{kind} run failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def prepare(rows: int, data: Path) -> Path:
    """The benchmark's table, intake-esm JSON and voxcat index under ``data/rows``
    (made if missing); returns the index path."""
    from catalog import import_table, scan

    work = data / str(rows)
    work.mkdir(parents=True, exist_ok=True)
    zarr_dir = work / "real"
    zarr_path = zarr_dir / "real_volume.zarr"
    write_real_zarr(zarr_path)
    csv, esm_json, index = work / "table.csv", work / "esm.json", work / "voxcat.duckdb"
    if not csv.exists():
        t = time.perf_counter()
        write_table(csv, rows, zarr_path)
        print(f"  generated the table in {time.perf_counter() - t:.1f} s")
    write_esm_json(esm_json, csv)
    if not index.exists():
        t = time.perf_counter()
        scan(zarr_dir, index, jobs=1, progress=False)
        rep = import_table(csv, index, mapping={"variable": None})
        print(f"  built the voxcat index in {time.perf_counter() - t:.1f} s ({rep})")
    return index


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--data", default="/tmp/voxcat-bench/catalogue")
    p.add_argument("--repeat", type=int, default=5, help="repetitions of fast operations")
    args = p.parse_args(argv)

    from catalog.index import listing

    print(f"voxcat catalogue benchmark: {args.rows:,} datasets, {os.cpu_count()} cores")
    index = prepare(args.rows, Path(args.data))
    csv, esm_json = index.with_name("table.csv"), index.with_name("esm.json")
    t = time.perf_counter()
    have = listing.current(index)
    if have is None or have.terms is None:  # an index written by an older voxcat
        listing.build(index)
        print(f"  built its listing snapshot in {time.perf_counter() - t:.1f} s")
    snap = listing.path_for(index)
    words = snap.with_name(listing.TERMS_FILE)
    print(
        f"  listing snapshot: {snap.stat().st_size / 1e6:.0f} MB + word index "
        f"{words.stat().st_size / 1e6:.0f} MB ({snap.parent})"
    )

    vox = _child("voxcat", str(index), args.repeat)
    duck = _child("voxcat", str(index), args.repeat, "0")  # the same without the snapshot
    esm = _child("esm", str(esm_json), args.repeat)
    pdr = _child("pandas", str(csv), args.repeat)

    def ms(v: float) -> str:
        return "      -" if v != v else f"{v * 1e3:8.1f}"

    targets = {"open": 0.05, "faceted search": 0.05, "text search": 0.3}
    print(
        f"\n{'operation':16} {'voxcat ms':>10} {'intake-esm ms':>14} {'pandas ms':>10} "
        f"{'vs esm':>8}  target{'':27}{'DuckDB alone ms':>16}"
    )
    ok = True
    for key in ("open", "len", "faceted search", "text search", "facet counts", "read entry"):
        ratio = esm[key] / vox[key] if vox[key] else float("inf")
        target = targets.get(key)
        verdict = ""
        if target is not None:
            verdict = f"< {target * 1e3:.0f} ms: {'PASS' if vox[key] < target else 'FAIL'}"
            ok &= vox[key] < target
        ok &= ratio >= 10
        note = f"{verdict}{'' if ratio >= 10 else '  (< 10x: FAIL)'}"
        print(
            f"{key:16} {ms(vox[key]):>10} {ms(esm[key]):>14} {ms(pdr[key]):>10} "
            f"{ratio:7.0f}x  {note:33}{ms(duck[key]):>16}"
        )
    print(f"{'open (first)':16} {ms(vox['open (first)']):>10}   (first open in a fresh process)")
    print(
        f"{'first search':16} {ms(vox['first search']):>10}   (first faceted search after "
        f"opening: maps the snapshot; DuckDB alone {ms(duck['first search']).strip()} ms)"
    )
    print(
        f"\nrows: len {vox['n']:,} / {esm['n']:,}; faceted per search {vox['faceted rows']} / "
        f"{esm['faceted rows']} / {pdr['faceted rows']}; text {vox['text rows']} / "
        f"{esm['text rows']} (esm: regex on name and path only) / {pdr['text rows']} (pandas: "
        "substrings, first query only)"
    )
    if vox["faceted rows"] != duck["faceted rows"] or vox["text rows"] != duck["text rows"]:
        print("  ROW COUNTS DIFFER between the snapshot and DuckDB alone")
        ok = False
    own = vox["memory MB"] - vox["mapped MB"]
    mem_ok = own < 200

    def verdict(mb: float) -> str:
        return "PASS" if mb < 200 else "FAIL"

    print(
        f"memory growth (RSS) right after the operations: voxcat {vox['memory MB']:.0f} MB "
        f"({verdict(vox['memory MB'])}) = {own:.0f} MB of its own ({verdict(own)}) + "
        f"{vox['mapped MB']:.0f} MB of pages of the memory-mapped listing files (page cache, "
        f"shared between processes); DuckDB alone {duck['memory MB']:.0f} MB; intake-esm "
        f"{esm['memory MB']:.0f} MB, pandas {pdr['memory MB']:.0f} MB"
    )
    print(
        "  the same open catalogue at rest (2.5 s idle): voxcat "
        f"{vox['rest MB']:.0f} MB ({verdict(vox['rest MB'])}; {vox['rest mapped MB']:.0f} MB "
        f"mapped), DuckDB alone {duck['rest MB']:.0f} MB"
    )
    print(f"\nall targets met: {'yes' if ok and mem_ok else 'no'}")


if __name__ == "__main__":
    main()
