"""FITS images through astropy: primary arrays, IMAGE extensions and tile-compressed
images (RICE_1, GZIP_1/2, HCOMPRESS_1, PLIO_1 stored in BINTABLE extensions).

Detection and the file's layout come from a walk over the headers done here (2880-byte
blocks, seeking over the data, no astropy import): a file is claimed when it starts
with ``SIMPLE  =`` and holds an image HDU, or when its headers are cut short (so the
scan can say what is wrong). A valid FITS file of tables only is not an image: the
scanner lists it as a non-image file (:meth:`FitsReader.holds_no_image`).

The array is the primary HDU when it has data, else the first image HDU; every image
HDU is listed, and a file of several 2-D or larger images is a container (a Dataset).
Pixels are read per dask chunk through astropy's ``section`` (uncompressed and
tile-compressed HDUs alike), so ``BSCALE``/``BZERO``/``BLANK`` are applied exactly as
astropy applies them (int16 with ``BZERO = 32768`` reads as uint16). FITS stores
``NAXIS1`` fastest; arrays are in numpy order (``..., y, x``). Spacing comes from a
linear, unrotated WCS in length units (``CUNITn``); a celestial or spectral WCS stays
in ``meta["wcs"]``.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ReaderError
from .arrays import auto_chunks, check_size, dask_name, lazy_array, parse_datetime, positional_axes
from .base import (
    ArrayInfo,
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    canonical_order,
    info_attrs,
    jsonable,
    level_of,
    read_magic,
    reader_errors,
    spacing_entry,
)

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

BLOCK = 2880
CARD = 80
FITS_MAGIC = b"SIMPLE  ="
MAX_HDUS = 1000  # HDUs walked to find an image
MAX_HEADER_BLOCKS = 4096  # a header longer than 11.8 MB is not one
IMAGE_KINDS = ("image", "compressed")
#: CTYPE prefixes of axes that are not lengths in space (spectral, time, polarisation)
NOT_SPATIAL = (
    *("FREQ", "ENER", "WAVN", "VRAD", "WAVE", "VOPT", "ZOPT", "AWAV", "VELO", "BETA"),
    *("LAMBDA", "STOKES", "TIME", "UTC", "TAI", "TT", "MJD", "JD", "ANGLE"),
    *("RA", "DEC", "GLON", "GLAT", "ELON", "ELAT", "SLON", "SLAT", "HPLN", "HPLT"),
)
#: WCS keywords (an alternate WCS adds a letter: ``CTYPE1A``)
WCS_KEY = re.compile(
    r"^(WCSAXES|WCSNAME|RADESYS|EQUINOX|LONPOLE|LATPOLE|SPECSYS"
    r"|(CTYPE|CUNIT|CRVAL|CRPIX|CDELT|CROTA)\d+|(CD|PC|PV)\d+_\d+)[A-Z]?$"
)


@dataclasses.dataclass
class Hdu:
    """One header-data unit as the header walk found it."""

    index: int
    cards: dict[str, Any]  # the first value of each keyword (strings, ints, floats, bools)
    data_start: int
    data_bytes: int
    kind: str  # image | compressed | table | groups | empty
    shape: tuple[int, ...]  # numpy order (NAXISn first)
    raw: bytes = b""  # the header's blocks as read (parsed again by astropy, not re-read)

    @property
    def name(self) -> str:
        ext = self.cards.get("EXTNAME")
        return str(ext).strip() if ext else ("PRIMARY" if self.index == 0 else "")


def _value(text: str) -> Any:
    """A card's value: a string, logical, int or float (the comment dropped)."""
    text = text.strip()
    if text.startswith("'"):
        out, i = [], 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(text[i])
            i += 1
        return "".join(out).rstrip()
    token = text.split("/", 1)[0].strip()
    if token in ("T", "F"):
        return token == "T"
    for cast in (int, float):
        try:
            return cast(token)
        except ValueError:
            continue
    return token


def _read_header(fh: Any, start: int) -> tuple[dict[str, Any], int, bytes] | None:
    """The cards of the header at ``start``, where its data starts and the header's
    bytes; ``None`` at EOF. ``fh`` should be unbuffered: only the header is read."""
    cards: dict[str, Any] = {}
    blocks: list[bytes] = []
    fh.seek(start)
    for n in range(MAX_HEADER_BLOCKS):
        block = _read_exactly(fh, BLOCK)
        if n == 0 and not block:
            return None
        if len(block) < BLOCK:
            raise EOFError(f"header at byte {start} is cut short (no END card)")
        blocks.append(block)
        for i in range(0, BLOCK, CARD):
            card = block[i : i + CARD].decode("latin-1")
            key = card[:8].strip()
            if key == "END":
                return cards, start + (n + 1) * BLOCK, b"".join(blocks)
            if card[8:10] == "= " and key not in cards:
                cards[key] = _value(card[10:])
    raise ValueError(f"header at byte {start} has no END card in {MAX_HEADER_BLOCKS} blocks")


def _read_exactly(fh: Any, n: int) -> bytes:
    """``n`` bytes (fewer at the end of the file) from a possibly unbuffered file."""
    chunks: list[bytes] = []
    while n > 0:
        chunk = fh.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _axes_of(cards: dict[str, Any], prefix: str) -> tuple[int, ...]:
    n = int(cards.get(prefix, 0) or 0)
    return tuple(int(cards.get(f"{prefix}{i}", 0) or 0) for i in range(1, n + 1))


def _classify(index: int, cards: dict[str, Any]) -> tuple[str, tuple[int, ...]]:
    naxes = _axes_of(cards, "NAXIS")
    ext = str(cards.get("XTENSION", "")).strip().upper()
    if index == 0 and cards.get("GROUPS") is True:
        return "groups", ()
    if index == 0 or ext in ("IMAGE", "IUEIMAGE"):
        ok = bool(naxes) and min(naxes) > 0
        return ("image" if ok else "empty"), tuple(reversed(naxes)) if ok else ()
    if ext == "BINTABLE" and cards.get("ZIMAGE") is True:
        znaxes = _axes_of(cards, "ZNAXIS")
        ok = bool(znaxes) and min(znaxes) > 0
        return ("compressed" if ok else "empty"), tuple(reversed(znaxes)) if ok else ()
    return "table", ()


def walk_hdus(path: Path, limit: int = MAX_HDUS) -> tuple[list[Hdu], str | None]:
    """Every HDU of a FITS file (up to ``limit``) and what is wrong with it, if anything.

    >>> hdus, problem = walk_hdus(Path("m31.fits"))  # doctest: +SKIP
    >>> [(h.kind, h.shape) for h in hdus], problem    # doctest: +SKIP
    ([('image', (512, 512))], None)
    """
    size = path.stat().st_size
    hdus: list[Hdu] = []
    pos = 0
    with open(path, "rb", buffering=0) as fh:  # headers only: no read-ahead into pixels
        while len(hdus) < limit:
            if pos and (pos >= size or read_at(fh, pos, 9) != b"XTENSION="):
                break  # the end, or padding and trailing bytes astropy ignores too
            try:
                found = _read_header(fh, pos)
            except (EOFError, ValueError) as exc:
                return hdus, f"truncated or corrupt FITS header of HDU {len(hdus)}: {exc}"
            if found is None:
                break
            cards, data_start, raw = found
            bitpix = abs(int(cards.get("BITPIX", 8) or 8))
            naxes = _axes_of(cards, "NAXIS")
            if cards.get("GROUPS") is True:
                naxes = naxes[1:]
            count = int(np.prod(naxes, dtype=np.int64)) if naxes else 0
            count = (count + int(cards.get("PCOUNT", 0) or 0)) * int(cards.get("GCOUNT", 1) or 1)
            nbytes = count * bitpix // 8 if naxes else 0
            kind, shape = _classify(len(hdus), cards)
            hdus.append(Hdu(len(hdus), cards, data_start, nbytes, kind, shape, raw))
            if data_start + nbytes > size:
                return hdus, (
                    f"truncated file: the data of HDU {len(hdus) - 1} end at byte "
                    f"{data_start + nbytes}, the file has {size}"
                )
            pos = data_start + -(-nbytes // BLOCK) * BLOCK
    return hdus, None


def read_at(fh: Any, pos: int, n: int) -> bytes:
    fh.seek(pos)
    return _read_exactly(fh, n)


def is_fits(path: Path) -> bool:
    return read_magic(path, len(FITS_MAGIC)) == FITS_MAGIC


class FitsBlocks:
    """Blocks of one image HDU through astropy's ``section`` (opened per read)."""

    def __init__(self, path: Path, index: int, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.index = Path(path), index
        self.shape, self.ndim, self.dtype = tuple(shape), len(shape), np.dtype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        from astropy.io import fits

        failed = f"cannot read FITS HDU {self.index} (truncated or corrupt?)"
        with reader_errors(self.path, failed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(self.path, memmap=False, lazy_load_hdus=True) as hdul:
                return np.array(hdul[self.index].section[key], dtype=self.dtype)


@dataclasses.dataclass
class _Plan:
    info: ImageInfo
    primary: str
    arrays: dict[str, tuple[int, tuple[int, ...], np.dtype, tuple[int, ...] | None]]
    axes: str  # the primary's axes in numpy order


def _headers(path: Path) -> tuple[bool, bool] | None:
    """``(holds an image HDU, headers cut short)`` of a FITS file, ``None`` for any
    other file (detection never raises)."""
    try:
        path = Path(path)
        if not is_fits(path):
            return None
        hdus, problem = walk_hdus(path)
    except Exception:
        return None
    return any(h.kind in IMAGE_KINDS for h in hdus), problem is not None


class FitsReader(Reader):
    """FITS images, uncompressed or tile-compressed, via astropy, lazily.

    >>> reader = FitsReader()
    >>> info = reader.describe(Source.single("m51.fits.fz"))  # doctest: +SKIP
    >>> info.shape, info.meta["hdus"][1]["compression"]       # doctest: +SKIP
    ((1024, 1024), 'RICE_1')
    """

    name: ClassVar[str] = "fits"
    description: ClassVar[str] = "FITS images, incl. tile-compressed (RICE_1, GZIP, HCOMPRESS)"
    url: ClassVar[str] = "https://docs.astropy.org/en/stable/io/fits/"
    suffixes: ClassVar[tuple[str, ...]] = (".fits.fz", ".fits", ".fit", ".fts", ".fz")

    def guess_can_open(self, path: Path) -> bool:
        """FITS magic, and an image HDU (or headers cut short, to report them)."""
        found = _headers(path)
        return found is not None and (found[1] or found[0])

    def holds_no_image(self, path: Path) -> bool:
        """A complete FITS file of tables or empty HDUs only: not an image dataset."""
        found = _headers(path)
        return found is not None and not (found[1] or found[0])

    def describe(self, source: Source) -> ImageInfo:
        return self._plan(Path(source.path)).info

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray | xr.Dataset:
        import xarray as xr

        path = Path(source.path)
        plan = self._plan(path)
        info = plan.info
        level_of(info, level, path)
        order = canonical_order(plan.axes)
        data: dict[str, Any] = {}
        for name, (index, shape, dtype, tiles) in plan.arrays.items():
            blocks = FitsBlocks(path, index, shape, dtype)
            chunks = auto_chunks(shape, blocks.dtype.itemsize, tiles)
            data[name] = lazy_array(blocks, chunks, dask_name("fits", path, index, shape))
        primary = build_dataarray(
            data[plan.primary].transpose(order), info, level=level, name=plan.primary
        )
        if info.kind == "image":
            return primary
        variables: dict[str, Any] = {plan.primary: primary}
        base_shape = plan.arrays[plan.primary][1]
        for name, arr in data.items():
            if name == plan.primary:
                continue
            if arr.shape == base_shape:  # SCI / ERR / DQ planes share the image's grid
                variables[name] = xr.DataArray(
                    arr.transpose(order), dims=primary.dims, coords=primary.coords, name=name
                )
            else:
                dims = tuple(f"{name}_dim{i}" for i in range(arr.ndim))
                variables[name] = xr.DataArray(arr, dims=dims, name=name)
        attrs = info_attrs(info)
        attrs["primary"] = plan.primary
        return xr.Dataset(variables, attrs=attrs)

    # -- inspection ------------------------------------------------------------------
    def _plan(self, path: Path) -> _Plan:
        check_size(path)
        if not is_fits(path):
            raise ReaderError(path, "not a FITS file (no 'SIMPLE  =' at byte 0)")
        try:
            hdus, problem = walk_hdus(path)
        except OSError as exc:
            raise ReaderError(path, f"cannot read file: {exc.strerror or exc}") from exc
        if problem:
            raise ReaderError(path, problem)
        images = [h for h in hdus if h.kind in IMAGE_KINDS]
        if not images:
            kinds = ", ".join(f"{h.index}: {h.kind}" for h in hdus[:8])
            raise ReaderError(path, f"no image in this FITS file (HDUs {kinds})")
        with reader_errors(path, "invalid FITS file", with_type=True):
            return self._build(path, hdus, images)

    def _build(self, path: Path, hdus: list[Hdu], images: list[Hdu]) -> _Plan:
        """The plan from the headers the walk read: astropy parses them again from those
        bytes; it opens the file only for tile-compressed HDUs (their image header and
        dtype come from the compression cards), reading their headers and a corner tile."""
        from astropy.io import fits

        names = _unique_names(images)
        caught: list[str] = []
        first = next((h for h in images if h.index == 0), images[0])
        arrays: dict[str, tuple[int, tuple[int, ...], np.dtype, Any]] = {}
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            wanted = {0, *(h.index for h in images)}  # the images and the primary
            headers = {h.index: fits.Header.fromstring(h.raw) for h in hdus if h.index in wanted}
            for h in images:
                if h.kind == "image":
                    dtype = _image_dtype(headers[h.index])
                    arrays[names[h.index]] = (h.index, h.shape, dtype, None)
            compressed = [h for h in images if h.kind != "image"]
            if compressed:
                with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                    for h in compressed:
                        hdu = hdul[h.index]
                        shape = tuple(int(n) for n in hdu.shape)
                        if shape != h.shape:
                            raise ReaderError(path, f"HDU {h.index}: shape {shape} != {h.shape}")
                        corner = np.asarray(hdu.section[tuple(slice(0, 1) for _ in shape)])
                        dtype = corner.dtype.newbyteorder("=")
                        arrays[names[h.index]] = (h.index, shape, dtype, _tiles(h))
                        headers[h.index] = hdu.header
            arrays = {names[h.index]: arrays[names[h.index]] for h in images}  # HDU order
            header = _cards(headers[first.index])
            primary_header = _cards(headers[0]) if first.index != 0 else None
            caught = sorted({f"{path.name}: {w.message}" for w in seen})[:5]
        primary = names[first.index]
        _, shape, dtype, _ = arrays[primary]
        axes = positional_axes(shape, dtype)
        spacing, units, origin, wcs = _geometry(header, axes)
        big = [n for n, a in arrays.items() if len(a[1]) >= 2]
        container = len(big) > 1
        if not container:
            arrays = {primary: arrays[primary]}
        both = {**(primary_header or {}), **header}
        meta: dict[str, Any] = {
            "format": "FITS",
            "hdus": [_summary(h, names.get(h.index)) for h in hdus[:64]],
            "header": header,
            "wcs": wcs,
        }
        if primary_header is not None:
            meta["primary_header"] = primary_header
        if len(hdus) > 64:
            meta["n_hdus"] = len(hdus)
        instrument = " ".join(
            dict.fromkeys(str(both[k]).strip() for k in ("TELESCOP", "INSTRUME") if both.get(k))
        )
        acquired = parse_datetime(both.get("DATE-OBS"))
        if acquired and "T" not in str(both.get("DATE-OBS")) and both.get("TIME-OBS"):
            acquired = parse_datetime(f"{both['DATE-OBS']}T{both['TIME-OBS']}") or acquired
        order = canonical_order(axes)
        info = ImageInfo(
            shape=tuple(shape[i] for i in order),
            dtype=str(dtype),
            axes="".join(axes[i] for i in order),
            kind="container" if container else "image",
            spacing=spacing,
            units=units,
            origin=origin,
            instrument=instrument or None,
            acquired=acquired,
            arrays={
                n: ArrayInfo(
                    shape=a[1],
                    dtype=str(a[2]),
                    dims=tuple(sorted(axes, key="tczyx".index))
                    if a[1] == shape
                    else tuple(f"{n}_dim{i}" for i in range(len(a[1]))),
                )
                for n, a in arrays.items()
            }
            if container
            else {},
            primary=primary,
            meta=jsonable(meta),
            warnings=caught,
        )
        return _Plan(info=info, primary=primary, arrays=arrays, axes=axes)


#: numpy dtypes of the FITS ``BITPIX`` values
BITPIX_DTYPES = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}


def _image_dtype(header: Any) -> np.dtype:
    """The dtype astropy gives an uncompressed image HDU's pixels (``section``), from
    its header: ``BZERO``/``BSCALE``/``BLANK`` scaling as astropy's ``ImageHDU``
    applies it (unsigned integers for the ``BZERO = 2**(bits-1)`` convention).

    >>> from astropy.io import fits
    >>> _image_dtype(fits.Header({"BITPIX": 16, "BZERO": 32768}))
    dtype('uint16')
    """
    bitpix = int(header["BITPIX"])
    raw = np.dtype(BITPIX_DTYPES[bitpix])
    bscale, bzero = header.get("BSCALE", 1), header.get("BZERO", 0)
    blank = header.get("BLANK") if bitpix > 0 else None
    if bscale == 1 and bzero == 0 and blank is None:
        return raw
    if bscale == 1:
        if bitpix == 8 and bzero == -128:
            return np.dtype("i1")
        if bitpix in (16, 32, 64) and bzero == 1 << (bitpix - 1):
            return np.dtype(f"u{bitpix // 8}")
    if bitpix > 16:
        return np.dtype("f8")
    if bitpix > 0:
        return np.dtype("f4")
    return raw


def _unique_names(images: list[Hdu]) -> dict[int, str]:
    """HDU index -> a name for the array: EXTNAME (or PRIMARY / HDUn); a name several
    HDUs share gets their EXTVER (``SCI_2``), or their HDU index when EXTVER repeats."""
    base = {h.index: h.name or f"HDU{h.index}" for h in images}
    extver = {h.index: h.cards.get("EXTVER") for h in images}
    out: dict[int, str] = {}
    for name in set(base.values()):
        members = [i for i, n in base.items() if n == name]
        if len(members) == 1:
            out[members[0]] = name
            continue
        vers = [extver[i] for i in members]
        use_ver = all(isinstance(v, int) for v in vers) and len(set(vers)) == len(vers)
        for i, v in zip(members, vers):
            out[i] = f"{name}_{v if use_ver else i}"
    return out


def _tiles(h: Hdu) -> tuple[int, ...] | None:
    """The compression tile shape in numpy order (rows of the image by default)."""
    if h.kind != "compressed":
        return None
    n = len(h.shape)
    tiles = [int(h.cards.get(f"ZTILE{i}", 0) or 0) for i in range(1, n + 1)]
    if not any(tiles):
        tiles = [h.shape[-1]] + [1] * (n - 1)
    return tuple(reversed([t or 1 for t in tiles]))


def _summary(h: Hdu, name: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"index": h.index, "name": name or h.name, "kind": h.kind}
    if h.shape:
        out["shape"] = list(h.shape)
    c = h.cards
    out["bitpix"] = (
        c.get("ZBITPIX", c.get("BITPIX")) if h.kind == "compressed" else c.get("BITPIX")
    )
    if h.kind == "compressed":
        out["compression"] = c.get("ZCMPTYPE")
    if h.kind == "table":
        out["xtension"] = c.get("XTENSION")
        out["rows"] = int(c.get("NAXIS2", 0) or 0)
    return out


def _cards(header: Any) -> dict[str, Any]:
    """An astropy Header as a dict: the first value of each keyword; COMMENT and
    HISTORY as lists of lines."""
    out: dict[str, Any] = {}
    for card in header.cards:
        key = card.keyword
        if key in ("COMMENT", "HISTORY"):
            out.setdefault(key, []).append(str(card.value))
        elif key and key not in out:
            value = card.value
            out[key] = None if type(value).__name__ == "Undefined" else value
    return out


def _linear_spatial(ctype: str) -> bool:
    """A linear axis in space: no celestial projection code, not spectral/time/Stokes."""
    ctype = ctype.strip().upper()
    if len(ctype) >= 5 and ctype[4] == "-":  # 'RA---TAN', 'GLON-CAR', 'FREQ-LSR'
        return False
    return not ctype.startswith(NOT_SPATIAL)


def _geometry(
    header: dict[str, Any], axes: str
) -> tuple[dict[str, float], dict[str, str], dict[str, float], dict[str, Any]]:
    """Spacing, units and origin from a linear, unrotated WCS; and the WCS cards."""
    wcs = {k: v for k, v in header.items() if WCS_KEY.match(k)}
    spacing: dict[str, float] = {}
    units: dict[str, str] = {}
    origin: dict[str, float] = {}
    n = len(axes)
    for i in range(1, n + 1):  # FITS axis i is numpy axis n - i
        axis = axes[n - i]
        if axis not in "zyx" or not _linear_spatial(str(header.get(f"CTYPE{i}", ""))):
            continue
        rotated = any(
            header.get(f"CD{i}_{j}", 0)
            or header.get(f"PC{i}_{j}", 0)
            or header.get(f"CD{j}_{i}", 0)
            or header.get(f"PC{j}_{i}", 0)
            for j in range(1, n + 1)
            if j != i
        )
        if rotated or header.get(f"CROTA{i}", 0):
            continue
        if f"CD{i}_{i}" in header:
            step = float(header[f"CD{i}_{i}"])
        else:
            step = float(header.get(f"CDELT{i}", 1.0)) * float(header.get(f"PC{i}_{i}", 1.0))
        if not step:
            continue
        spacing_entry(spacing, units, axis, abs(step), header.get(f"CUNIT{i}"))
        if axis in spacing and step > 0:  # a flipped axis keeps no origin
            start = float(header.get(f"CRVAL{i}", 0.0)) + step * (
                1.0 - float(header.get(f"CRPIX{i}", 1.0))
            )
            if start:
                origin[axis] = start
    return spacing, units, origin, wcs
