"""One vocabulary: the scan report, ``voxcat summary``, ``len(cat)``, search and the
sidebar count the same datasets (images and containers, whatever their status), and
count other files apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalog import open_catalog
from catalog.demo import run_demo
from catalog.summary import summary_text


@pytest.mark.slow
def test_demo_report_summary_and_catalogue_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = run_demo(tmp_path / "demo")
    printed = capsys.readouterr().out
    cat = open_catalog(index)
    everything = open_catalog(index, files=True)
    datasets, others = len(cat), len(everything) - len(cat)
    assert datasets == 14 and others == 3  # the demo drive's junk: a log, a CSV, notes
    failed = len(cat.search(status="failed"))
    ok = len(cat.search(status="ok"))
    assert ok + failed == datasets

    report_line = next(line for line in printed.splitlines() if "other file" in line)
    assert report_line.strip().startswith(f"{datasets} datasets and {others} other files;")

    text = summary_text(index)
    first = text.splitlines()[0]
    assert first.startswith(f"{datasets} datasets ({ok} ok, {failed} failed)")
    assert f"; {others} other files" in first
    formats = dict(
        (f, int(n)) for f, n in re.findall(r"(\w+) (\d+)", text.splitlines()[1].split(":")[1])
    )
    assert sum(formats.values()) == datasets
    table = [line for line in text.splitlines() if re.match(r"[a-z0-9]{12} ", line)]
    assert {line.split()[0] for line in table} == set(cat)  # every dataset, failed included
    assert len(cat.search("")) == len(cat.df) == datasets
