"""What the main-area dataset viewer asks of the REST API: slices through a colour map
or with explicit contrast, label images in categorical colours, whether to offer a
preview pyramid, and pyramid jobs that carry the dataset's name."""

from __future__ import annotations

import io

import numpy as np
import tifffile
from PIL import Image

from catalog import open_catalog, scan
from catalog.preview import ensure_preview
from catalog.service.api import preview_needed


def _png(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


async def test_slice_through_a_colour_map_with_explicit_contrast(api, lab) -> None:
    ident = lab.id("sandstone_0.tif")
    grey = _png((await api("datasets", ident, "slice.png", params={"z": "4"})).body)
    r = await api("datasets", ident, "slice.png", params={"z": "4", "cmap": "viridis"})
    assert r.status == 200
    rgb = _png(r.body)
    assert rgb.shape == (*grey.shape, 3)
    # viridis: dark purple at the low end, yellow at the high end
    dark, bright = rgb[0, 0], rgb[20, 24]
    assert dark[2] > dark[1] and bright[0] > 200 and bright[1] > 200 and bright[2] < 100
    r = await api("datasets", ident, "slice.png", params={"z": "4", "range": "0,100000"})
    assert r.headers["X-Voxcat-Contrast"] == "0,100000"
    # a range far wider than the data: everything darker than with percentiles
    assert _png(r.body).mean() < grey.mean()
    for bad in ({"cmap": "rainbow"}, {"range": "5,1"}, {"range": "a,b"}, {"range": "1,2,3"}):
        r = await api("datasets", ident, "slice.png", params={"z": "4", **bad})
        assert r.status == 400, bad
        key = next(iter(bad))
        assert key in r.json["error"], r.json


async def test_labels_are_categorical_with_a_transparent_background(api, lab) -> None:
    # a label image written into the served index's drive and scanned in
    drive = lab.index.parent.parent / "labels"
    drive.mkdir()
    labels = np.zeros((4, 40, 48), dtype=np.uint16)
    labels[:, 5:15, 5:15] = 1
    labels[:, 20:30, 5:40] = 2
    labels[:, 32:38, 30:46] = 700
    tifffile.imwrite(drive / "cells_labels.tif", labels, imagej=True, metadata={"axes": "ZYX"})
    scan(drive, lab.index, jobs=1, progress=False)
    cat = open_catalog(lab.index)
    ident = next(i for i in cat if cat[i].metadata["name"] == "cells_labels.tif")
    r = await api("datasets", ident, "slice.png", params={"z": "1", "cmap": "labels"})
    assert r.status == 200
    rgba = _png(r.body)
    assert rgba.shape == (40, 48, 4)
    assert rgba[0, 0, 3] == 0  # background: transparent
    colours = {tuple(rgba[y, x, :3]) for y, x in ((10, 10), (25, 20), (35, 40))}
    assert len(colours) == 3 and all(rgba[y, x, 3] == 255 for y, x in ((10, 10), (35, 40)))
    # shrunk by nearest neighbour: no blended colours, only the three labels'
    small = _png(
        (await api("datasets", ident, "slice.png", params={"cmap": "labels", "size": "17"})).body
    )
    opaque = {tuple(p[:3]) for p in small.reshape(-1, 4) if p[3]}
    assert opaque <= colours and len(opaque) >= 2


async def test_preview_offer_and_pyramid_jobs_named(api, lab) -> None:
    ident = lab.id("sandstone_0.tif")
    d = (await api("datasets", ident)).json
    assert d["preview_needed"] is False  # small: views read it directly
    cat = open_catalog(lab.index)
    # big enough for a preview (a low threshold), until one is built for its checksum
    assert preview_needed(cat, ident, min_bytes=1) is True
    assert ensure_preview(lab.index, ident, min_bytes=1) is not None
    assert preview_needed(cat, ident, min_bytes=1) is False
    r = await api("jobs", method="POST", body={"kind": "pyramid", "id": ident})
    assert r.status in (200, 201, 202), r.json
    assert r.json["args"] == {"id": ident, "name": "sandstone_0.tif"}
