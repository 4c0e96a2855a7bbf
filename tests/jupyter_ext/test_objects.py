"""A dataset in object storage through the Jupyter server's REST API: found by search,
described, sliced and thumbnailed like a file, read from a real S3-compatible server
(moto on 127.0.0.1) through a counting proxy."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog import scan

from ..s3server import upload
from .conftest import Lab, write_tiffs

pytestmark = pytest.mark.slow


async def test_a_dataset_in_object_storage_through_the_rest_api(
    api, lab: Lab, tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_proxy
) -> None:
    local = tmp_path / "objects"
    write_tiffs(local, ["far_core.tif"], seed=11)
    upload(s3_endpoint, s3_bucket, local, "lab")
    url = f"s3://{s3_bucket}/lab"
    scan(url, lab.index, storage_options={"endpoint_url": s3_proxy.endpoint}, jobs=1)
    # the same pixels on a drive, for comparison: one byte appended (tifffile ignores
    # it), so a dataset of its own, not a replica of the object (catalog/replicas.py)
    with open(local / "far_core.tif", "ab") as f:
        f.write(b"\0")
    scan(local, lab.index, jobs=1, progress=False)

    r = await api("search", params={"q": "far_core"})
    assert r.status == 200 and r.json["total"] == 2
    found = {}
    for row in r.json["rows"]:
        d = await api("datasets", row["id"])
        assert d.status == 200 and d.json["shape"] == [8, 40, 48]
        found[d.json["path"]] = row["id"]
    remote, here = found[f"{url}/far_core.tif"], found[str(local / "far_core.tif")]

    s3_proxy.reset()
    params = {"dims": "y,x", "z": "4"}
    far = await api("datasets", remote, "slice.png", params=params)
    assert far.status == 200 and far.headers["Content-Type"] == "image/png"
    assert s3_proxy.bytes_for(f"{s3_bucket}/lab/far_core.tif") > 0  # read from the bucket
    near = await api("datasets", here, "slice.png", params=params)
    img = np.asarray(Image.open(io.BytesIO(far.body)))
    assert img.shape == (40, 48)
    assert np.array_equal(img, np.asarray(Image.open(io.BytesIO(near.body))))
    assert far.headers["X-Voxcat-Contrast"] == near.headers["X-Voxcat-Contrast"]

    thumb = await api("thumbnails", f"{remote}.png")
    assert thumb.status == 200 and thumb.body[:8] == b"\x89PNG\r\n\x1a\n"
