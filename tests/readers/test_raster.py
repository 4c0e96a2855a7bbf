"""Raster reader: PNG, JPEG, GIF and BMP images written by Pillow (16-bit colour PNG by
libpng through imagecodecs, since Pillow cannot write it)."""

from __future__ import annotations

import datetime as dt
import pickle
import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image, PngImagePlugin

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.raster import RasterReader
from catalog.testing import ReaderContract, Sample

VARIANTS = ["png-grey8", "png-grey16", "png-rgb", "png-rgba", "png-rgb16", "png-palette"]
VARIANTS += ["jpeg-rgb", "jpeg-grey", "bmp-rgb", "bmp-grey", "gif-palette", "gif-animated"]


def rgb_of(volume: np.ndarray) -> np.ndarray:
    return (volume[3:6] % 256).astype(np.uint8).transpose(1, 2, 0)  # y, x, c


class TestRasterContract(ReaderContract):
    reader_class = RasterReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        fmt = kind.split("-")[0]
        path = tmp_path / f"{kind}.{fmt}"
        grey8, grey16, rgb = (volume[6] % 256).astype(np.uint8), volume[6], rgb_of(volume)
        if kind in ("png-grey8", "png-grey16", "png-rgb", "png-rgba", "bmp-rgb", "bmp-grey"):
            data = {"png-grey16": grey16, "png-rgb": rgb, "bmp-rgb": rgb}.get(kind, grey8)
            if kind == "png-rgba":
                data = np.dstack([rgb, grey8])
            Image.fromarray(data).save(path, format=fmt.upper(), dpi=(254, 254))
            spacing = {"x": 1e-4, "y": 1e-4}  # 254 dpi = 10000 pixels per metre
            expected = data.transpose(2, 0, 1) if data.ndim == 3 else data
            axes = "cyx" if data.ndim == 3 else "yx"
            return Sample(Source.single(path), expected, axes, spacing=spacing)
        if kind == "png-rgb16":
            data = np.dstack([volume[6], volume[7], volume[8] * 20])
            path.write_bytes(imagecodecs.png_encode(data))
            return Sample(Source.single(path), data.transpose(2, 0, 1), "cyx")
        if kind == "png-palette":
            labels = (volume[6] > 1000).astype(np.uint8) + (volume[5] > 1000)
            img = Image.fromarray(labels, mode="L").convert("P")
            img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
            img.save(path)
            return Sample(Source.single(path), labels, "yx")
        if kind == "gif-palette":  # one frame: palette indices, as PNG's
            labels = ((volume[6] > 1000) + 2 * (volume[5] > 1000)).astype(np.uint8)
            img = Image.fromarray(labels, mode="L").convert("P")
            img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
            img.save(path)
            with Image.open(path) as decoded:  # the writer may reorder the palette
                expected = np.asarray(decoded)
            assert len(np.unique(expected)) == len(np.unique(labels)) > 1
            return Sample(Source.single(path), expected, "yx")
        if kind == "gif-animated":  # frames as shown (RGB), each with its own palette
            frames = [
                Image.fromarray(np.ascontiguousarray(rgb_of(volume[i : i + 6]))) for i in (0, 3, 6)
            ]
            frames = [f.quantize(colors=16) for f in frames]
            frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
            import imageio.v3 as iio  # scikit-image's reader: the reference

            expected = iio.imread(path, index=None)  # t, y, x, c
            return Sample(Source.single(path), expected.transpose(0, 3, 1, 2), "tcyx")
        image = Image.fromarray(rgb if kind == "jpeg-rgb" else grey8)
        image.save(path, format="JPEG", quality=90)
        with Image.open(path) as decoded:  # JPEG is lossy: compare with Pillow's decoding
            expected = np.asarray(decoded)
        if expected.ndim == 3:
            return Sample(Source.single(path), expected.transpose(2, 0, 1), "cyx")
        return Sample(Source.single(path), expected, "yx")


def patch_png_size(path: Path, width: int, height: int) -> None:
    """Rewrite the IHDR chunk (and its CRC) of a Pillow-written PNG."""
    raw = bytearray(path.read_bytes())
    raw[16:24] = struct.pack(">II", width, height)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
    path.write_bytes(bytes(raw))


def test_magic_bytes_are_required(tmp_path: Path, volume: np.ndarray) -> None:
    tif = tmp_path / "really-a-tiff.png"
    tifffile.imwrite(tif, volume[0])
    text = tmp_path / "notes.bmp"
    text.write_text("BMW 320i service notes\n" * 10)
    reader = RasterReader()
    assert not reader.guess_can_open(tif)
    assert not reader.guess_can_open(text)
    with pytest.raises(ReaderError, match="not a PNG, JPEG, GIF or BMP"):
        reader.describe(Source.single(tif))


def test_png_text_exif_and_physical_size(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "photo.png"
    text = PngImagePlugin.PngInfo()
    text.add_text("Description", "thin section, crossed polars")
    text.add_itxt("Author", "Ada")
    exif = Image.Exif()
    exif[271], exif[272], exif[306] = "Nikon", "D850", "2020:01:02 03:04:05"
    img = Image.fromarray(rgb_of(volume))
    img.save(path, pnginfo=text, exif=exif, dpi=(25.4 * 4000, 25.4 * 4000))  # 4 µm per pixel
    info = RasterReader().describe(Source.single(path))
    assert info.meta["info"]["Description"] == "thin section, crossed polars"
    assert info.meta["info"]["Author"] == "Ada"
    assert info.instrument == "Nikon D850"
    assert info.acquired == dt.datetime(2020, 1, 2, 3, 4, 5)
    assert info.spacing == pytest.approx({"x": 2.5e-7, "y": 2.5e-7})
    assert info.units == {"x": "m", "y": "m"}
    assert info.channels == ["R", "G", "B"]


def test_png_creation_time(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "t.png"
    text = PngImagePlugin.PngInfo()
    text.add_text("Creation Time", "Sat, 02 Mar 2024 10:11:12 +0000")  # RFC 1123, as PNG says
    Image.fromarray(volume[0]).save(path, pnginfo=text)
    info = RasterReader().describe(Source.single(path))
    assert info.acquired == dt.datetime(2024, 3, 2, 10, 11, 12, tzinfo=dt.UTC)


def test_screen_dpi_and_inch_density_are_not_pixel_sizes(
    tmp_path: Path, volume: np.ndarray
) -> None:
    grey = (volume[0] % 256).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "screen.png", dpi=(72, 72))
    Image.fromarray(grey).save(tmp_path / "inch.jpg", dpi=(300, 300))
    for name in ("screen.png", "inch.jpg"):
        assert RasterReader().describe(Source.single(tmp_path / name)).spacing == {}, name


def test_jpeg_exif_date_and_camera(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "cam.jpg"
    exif = Image.Exif()
    exif[271], exif[272] = "Olympus", "BX53"
    exif.get_ifd(0x8769)[36867] = "2019:07:08 09:10:11"  # DateTimeOriginal
    Image.fromarray(rgb_of(volume)).save(path, exif=exif)
    info = RasterReader().describe(Source.single(path))
    assert info.acquired == dt.datetime(2019, 7, 8, 9, 10, 11)
    assert info.instrument == "Olympus BX53"
    assert info.meta["exif"]["DateTimeOriginal"] == "2019:07:08 09:10:11"


def test_huge_mosaic_opens_without_touching_the_bomb_limit(
    tmp_path: Path, volume: np.ndarray
) -> None:
    path = tmp_path / "mosaic.png"
    Image.fromarray(rgb_of(volume)).save(path)
    patch_png_size(path, 32000, 27000)  # 864 megapixels: beyond Pillow's default limit
    before = Image.MAX_IMAGE_PIXELS
    reader = RasterReader()
    info = reader.describe(Source.single(path))
    assert info.shape == (3, 27000, 32000) and info.axes == "cyx"
    arr = reader.open(Source.single(path))
    assert arr.shape == (3, 27000, 32000) and arr.data.npartitions == 1
    assert before == Image.MAX_IMAGE_PIXELS
    with pytest.raises(Image.DecompressionBombError):  # others keep Pillow's protection
        Image.open(path)


def test_absurd_size_is_refused(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "bomb.png"
    Image.fromarray(rgb_of(volume)).save(path)
    patch_png_size(path, 200_000, 200_000)
    with pytest.raises(ReaderError, match="too large"):
        RasterReader().describe(Source.single(path))


def test_describe_reads_no_pixels(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(volume[6]).save(path)
    path.write_bytes(path.read_bytes()[:200])  # header intact, pixel data cut short
    reader = RasterReader()
    assert reader.describe(Source.single(path)).shape == (40, 48)
    arr = reader.open(Source.single(path))
    with pytest.raises(ReaderError, match=r"cut\.png"):
        arr.values  # noqa: B018


def test_open_result_pickles(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "p.png"
    Image.fromarray(volume[6]).save(path)
    arr = RasterReader().open(Source.single(path))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, volume[6])
