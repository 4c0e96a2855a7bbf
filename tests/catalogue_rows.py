"""A small index of hand-made dataset rows, written into a real DuckDB file through
the same writers the scanner uses, for testing search semantics precisely."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from catalog.catalogue import annotate
from catalog.index import transaction
from catalog.index.search_text import refresh_search_text
from catalog.index.store import (
    DATASET_SCHEMA,
    META_SCHEMA,
    flatten,
    insert_rows,
    make_id,
)

GB = 10**9

ROWS: list[dict[str, Any]] = [
    dict(
        name="sandstone_01_rec",
        path="/lab/2023/rocks/S01/sandstone_01_rec",
        format="slices",
        modality="CT",
        voxel_size=6.5e-6,
        acquired=dt.datetime(2023, 5, 12, 10, 0),
        size=2 * GB,
        shape=[100, 512, 512],
        axes="zyx",
        sample="S01",
        project="rocks",
        data_level="reconstructed",
        meta={"ExposureTime": 0.5, "Scanner": {"Model": "SkyScan1272", "Filter": "Al 0.5mm"}},
    ),
    dict(
        name="sandstone_02_rec",
        path="/lab/2024/rocks/S02/sandstone_02_rec.tif",
        format="tiff",
        modality="CT",
        voxel_size=3e-6,
        acquired=dt.datetime(2024, 1, 20, 9, 0),
        size=500 * 10**6,
        shape=[50, 256, 256],
        axes="zyx",
        sample="S02",
        project="rocks",
        data_level="reconstructed",
        meta={
            "ExposureTime": 1.2,
            "Scanner": {"Model": "SkyScan1272"},
            "Comment": "pore network study",
        },
    ),
    dict(
        name="hela_confocal",
        path="/lab/2024/cells/hela_confocal.ome.tif",
        format="tiff",
        modality="LM",
        voxel_size=2e-7,
        acquired=dt.datetime(2024, 3, 5, 14, 30),
        size=100 * 10**6,
        shape=[2, 16, 1024, 1024],
        axes="czyx",
        channels=["DAPI", "GFP"],
        project="cells",
        meta={"Objective": "63x oil", "ExposureTime": 0.05},
    ),
    dict(
        name="brain_T1.nii.gz",
        path="/lab/2022/mr/brain_T1.nii.gz",
        format="nifti",
        modality="MR",
        voxel_size=1e-3,
        acquired=dt.datetime(2022, 11, 1, 8, 0),
        size=20 * 10**6,
        shape=[64, 64, 64],
        axes="zyx",
        meta={"Comment": "100% contrast_agent"},
    ),
    dict(
        name="ribosome.mrc",
        path="/lab/em/ribosome.mrc",
        format="mrc",
        modality="EM",
        voxel_size=3.4e-10,
        size=GB,
        shape=[20, 32, 40],
        axes="zyx",
        meta={"Comment": "tomogram"},
    ),
    dict(
        name="100%_done.tif",
        path="/lab/misc/100%_done.tif",
        format="tiff",
        size=10**6,
        shape=[8, 8],
        axes="yx",
    ),
    dict(
        name='quote\'s "x"; DROP TABLE datasets;--.tif',
        path='/lab/misc/quote\'s "x"; DROP TABLE datasets;--.tif',
        format="tiff",
        size=10**6,
        shape=[8, 8],
        axes="yx",
    ),
    dict(name="notes.txt", path="/lab/misc/notes.txt", kind="file", format="text/plain", size=12),
]

TAGS = {"sandstone_01_rec": ["porosity"], "sandstone_02_rec": ["porosity", "Paper-2025"]}
NOTES = {"sandstone_02_rec": "checked by Anna: ring artefacts"}


def write_rows(index: Path) -> dict[str, str]:
    """Write :data:`ROWS` (with tags and notes) into ``index``; returns name -> id."""
    t = dt.datetime(2025, 1, 1)
    rows, metas, ids = [], [], {}
    for spec in ROWS:
        row = dict(spec)
        meta = row.pop("meta", None)
        ident = make_id(row["path"], None)
        ids[row["name"]] = ident
        spatial = row.get("voxel_size")
        row.update(
            id=ident,
            kind=row.get("kind", "image"),
            reader=None if row.get("kind") == "file" else row["format"],
            status="ok",
            first_seen=t,
            last_seen=t,
            voxel_size_x=spatial,
            meta=json.dumps(meta) if meta else None,
        )
        rows.append(row)
        metas.extend(
            {"dataset_id": ident, "key": k, "value": v, "num": n}
            for k, v, n in flatten(meta or {})
        )
    with transaction(index) as con:
        insert_rows(con, "datasets", rows, DATASET_SCHEMA)
        insert_rows(con, "metadata", metas, META_SCHEMA)
        refresh_search_text(con)
    for name, tags in TAGS.items():
        annotate.tag(index, [ids[name]], tags)
    for name, text in NOTES.items():
        annotate.note(index, [ids[name]], text)
    return ids
