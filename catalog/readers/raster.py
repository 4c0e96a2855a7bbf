"""Single raster images through Pillow: PNG (1 to 16 bit, grey, palette, RGB(A)),
JPEG, GIF and BMP.

An animated GIF reads as ``tcyx``: every frame as the RGB(A) picture it shows (as
imageio and scikit-image read it), since later frames may draw on earlier ones and
change the palette.

Headers come from ``Image.open`` (lazy: no pixels are decoded); 16-bit colour PNGs,
which Pillow reduces to 8 bits, decode with imagecodecs' libpng to keep every bit.
Pillow's decompression-bomb limit is raised (to :data:`PIXEL_LIMIT`) only while this
reader opens a file, so mosaics of a billion pixels open without changing Pillow's
limit for anyone else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import struct
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ReaderError
from .arrays import check_size, dask_name, lazy_array, parse_datetime
from .base import (
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    canonical_order,
    jsonable,
    level_of,
    read_magic,
    reader_errors,
    spacing_entry,
)

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr
    from PIL import Image as PILImage

MAGICS = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
}
#: BMP info-header sizes (OS/2 1.x, Windows 3.x to V5): rules out text that starts "BM".
BMP_HEADERS = (12, 16, 40, 52, 56, 64, 108, 124)
#: Pillow refuses images of more than twice this many pixels (4.3 gigapixels).
PIXEL_LIMIT = 2**31
#: Pixels per metre that are screen defaults (72 and 96 dpi), not a physical size.
DEFAULT_PPM = frozenset({2834, 2835, 3779, 3780})
#: Pillow mode -> (dtype, channel names); one name means no channel axis.
MODES = {
    "1": ("bool", "L"),
    "L": ("uint8", "L"),
    "P": ("uint8", "P"),
    "LA": ("uint8", "LA"),
    "La": ("uint8", "LA"),
    "PA": ("uint8", "PA"),
    "RGB": ("uint8", "RGB"),
    "RGBA": ("uint8", "RGBA"),
    "RGBa": ("uint8", "RGBA"),
    "RGBX": ("uint8", "RGBX"),
    "CMYK": ("uint8", "CMYK"),
    "YCbCr": ("uint8", ("Y", "Cb", "Cr")),
    "LAB": ("uint8", "LAB"),
    "HSV": ("uint8", "HSV"),
    "I;16": ("uint16", "L"),
    "I;16L": ("uint16", "L"),
    "I;16B": ("uint16", "L"),
    "I;16N": ("uint16", "L"),
    "I": ("int32", "L"),
    "F": ("float32", "L"),
}
#: PNG colour types with several samples (grey+alpha, RGB, RGBA) Pillow cuts to 8 bits.
PNG16_COLOUR = {4: ("L", "A"), 2: ("R", "G", "B"), 6: ("R", "G", "B", "A")}
_BINARY_INFO = ("icc_profile", "exif", "xmp", "photoshop", "adobe", "mp", "extra")
_LIMIT_LOCK = threading.RLock()


def raster_format(path: Path) -> str | None:
    """``"PNG"``, ``"JPEG"``, ``"GIF"`` or ``"BMP"`` from the magic bytes, else ``None``."""
    head = read_magic(Path(path), 32)
    for magic, name in MAGICS.items():
        if head.startswith(magic):
            if name == "BMP" and (
                len(head) < 18 or struct.unpack("<I", head[14:18])[0] not in BMP_HEADERS
            ):
                return None
            return name
    return None


@contextlib.contextmanager
def pixel_limit() -> Iterator[None]:
    """Raise Pillow's decompression-bomb limit to :data:`PIXEL_LIMIT` for the block."""
    from PIL import Image

    with _LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        old = Image.MAX_IMAGE_PIXELS
        if old is not None:
            Image.MAX_IMAGE_PIXELS = max(old, PIXEL_LIMIT)
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def open_image(path: Path) -> PILImage.Image:
    """``Image.open`` (header only) with clear errors."""
    from PIL import Image

    check_size(path)
    if raster_format(path) is None:
        raise ReaderError(path, "not a PNG, JPEG, GIF or BMP image (magic bytes do not match)")
    with reader_errors(path, "corrupt or truncated image header"):
        try:
            with pixel_limit():
                return Image.open(path)
        except Image.DecompressionBombError as exc:
            raise ReaderError(path, f"image too large to decode safely: {exc}") from exc


def png_header(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR chunk."""
    head = read_magic(path, 26)
    return (head[24], head[25]) if len(head) >= 26 else (0, 0)


def decode(path: Path, decoder: str) -> np.ndarray:
    """All pixels of ``path`` in file order (``y, x[, c]``), native byte order."""
    with reader_errors(path, "cannot decode pixels (truncated or corrupt?)"):
        if decoder == "libpng":
            import imagecodecs

            data = imagecodecs.png_decode(path.read_bytes())
        elif decoder in ("frames-RGB", "frames-RGBA"):
            data = _frames(path, decoder.split("-")[1])
        else:
            with open_image(path) as img:  # the size check happens in open only
                img.load()
                data = np.asarray(img)
    return data if data.dtype.isnative else data.astype(data.dtype.newbyteorder("="))


def _frames(path: Path, mode: str) -> np.ndarray:
    """Every frame of an animated image as the picture it shows (``t, y, x, c``)."""
    from PIL import ImageSequence

    with open_image(path) as img:
        return np.stack([np.asarray(f.convert(mode)) for f in ImageSequence.Iterator(img)])


class RasterBlocks:
    """The image as one block; decoding errors become ReaderError naming the file."""

    def __init__(self, path: Path, decoder: str, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.decoder = Path(path), decoder
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        data = decode(self.path, self.decoder)
        if data.shape != self.shape:
            raise ReaderError(
                self.path, f"decoded shape {data.shape} differs from header {self.shape}"
            )
        return data[index].astype(self.dtype, copy=False)


class RasterReader(Reader):
    """PNG, JPEG, GIF and BMP images: ``yx`` for grey, ``cyx`` for colour, ``tcyx`` for
    animated GIFs.

    >>> reader = RasterReader()
    >>> info = reader.describe(Source.single("mosaic.png"))  # doctest: +SKIP
    >>> info.axes, info.shape, info.channels                  # doctest: +SKIP
    ('cyx', (3, 27000, 32000), ['R', 'G', 'B'])
    >>> reader.open(Source.single("mosaic.png"))              # doctest: +SKIP
    """

    name: ClassVar[str] = "raster"
    description: ClassVar[str] = "PNG, JPEG, GIF and BMP images (Pillow)"
    url: ClassVar[str] = "https://pillow.readthedocs.io/"
    suffixes: ClassVar[tuple[str, ...]] = (
        ".png",
        ".jpeg",
        ".jpg",
        ".jpe",
        ".jfif",
        ".gif",
        ".bmp",
    )

    def guess_can_open(self, path: Path) -> bool:
        try:
            return raster_format(Path(path)) is not None
        except Exception:
            return False

    def describe(self, source: Source) -> ImageInfo:
        return inspect_image(Path(source.path))[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        path = Path(source.path)
        info, decoder, axes = inspect_image(path)
        level_of(info, level, path)
        order = canonical_order(axes)
        shape = tuple(info.shape[i] for i in np.argsort(order))  # file order: [t,] y, x[, c]
        blocks = RasterBlocks(path, decoder, shape, info.dtype)
        data = lazy_array(blocks, shape, dask_name("raster", path, decoder))
        return build_dataarray(data.transpose(order), info, name=source.display_name)


def inspect_image(path: Path) -> tuple[ImageInfo, str, str]:
    """Header metadata, the pixel decoder to use and the axes in file order (``yx[c]``)."""
    img = open_image(path)
    try:
        with reader_errors(path, "unreadable image header", with_type=True):
            return _describe(img, path)
    finally:
        img.close()


def _describe(img: PILImage.Image, path: Path) -> tuple[ImageInfo, str, str]:
    fmt = str(img.format)
    if img.mode not in MODES:
        raise ReaderError(path, f"unsupported {fmt} pixel mode {img.mode!r}")
    dtype, names = MODES[img.mode]
    decoder = "pillow"
    meta: dict[str, Any] = {"format": fmt, "mode": img.mode}
    if fmt == "PNG":
        depth, colour = png_header(path)
        meta.update(bit_depth=depth, colour_type=colour)
        if depth == 16 and colour in PNG16_COLOUR:
            dtype, names, decoder = "uint16", PNG16_COLOUR[colour], "libpng"
    width, height = img.size
    names = list(names)
    shape: tuple[int, ...]
    if len(names) > 1:
        shape, axes = (height, width, len(names)), "yxc"
    else:
        shape, axes = (height, width), "yx"
    frames = int(getattr(img, "n_frames", 1) or 1)
    if fmt == "GIF" and frames > 1:  # frames as shown: RGB(A), whatever each palette
        alpha = "transparency" in img.info or img.mode.endswith("A")
        names = ["R", "G", "B", "A"] if alpha else ["R", "G", "B"]
        dtype, decoder = "uint8", "frames-RGBA" if alpha else "frames-RGB"
        shape, axes = (frames, height, width, len(names)), "tyxc"
        if img.info.get("duration"):
            meta["frame_duration_ms"] = img.info["duration"]
    elif img.mode in ("P", "PA"):
        meta["palette"] = True  # values are palette indices (often labels)
    if frames > 1:
        meta["frames"] = frames  # other formats: only the first frame is read
    spacing: dict[str, float] = {}
    units: dict[str, str] = {}
    _resolution(img, fmt, spacing, units, meta)
    exif = _exif(img, fmt)
    text = {
        str(k): v
        for k, v in img.info.items()
        if k not in _BINARY_INFO and not str(k).startswith(("jfif", "dpi"))
    }
    meta["info"] = text
    if exif:
        meta["exif"] = exif
    meta["icc_profile"] = "icc_profile" in img.info
    acquired = _date(exif.get("DateTimeOriginal") or exif.get("DateTime"))
    acquired = acquired or _date(text.get("Creation Time"))
    instrument = " ".join(str(exif[k]).strip() for k in ("Make", "Model") if exif.get(k))
    order = canonical_order(axes)
    info = ImageInfo(
        shape=tuple(shape[i] for i in order),
        dtype=dtype,
        axes="".join(axes[i] for i in order),
        spacing=spacing,
        units=units,
        acquired=acquired,
        instrument=instrument or None,
        channels=names if len(names) > 1 else [],
        meta=jsonable(meta),
    )
    return info, decoder, axes


def _resolution(img: Any, fmt: str, spacing: dict, units: dict, meta: dict) -> None:
    """Pixel size from PNG pHYs / BMP header (pixels per metre) or JPEG per-cm density."""
    info = img.info
    if fmt in ("PNG", "BMP") and info.get("dpi"):
        ppm = tuple(round(float(d) / 0.0254) for d in info["dpi"])
        meta["pixels_per_metre"] = ppm
        if set(ppm) & DEFAULT_PPM:
            meta["resolution_ignored"] = "72 or 96 dpi: a screen default, not a pixel size"
            return
        for ax, n in zip("xy", ppm):
            spacing_entry(spacing, units, ax, 1.0 / n if n else None, "m")
    elif fmt == "JPEG":
        density = info.get("jfif_density")
        if info.get("jfif_unit") == 2 and density:
            for ax, n in zip("xy", density):
                spacing_entry(spacing, units, ax, 1.0 / n if n else None, "cm")
        elif info.get("jfif_unit") == 1 and density:
            meta["dpi"] = density


def _exif(img: Any, fmt: str) -> dict[str, Any]:
    """EXIF tags by name (main IFD and Exif sub-IFD), without loading pixels."""
    from PIL import ExifTags

    if fmt == "PNG" and "exif" not in img.info:
        return {}  # Pillow would decode the image to look for a late eXIf chunk
    try:
        exif = img.getexif()
        tags = dict(exif.items())
        tags.update(exif.get_ifd(ExifTags.IFD.Exif))
    except Exception:
        return {}
    return {ExifTags.TAGS.get(k, str(k)): v for k, v in tags.items() if k not in (0x927C, 0x8769)}


def _date(value: Any) -> dt.datetime | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS``, ISO 8601 or RFC 1123 (PNG Creation Time)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().rstrip("\x00")
    with contextlib.suppress(ValueError):
        return dt.datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    found = parse_datetime(text)
    if found is None:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            found = email.utils.parsedate_to_datetime(text)
    return found
