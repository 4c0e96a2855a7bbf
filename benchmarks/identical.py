"""Identical-content benchmark: scans of many files sharing one checksum stay linear.

    python -m benchmarks.identical                 # 50,000 files per tree
    python -m benchmarks.identical --files 5000    # a quick look

Two trees of ``--files`` small non-image files (1 KiB, 500 per folder) are scanned in
the same run, each into its own index: one where half of the files are copies of one
file (one checksum shared by ``--files / 2`` datasets) and, as the baseline, one where
every file is different. Three phases, each printed as files/s for both trees and the
ratio identical / distinct (linear handling keeps it near 1; before the fix it fell
with the number of copies: 4,000 identical files took 4x the time of 4,000 distinct):

- first scan: every file added, each with its own id;
- move: the tree's folder renamed inside the scan root, then rescanned: every dataset
  is recognised by its checksum and keeps its id (moves by checksum);
- copy: a copy of the tree scanned as another root into the same index: every file is
  new and gets its own id although its checksum is already in the index many times;
- empty files: a third tree of ``--files`` empty files (one checksum for all; 50,000
  of them had not finished after 15 minutes before the fix), against the first scan
  of the distinct tree (``--no-empty`` skips it).

Generated data is kept in ``--data`` (default ``/tmp/voxcat-bench``) between runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

PER_FOLDER = 500
SIZE = 1024


def write_tree(root: Path, n: int, identical: int, size: int = SIZE) -> Path:
    """``n`` files of ``size`` bytes under ``root/data``; ``identical`` of them (every
    other file, in every folder, or all) hold the same bytes, the others each their
    own."""
    marker = root.with_name(f".{root.name}-done")  # outside the scanned tree
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    same = (bytes(range(256)) * (size // 256 + 1))[:size]
    for i in range(n):
        folder = root / "data" / f"p{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        if identical == n or (i % 2 == 0 and i // 2 < identical):
            body = same
        else:
            body = f"file {i:08d} ".encode().ljust(size, b".")
        (folder / f"f{i:06d}.dat").write_bytes(body)
    marker.write_text("ok")
    return root


def _line(label: str, n: int, secs: dict[str, float]) -> None:
    same, distinct = n / secs["identical"], n / secs["distinct"]
    print(
        f"  {label:11}: identical {secs['identical']:7.2f} s {same:8.0f} files/s | "
        f"distinct {secs['distinct']:7.2f} s {distinct:8.0f} files/s | "
        f"ratio {same / distinct:.2f} (target >= 0.8: {'PASS' if same / distinct >= 0.8 else 'FAIL'})"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=50_000, help="files per tree")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--data", type=Path, default=Path("/tmp/voxcat-bench"))
    p.add_argument("--no-empty", action="store_true", help="skip the tree of empty files")
    args = p.parse_args(argv)

    import duckdb

    from catalog import scan

    n = args.files
    work = args.data / f"identical-{n}"
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print(f"voxcat identical-content benchmark: {os.cpu_count()} cores, jobs={args.jobs}")
    t = time.perf_counter()
    trees = {
        "identical": write_tree(work / "identical", n, n // 2),
        "distinct": write_tree(work / "distinct", n, 0),
    }
    print(
        f"{n} files of {SIZE} bytes per tree, {n // 2} of them identical in the first "
        f"({time.perf_counter() - t:.1f} s to generate, in {work})\n"
    )

    def run(phase: str, kind: str, root: Path, expect: dict[str, int]) -> float:
        rep = scan(root, out / f"{kind}.duckdb", jobs=args.jobs, progress=False)
        got = {k: rep.counts[k] for k in expect}
        assert got == expect, (phase, kind, rep.counts)
        return rep.seconds

    # 1. first scan
    secs = {k: run("scan", k, r, {"added": n, "failed": 0}) for k, r in trees.items()}
    ids = {}
    for kind in trees:
        con = duckdb.connect(str(out / f"{kind}.duckdb"), read_only=True)
        ids[kind] = con.execute(
            "SELECT count(DISTINCT id), count(DISTINCT checksum) FROM datasets"
        )
        ids[kind] = ids[kind].fetchone()
        con.close()
    assert ids["identical"] == (n, n - n // 2 + 1) and ids["distinct"] == (n, n), ids
    _line("first scan", n, secs)
    first_distinct = secs["distinct"]

    # 2. the folder renamed inside the root: every dataset moved, found by checksum
    for root in trees.values():
        (root / "data").rename(root / "moved")
    try:
        secs = {k: run("move", k, r, {"moved": n, "added": 0}) for k, r in trees.items()}
        _line("move", n, secs)

        # 3. a copy of the tree as another root: every file new, its checksum known
        copies = {k: out / f"copy-{k}" for k in trees}
        for kind, root in trees.items():
            shutil.copytree(root / "moved", copies[kind])
        secs = {k: run("copy", k, copies[k], {"added": n, "moved": 0}) for k in trees}
        _line("copy", n, secs)
    finally:  # as generated, for the next run
        for root in trees.values():
            (root / "moved").rename(root / "data")

    # 4. a tree of empty files only (all one checksum) against the distinct first scan
    if not args.no_empty:
        empty = write_tree(work / "empty", n, n, size=0)
        secs = {"identical": run("empty", "empty", empty, {"added": n, "failed": 0})}
        _line("empty files", n, {**secs, "distinct": first_distinct})


if __name__ == "__main__":
    main()
