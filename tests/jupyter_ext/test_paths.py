"""The REST API hands out paths of files whose names are not UTF-8 as JSON that
``json.loads`` turns back into paths ``open()`` takes (``\\udcXX`` escapes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan

from .conftest import Lab

RAW = b"scan_\xe9t\xe9.tif"  # Latin-1, not UTF-8


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    drive = os.fsencode(tmp_path / "drive")
    os.mkdir(drive)
    tifffile.imwrite(os.fsdecode(drive + b"/" + RAW), np.zeros((2, 16, 16), np.uint16))
    tifffile.imwrite(os.fsdecode(drive + b"/plain.tif"), np.ones((2, 16, 16), np.uint16))
    index = tmp_path / "lab.duckdb"
    scan(os.fsdecode(drive), index, jobs=1, progress=False, thumbnails=False)
    cat = open_catalog(index)
    return Lab(index, {os.fsencode(cat[i].metadata["path"]).rsplit(b"/")[-1]: i for i in cat})


async def test_dataset_and_search_json_carry_exact_paths(api, lab) -> None:
    ident = lab.id(RAW)
    r = await api("datasets", ident)
    assert r.status == 200
    r.body.decode("utf-8")  # valid UTF-8 JSON
    assert b"\\udce9" in r.body
    path = r.json["path"]
    assert os.fsencode(path).endswith(b"/" + RAW) and os.path.isfile(os.fsencode(path))
    r = await api("search", params={"q": "scan"})
    assert r.status == 200 and r.json["total"] == 1
    # the rows carry no path; the dataset's own endpoint does, as above
    assert json.loads(r.body)["rows"][0]["id"] == ident
