"""Contention benchmark: readers and a small writer while a scan adds datasets.

    python -m benchmarks.contention                   # a scan adding 5,000 datasets
    python -m benchmarks.contention --datasets 1000   # a quick look
    python -m benchmarks.contention --scan-alone      # also time the scan with no loops

An index of ``--base`` datasets is built once (seeded small TIFF volumes, kept in
``--data`` between runs). Then, each on a fresh copy of that index, in the same run:

- baseline: a reader loop and a writer loop, each in its own process, run for
  ``--seconds`` with no scan;
- scan: the same two loops run while ``voxcat scan`` adds ``--datasets`` more
  (``-j 2``), until the scan ends.

The reader loop is what a notebook or the sidebar does: open the catalogue, two
searches (a word and a field filter), facets of two fields, and one slice of a
dataset (a ``Slicer`` plane). The writer loop tags a dataset and adds a note. Each
prints the latency of every round; the benchmark prints p50/p95/max of both loops in
both phases, the ratio scan/baseline, errors, and the scan's own time. Target: reader
p95 under 0.5 s while the scan writes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_P95 = 0.5
PER_FOLDER = 100


def _letters(i: int) -> str:
    """``i`` written in letters (no digits: a numbered name would make a series)."""
    out = ""
    for _ in range(5):
        i, r = divmod(i, 26)
        out += chr(ord("a") + r)
    return out


def write_tree(root: Path, n: int, seed: int) -> Path:
    """``n`` small uint16 TIFF volumes under ``root`` (reused when already written)."""
    import numpy as np
    import tifffile

    marker = root.with_name(f".{root.name}-{n}-done")
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / f"p{i // PER_FOLDER:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        vol = rng.integers(0, 4000, (8, 32, 32), dtype=np.uint16)
        tifffile.imwrite(folder / f"sample_{_letters(i)}.tif", vol)
    marker.write_text("ok")
    return root


def _percentiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    s = sorted(xs)
    return {
        "n": len(s),
        "p50": statistics.median(s),
        "p95": s[min(len(s) - 1, round(0.95 * (len(s) - 1)))],
        "max": s[-1],
    }


# -- the loops, each run in its own process: ``python -m benchmarks.contention --loop``


def _reader(index: str, stop: Path, out: Path) -> None:
    from catalog import open_catalog
    from catalog.preview import Slicer

    times, errors = [], []
    some = open_catalog(index).search(format="tiff").head(20)
    ids = list(some)
    k = 0
    while not stop.exists():
        t0 = time.perf_counter()
        try:
            cat = open_catalog(index)
            len(cat.search("sample"))
            _ = cat.search(format="tiff", ndim=3).df
            cat.facets("format", "modality")
            s = Slicer.from_catalog(cat, ids[k % len(ids)], preview=False)
            s.plane(("y", "x"), at={"z": 4})
        except Exception as exc:  # an error is a result here: counted and shown
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
        times.append(time.perf_counter() - t0)
        k += 1
    out.write_text(json.dumps({"times": times, "errors": errors}))


def _writer(index: str, stop: Path, out: Path) -> None:
    from catalog import open_catalog

    times, errors = [], []
    ids = list(open_catalog(index).head(20))
    k = 0
    while not stop.exists():
        t0 = time.perf_counter()
        try:
            cat = open_catalog(index)
            cat.tag(ids[k % len(ids)], f"round{k % 7}")
            cat.note(ids[k % len(ids)], f"looked at it, round {k}")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
        times.append(time.perf_counter() - t0)
        k += 1
        time.sleep(0.2)
    out.write_text(json.dumps({"times": times, "errors": errors}))


def _loops(index: Path, work: Path) -> tuple[list[subprocess.Popen], Path]:
    stop = work / "stop"
    stop.unlink(missing_ok=True)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.contention",
                "--loop",
                role,
                str(index),
                str(stop),
                str(work / f"{role}.json"),
            ]
        )
        for role in ("reader", "writer")
    ]
    return procs, stop


def _collect(procs: list[subprocess.Popen], stop: Path, work: Path) -> dict[str, dict]:
    stop.write_text("stop")
    for p in procs:
        p.wait(timeout=300)
    return {role: json.loads((work / f"{role}.json").read_text()) for role in ("reader", "writer")}


def _scan(tree: Path, index: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "catalog.cli",
            "scan",
            str(tree),
            "--index",
            str(index),
            "-j",
            "2",
            "-q",
        ],
        stdout=subprocess.DEVNULL,
    )


def _fresh(template: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    index = work / "lab.duckdb"
    shutil.copy(template, index)
    cache = template.with_name(template.stem + ".voxcat")
    if cache.exists():
        shutil.copytree(cache, work / "lab.voxcat")
    return index


def _row(label: str, got: dict[str, float], base: dict[str, float] | None) -> str:
    text = (
        f"  {label:22} n={got['n']:5d}  p50 {got['p50']:6.3f} s  p95 {got['p95']:6.3f} s  "
        f"max {got['max']:6.3f} s"
    )
    if base:
        text += f"  | p95 x{got['p95'] / base['p95']:.1f} of baseline"
    return text


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--loop":
        role, index, stop, out = argv[1:5]
        {"reader": _reader, "writer": _writer}[role](index, Path(stop), Path(out))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", type=int, default=5000, help="datasets the scan adds")
    p.add_argument("--base", type=int, default=1000, help="datasets already in the index")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the baseline")
    p.add_argument("--data", type=Path, default=Path("/tmp/voxcat-contention"))
    p.add_argument("--scan-alone", action="store_true", help="also time the scan alone")
    args = p.parse_args(argv)

    from catalog import scan

    data = args.data
    data.mkdir(parents=True, exist_ok=True)
    old = write_tree(data / "old", args.base, seed=1)
    new = write_tree(data / "new", args.datasets, seed=2)
    template = data / f"base-{args.base}.duckdb"
    if not template.exists():
        scan(old, template, jobs=2, progress=False)
    print(
        f"voxcat contention benchmark: {os.cpu_count()} cores, index of {args.base:,} "
        f"datasets, a scan adding {args.datasets:,}; load average "
        f"{os.getloadavg()[0]:.2f}"
    )

    work = data / "run"
    index = _fresh(template, work)
    procs, stop = _loops(index, work)
    time.sleep(args.seconds)
    alone = _collect(procs, stop, work)

    index = _fresh(template, work)
    procs, stop = _loops(index, work)
    time.sleep(2.0)  # the loops have started
    t0 = time.perf_counter()
    proc = _scan(new, index)
    code = proc.wait()
    scan_secs = time.perf_counter() - t0
    during = _collect(procs, stop, work)

    for role in ("reader", "writer"):
        base, got = _percentiles(alone[role]["times"]), _percentiles(during[role]["times"])
        print(f"{role} loop:")
        print(_row("no scan (baseline)", base, None))
        print(_row("while the scan writes", got, base))
        for phase, res in (("baseline", alone), ("scan", during)):
            if res[role]["errors"]:
                print(
                    f"  {len(res[role]['errors'])} errors ({phase}), first: {res[role]['errors'][0]}"
                )
    reader_p95 = _percentiles(during["reader"]["times"])["p95"]
    verdict = "PASS" if reader_p95 < TARGET_P95 else "FAIL"
    print(f"reader p95 while scanning {reader_p95:.3f} s (target < {TARGET_P95} s: {verdict})")
    print(f"scan with the loops: {scan_secs:.1f} s, exit code {code}")
    if args.scan_alone:
        index = _fresh(template, work)
        t0 = time.perf_counter()
        _scan(new, index).wait()
        alone_secs = time.perf_counter() - t0
        print(f"scan alone: {alone_secs:.1f} s (with the loops x{scan_secs / alone_secs:.2f})")


if __name__ == "__main__":
    main()
