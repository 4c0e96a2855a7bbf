"""Thumbnails that say what the data is: labels in a categorical colormap, float CT
stretched between robust percentiles, RGB as RGB, a volume as slice | projection; and
thumbnails of an older drawing version (or drawn before a dataset was known to be a
segmentation) redrawn by a rescan, only those.

A corpus written with tifffile and zarr (seeded RNG) is scanned for real; the asserts
read the PNGs the index names.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from catalog import scan
from catalog.index import cache_dir
from catalog.palette import label_colors, label_rgb
from catalog.scanner.redraw import draw_thumbnails
from catalog.scanner.thumbnail import VERSION, is_current, looks_like_labels, thumbnail_rel
from tests.conftest import q

#: a thumbnail whose luminance varies less than this is blank to the eye
MIN_SPREAD = 20.0


def _blobs(rng: np.random.Generator, shape: tuple[int, ...], n: int, dtype: str) -> np.ndarray:
    """A label image: ``n`` labelled balls (label 1..n) on background 0."""
    grid = np.indices(shape)
    out = np.zeros(shape, dtype)
    for label in range(1, n + 1):
        centre = [rng.integers(s // 5, s - s // 5) for s in shape]
        radius = min(shape[-2:]) / 6
        dist = sum(
            ((g - c) / (radius if k >= len(shape) - 2 else radius / 2)) ** 2
            for k, (g, c) in enumerate(zip(grid, centre))
        )
        out[dist < 1] = label
    return out


def write_corpus(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The five kinds of dataset the issue names, plus a constant (empty) image."""
    import zarr

    root.mkdir()
    (root / "segmentation").mkdir()
    labels16 = _blobs(rng, (24, 96, 96), 9, "uint16") * 1000  # label ids far apart
    tifffile.imwrite(root / "segmentation" / "cells.tif", labels16)
    labels8 = _blobs(rng, (80, 120), 6, "uint8")  # no name says it: its values do
    tifffile.imwrite(root / "regions.tif", labels8)
    z, y, x = np.mgrid[0:32, 0:96, 0:96]
    ct = (np.sin(x / 9.0) * np.cos(y / 7.0) + z / 32.0).astype(np.float32)
    ct += rng.normal(0, 0.05, ct.shape).astype(np.float32)
    flat = ct.reshape(-1)
    hot = rng.choice(flat.size, 40, replace=False)
    flat[hot[:20]] = 1e9  # outliers that would flatten a min-max stretch
    flat[hot[20:30]] = -1e9
    flat[hot[30:35]] = np.nan
    flat[hot[35:]] = np.inf
    tifffile.imwrite(root / "ct_float.tif", ct)
    rgb = np.zeros((90, 120, 3), np.uint8)
    rgb[:, :40, 0] = 220  # red | green | blue bands with noise
    rgb[:, 40:80, 1] = 200
    rgb[:, 80:, 2] = 230
    rgb += rng.integers(0, 25, rgb.shape, dtype=np.uint8)
    tifffile.imwrite(root / "photo_rgb.tif", rgb, photometric="rgb")
    ball = ((z - 16) ** 2 + (y - 48) ** 2 + (x - 60) ** 2) < 400
    vol = rng.integers(100, 900, (32, 96, 96)).astype(np.uint16)
    vol[ball] += 20000
    vol[:, 10:20, 10:20] += np.arange(32, dtype=np.uint16)[:, None, None] * 200  # MIP ≠ slice
    zarr.create_array(str(root / "volume16.zarr"), data=vol, chunks=(8, 96, 96), zarr_format=2)
    img2d = (np.add.outer(np.arange(100), np.arange(140)) * 10).astype(np.uint16)
    img2d += rng.integers(0, 300, img2d.shape, dtype=np.uint16)
    tifffile.imwrite(root / "image2d.tif", img2d)
    tifffile.imwrite(root / "blank.tif", np.full((40, 40), 7, np.uint16))
    return {"labels16": labels16, "labels8": labels8, "ct": ct, "rgb": rgb, "vol": vol}


def _png(index: Path, name: str) -> np.ndarray:
    ((rel,),) = q(index, "SELECT thumbnail FROM datasets WHERE name = ?", [name])
    assert rel is not None, f"{name} has no thumbnail"
    assert f"/v{VERSION}/" in rel
    with Image.open(cache_dir(index) / rel) as im:
        return np.asarray(im.convert("RGB"))


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114])


def _colours(rgb: np.ndarray) -> set[tuple[int, ...]]:
    return set(map(tuple, rgb.reshape(-1, 3)))


@pytest.fixture
def scanned(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    data = write_corpus(tmp_path / "corpus", rng)
    index = tmp_path / "lab.duckdb"
    report = scan(tmp_path / "corpus", index=index, jobs=1, progress=False)
    assert report["failed"] == 0
    return index, data


def test_every_thumbnail_says_what_the_data_is(scanned) -> None:
    index, data = scanned
    names = {r[0] for r in q(index, "SELECT name FROM datasets")}
    assert names >= {
        "cells.tif",
        "regions.tif",
        "ct_float.tif",
        "photo_rgb.tif",
        "volume16.zarr",
        "image2d.tif",
        "blank.tif",
    }, names
    thumbs = {n: _png(index, n) for n in names}
    for name, img in thumbs.items():
        assert img.shape[0] == 256
        if name != "blank.tif":  # every non-empty dataset shows its structure
            assert _luminance(img).std() > MIN_SPREAD, (name, _luminance(img).std())
    # the constant image is one even grey, neither black nor noise
    assert len(_colours(thumbs["blank.tif"])) == 1 and thumbs["blank.tif"].max() > 0

    # labels: a categorical colormap, one colour per label value, background black,
    # no blended colours from resizing; found by name (segmentation/) or by values
    for name, labels in (("cells.tif", data["labels16"]), ("regions.tif", data["labels8"])):
        img = thumbs[name]
        palette = {tuple(c) for c in label_colors(np.unique(labels)).tolist()}
        colours = _colours(img)
        assert len(colours) > 2 and colours <= palette, (name, len(colours))
        assert (0, 0, 0) in colours
    # cells.tif was known to be labels from its folder's name before it was read;
    # regions.tif from its values (so its file is the plain one)
    rels = dict(q(index, "SELECT name, thumbnail FROM datasets"))
    assert rels["cells.tif"].endswith("-labels.png")
    assert not rels["regions.tif"].endswith("-labels.png")
    # a 3-D label volume: slice | projection, the same label the same colour in both
    cells = thumbs["cells.tif"]
    half = cells.shape[1] // 2
    assert _colours(cells[:, :half]) & _colours(cells[:, half:]) - {(0, 0, 0)}

    # RGB stays colour: red, green and blue bands where they were written
    rgb = thumbs["photo_rgb.tif"].astype(int)
    w = rgb.shape[1]
    assert np.abs(rgb[..., 0] - rgb[..., 1]).mean() > 50
    for band, channel in (
        (slice(0, w // 4), 0),
        (slice(w // 2 - 5, w // 2 + 5), 1),
        (slice(w - w // 4, w), 2),
    ):
        means = rgb[:, band].reshape(-1, 3).mean(0)
        assert means.argmax() == channel, (channel, means)

    # float CT with NaN, inf and ±1e9 outliers: the structure, not two grey levels
    ct = _luminance(thumbs["ct_float.tif"])
    assert len(np.unique(ct.round())) > 100
    assert ct.std() > 40

    # a 3-D volume: two panels of equal width (middle slice | max projection),
    # a 2-D image one panel of its own aspect
    vol = _luminance(thumbs["volume16.zarr"])
    assert vol.shape[1] == 2 * vol.shape[0]  # 96x96 slice beside 96x96 projection
    left, right = vol[:, : vol.shape[1] // 2], vol[:, vol.shape[1] // 2 :]
    assert right.mean() > left.mean()
    # the ramp of the corner square is brighter in the projection than in the slice
    corner = (slice(30, 50), slice(30, 50))
    assert right[corner].mean() > left[corner].mean() + 30
    flat = thumbs["image2d.tif"]
    assert flat.shape[1] == math.ceil(256 * 140 / 100)
    gray = _luminance(flat)
    assert gray[:, -20:].mean() > gray[:, :20].mean() + 50  # the gradient, left to right


def test_outdated_thumbnails_are_redrawn_and_only_those(scanned) -> None:
    """Thumbnails named by an older drawing version (as an index made before this one
    names them) are redrawn by a rescan; current ones are not touched."""
    index, _ = scanned
    cache = cache_dir(index)
    rows = q(index, "SELECT id, name, checksum, thumbnail FROM datasets ORDER BY name")
    (old_id, _, old_sum, old_rel), *rest = rows
    stale = f"thumbnails/{old_sum.split(':')[-1][:2]}/{old_sum.split(':')[-1][:32]}.png"
    (cache / stale).parent.mkdir(parents=True, exist_ok=True)
    (cache / stale).write_bytes((cache / old_rel).read_bytes())
    import duckdb

    with duckdb.connect(str(index)) as con:
        con.execute("UPDATE datasets SET thumbnail = ? WHERE id = ?", [stale, old_id])
    assert not is_current(stale, old_sum)
    before = {r[0]: (cache / r[3]).stat().st_mtime_ns for r in rest}
    report = scan(index.parent / "corpus", index=index, jobs=1, progress=False)
    assert report["unchanged"] == len(rows) and report.thumbnails["redrawn"] == 1
    ((rel,),) = q(index, "SELECT thumbnail FROM datasets WHERE id = ?", [old_id])
    assert rel == old_rel and is_current(rel, old_sum, rel.endswith("-labels.png"))
    assert {r[0]: (cache / r[3]).stat().st_mtime_ns for r in rest} == before

    # marking a dataset a segmentation outdates its thumbnail: drawn again as labels
    ((ident, checksum),) = q(index, "SELECT id, checksum FROM datasets WHERE name = 'regions.tif'")
    with duckdb.connect(str(index)) as con:
        con.execute("UPDATE datasets SET data_level = 'segmentation' WHERE id = ?", [ident])
    redraw = draw_thumbnails(index, missing_only=True, jobs=1)
    assert redraw.drawn == [ident] and redraw.ok
    ((rel,),) = q(index, "SELECT thumbnail FROM datasets WHERE id = ?", [ident])
    assert rel == thumbnail_rel(checksum, labels=True) and (cache / rel).exists()
    assert draw_thumbnails(index, missing_only=True, jobs=1).drawn == []


def test_label_rules() -> None:
    """Labels are known by their values when nothing else says so; colours depend on
    the label value only."""
    assert looks_like_labels(np.array([[0, 3], [9, 3]], np.uint16))
    assert not looks_like_labels(np.arange(500, dtype=np.uint16))  # intensities
    assert not looks_like_labels(np.array([0.0, 1.0]))  # float: never by values
    assert not looks_like_labels(np.zeros(9, np.uint8))  # one value: nothing to tell apart
    a = label_rgb(np.array([[0, 5], [7, 5]]))
    b = label_rgb(np.array([[7, 7], [5, 0]]))
    assert (a[0, 1] == b[1, 0]).all() and (a[1, 0] == b[0, 0]).all()
    assert len(_colours(label_rgb(np.arange(40).reshape(5, 8)))) == 40
    # the thumbnails' label colours are the notebook slice viewer's labels colormap
    from widgets.render import lut, scale

    values = np.array([0, 1, 2, 254, 255, 256, 9000])
    assert (label_rgb(values) == lut("labels")[scale(values, (0, 1), "labels")]).all()
