"""``benchmarks.migrate`` runs end to end at a tiny size (so it cannot rot) and prints
every figure it promises. Rows are checked, never timings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_prints_every_figure_at_a_tiny_size(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = ["--mb", "4", "--repeat", "1", "--warm", "--data", str(tmp_path)]
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks.migrate", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert re.search(r"data: \d+ files, [\d.]+ MB of TIFF and Zarr", out), out
    assert "cache: sources read once before every run" in out
    for label in ("plain shutil.copyfile + sync", "migrate (10 datasets) + sync",
                  "migrate --no-read-back + sync"):  # fmt: skip
        assert re.search(re.escape(label) + r"\s*:\s+[\d.]+ s\s+[\d.]+ MB/s", out), out
    assert re.search(r"migrate / plain copy\s*: [\d.]+\s+\(target >= 0.7", out), out
    assert re.search(r"migrate --no-read-back / plain\s*: [\d.]+", out), out
    assert not (tmp_path / "out").exists()  # what it wrote is cleaned up
