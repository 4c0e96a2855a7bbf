"""A field corpus: files that imaging libraries ship in their wheels (and a few that
their own writers make), each with what *that* library reports about it.

Every oracle asks only the file's own library (pydicom, nibabel, astropy, PIL,
tifffile, ome-zarr-py) and returns an :class:`Expect`: an image with its shape, dtype
and voxel spacing; a file the library reads that holds no image (a DICOM RT plan, a
FITS table); or a file the library cannot read (with its error). voxcat's index must
agree: the same shape (up to axis order and length-1 axes, which formats spell
differently), dtype and spacing, or ``failed`` where the library fails too.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

IMAGE, NOT_IMAGE, UNREADABLE = "image", "not an image", "unreadable"


@dataclasses.dataclass
class Expect:
    """What the file's own library says."""

    kind: str
    shape: tuple[int, ...] = ()
    dtype: str | tuple[str, ...] = ""  # one, or the types that hold the values exactly
    spacing: dict[str, float] = dataclasses.field(default_factory=dict)  # axis -> metres
    cause: str = ""

    def dims(self) -> list[int]:
        return sorted(n for n in self.shape if n != 1)


@dataclasses.dataclass
class Item:
    """One corpus file (or folder) and its oracle."""

    library: str
    path: Path
    oracle: Callable[[Path], Expect]

    @property
    def label(self) -> str:
        return f"{self.library}:{self.path.name}"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    return Path(spec.origin).parent


def _safe(oracle: Callable[[Path], Expect]) -> Callable[[Path], Expect]:
    def run(path: Path) -> Expect:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return oracle(path)
        except Exception as exc:  # the library itself cannot read the file
            return Expect(UNREADABLE, cause=f"{type(exc).__name__}: {exc}")

    return run


# --- pydicom --------------------------------------------------------------------------


def dicom_oracle(path: Path) -> Expect:
    import pydicom

    ds = pydicom.dcmread(path, force=True)  # also files without the DICOM preamble
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return Expect(NOT_IMAGE)
    from pydicom.pixels import apply_modality_lut

    try:
        arr = ds.pixel_array
    except Exception as exc:
        try:  # pydicom's plugins fail: the codec library itself
            arr = _codestream(ds)
        except Exception:
            raise exc from None
    dtype: str | tuple[str, ...] = arr.dtype.name
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        # the modality LUT (Hounsfield units, dose), which voxcat applies: pydicom gives
        # float64; any type that holds the rescaled values exactly agrees
        values = apply_modality_lut(arr, ds)
        if not np.array_equal(values, arr):
            dtype = tuple(
                t
                for t in ("int16", "int32", "float32", "float64")
                if np.array_equal(values.astype(t).astype(np.float64), values)
            )
    spacing = {}
    ps = getattr(ds, "PixelSpacing", None)
    if ps is not None and len(ps) == 2 and float(ps[0]) > 0 and float(ps[1]) > 0:
        spacing = {"y": float(ps[0]) * 1e-3, "x": float(ps[1]) * 1e-3}
    return Expect(IMAGE, tuple(arr.shape), dtype, spacing)


def _codestream(ds: Any) -> np.ndarray:
    """The frames of an encapsulated JPEG-family image decoded by the codec library
    (libjpeg-turbo, CharLS, OpenJPEG through imagecodecs), for files whose codestream
    pydicom's plugins reject (a 12-bit JPEG with a non-conformant scan header)."""
    import imagecodecs
    from pydicom.encaps import generate_frames

    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        raise ValueError("not compressed")
    frames = int(ds.get("NumberOfFrames") or 1)
    decoded = [
        imagecodecs.imread(f) for f in generate_frames(ds.PixelData, number_of_frames=frames)
    ]
    arr = np.stack(decoded) if frames > 1 else decoded[0]
    if arr.dtype.itemsize < (int(ds.BitsAllocated) + 7) // 8:
        arr = arr.astype(f"u{(int(ds.BitsAllocated) + 7) // 8}")
    return arr


def dicom_items() -> Iterator[Item]:
    folder = _package_dir("pydicom.data") / "test_files"
    for path in sorted(folder.glob("*.dcm")):
        yield Item("pydicom", path, _safe(dicom_oracle))


# --- nibabel --------------------------------------------------------------------------

NIBABEL_SUFFIXES = (".nii", ".nii.gz", ".img", ".mnc", ".mgh", ".mgz", ".PAR", ".v", ".HEAD")


def nibabel_oracle(path: Path) -> Expect:
    import nibabel as nib

    img = nib.ecat.load(path) if path.suffix == ".v" else nib.load(path)
    shape = tuple(int(n) for n in img.shape)
    # the type of the values nibabel reads (scaled where the file says so)
    dtype = np.asarray(img.dataobj[tuple(slice(0, 1) for _ in shape)]).dtype
    try:
        zooms = [float(z) for z in img.header.get_zooms()[:3]]
    except Exception:  # ECAT keeps its voxel sizes in the affine only
        zooms = [float(z) for z in nib.affines.voxel_sizes(img.affine)[:3]]
    # each voxel axis is named by the world axis (RAS) it runs along most: the first
    # axis of a NIfTI is x, of a MINC file (zspace, yspace, xspace) z
    names = ["xyz"[int(np.argmax(np.abs(img.affine[:3, i])))] for i in range(len(zooms))]
    spacing = {a: z * 1e-3 for a, z in zip(names, zooms) if z > 0}
    return Expect(IMAGE, shape, dtype.name, spacing)


def nibabel_items() -> Iterator[Item]:
    folder = _package_dir("nibabel") / "tests" / "data"
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.endswith(NIBABEL_SUFFIXES) or name.endswith((".BRIK.gz", ".mnc.gz")):
            if name.endswith(".img") and not path.with_suffix(".hdr").exists():
                continue
            if name.endswith((".BRIK.gz", ".REC")):
                continue  # the data half of a pair, opened through its header
            yield Item("nibabel", path, _safe(nibabel_oracle))


# --- astropy (FITS) -------------------------------------------------------------------


def fits_oracle(path: Path) -> Expect:
    from astropy.io import fits

    with fits.open(path) as hdus:
        images = [
            h
            for h in hdus
            if isinstance(h, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU)
            and h.header.get("NAXIS", 0) > 0
            and all(h.header.get(f"NAXIS{i}", 0) > 0 for i in range(1, h.header["NAXIS"] + 1))
        ]
        if not images:
            return Expect(NOT_IMAGE)
        big = max(images, key=lambda h: int(np.prod(h.shape)))
        data = big.data
        return Expect(IMAGE, tuple(data.shape), data.dtype.newbyteorder("=").name)


def fits_items() -> Iterator[Item]:
    folder = _package_dir("astropy.io.fits") / "tests" / "data"
    for path in sorted(folder.glob("*.fits")):
        yield Item("astropy", path, _safe(fits_oracle))


# --- scikit-image's data folder (PIL and tifffile) --------------------------------------


def png_oracle(path: Path) -> Expect:
    """libpng (through imagecodecs), which keeps 16-bit colour that PIL reduces to 8."""
    import imagecodecs

    arr = imagecodecs.png_decode(path.read_bytes())
    return Expect(IMAGE, tuple(arr.shape), arr.dtype.name)


def imageio_oracle(path: Path) -> Expect:
    """imageio, as ``skimage.io.imread`` reads (an animated GIF: its frames as shown)."""
    import imageio.v3 as iio

    arr = iio.imread(path, index=None)
    return Expect(IMAGE, tuple(arr.shape), arr.dtype.name)


def pil_oracle(path: Path) -> Expect:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im)
        frames = getattr(im, "n_frames", 1)
    shape = tuple(arr.shape) if frames == 1 else (frames, *arr.shape)
    return Expect(IMAGE, shape, arr.dtype.name)


def tiff_oracle(path: Path) -> Expect:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        spacing = {}
        page = tif.pages.first
        res = page.tags.get("XResolution")
        unit = page.tags.get("ResolutionUnit")
        if res is not None and unit is not None and int(unit.value) in (2, 3):
            per = {2: 0.0254, 3: 0.01}[int(unit.value)]
            num, den = res.value
            # 72 or 96 pixels per inch is a screen default, not a pixel size
            if num and not (int(unit.value) == 2 and num / den in (72, 96)):
                spacing["x"] = per * den / num
        return Expect(IMAGE, tuple(series.shape), np.dtype(series.dtype).name, spacing)


def skimage_items() -> Iterator[Item]:
    folder = _package_dir("skimage.data")
    for path in sorted(folder.iterdir()):
        if path.suffix == ".png":
            yield Item("scikit-image", path, _safe(png_oracle))
        elif path.suffix == ".jpg":
            yield Item("scikit-image", path, _safe(pil_oracle))
        elif path.suffix == ".gif":
            yield Item("scikit-image", path, _safe(imageio_oracle))
        elif path.suffix == ".tif":
            yield Item("scikit-image", path, _safe(tiff_oracle))


# --- written by the libraries themselves: tifffile pyramids, ome-zarr-py NGFF ---------


def write_tiff_pyramid(path: Path, rng: np.random.Generator) -> None:
    """An OME-TIFF pyramid (sub-IFDs), as tifffile's docs write one, 0.25 um pixels."""
    import tifffile

    data = rng.integers(0, 4000, (3, 512, 640), dtype=np.uint16)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        options = {"tile": (128, 128), "compression": "zlib", "photometric": "minisblack"}
        meta = {"axes": "CYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25}
        tif.write(
            data,
            subifds=2,
            resolution=(1e4 / 0.25, 1e4 / 0.25),
            resolutionunit="CENTIMETER",
            metadata=meta,
            **options,
        )
        for level in (1, 2):
            f = 2**level
            tif.write(data[:, ::f, ::f], subfiletype=1, **options)


def tiff_pyramid_oracle(path: Path) -> Expect:
    expect = tiff_oracle(path)
    import tifffile

    with tifffile.TiffFile(path) as tif:
        levels = [tuple(lv.shape) for lv in tif.series[0].levels]
    expect.spacing = {"x": 0.25e-6, "y": 0.25e-6}
    assert len(levels) == 3, levels
    return expect


def write_ngff(path: Path, rng: np.random.Generator, version: str) -> None:
    """An NGFF image written by ome-zarr-py: 0.4 (Zarr v2) or 0.5 (Zarr v3)."""
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    fmt = FormatV04() if version == "0.4" else FormatV05()
    data = rng.integers(0, 255, (2, 16, 128, 160), dtype=np.uint8)
    group = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    write_image(
        data,
        group=group,
        axes="czyx",
        fmt=fmt,
        scale_factors=[{"y": 2, "x": 2}, {"y": 4, "x": 4}],
        scale={"z": 2.0, "y": 0.5, "x": 0.5},
        axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
    )


def ngff_oracle(path: Path) -> Expect:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    node = next(iter(Reader(parse_url(str(path)))()))
    level0 = node.data[0]
    ms = node.metadata
    axes = ms["axes"]
    scale = ms["coordinateTransformations"][0][0]["scale"]
    per = {"micrometer": 1e-6, "nanometer": 1e-9, "millimeter": 1e-3}
    spacing = {a["name"]: s * per[a["unit"]] for a, s in zip(axes, scale) if a.get("unit") in per}
    return Expect(IMAGE, tuple(level0.shape), np.dtype(level0.dtype).name, spacing)


def written_items(folder: Path, rng: np.random.Generator) -> Iterator[Item]:
    pyramid = folder / "pyramid.ome.tif"
    write_tiff_pyramid(pyramid, rng)
    yield Item("tifffile", pyramid, _safe(tiff_pyramid_oracle))
    for version in ("0.4", "0.5"):
        store = folder / f"ngff_{version.replace('.', '')}.ome.zarr"
        write_ngff(store, rng, version)
        yield Item("ome-zarr-py", store, _safe(ngff_oracle))


def shipped_items() -> list[Item]:
    """Every corpus file the installed libraries ship."""
    return [*dicom_items(), *nibabel_items(), *fits_items(), *skimage_items()]


def lay_out(items: list[Item], drive: Path) -> dict[Path, Item]:
    """Copy each item (with its companion files) into a folder of its own under
    ``drive``, so no two library files are grouped into one dataset; returns the
    copy's path -> item."""
    out: dict[Path, Item] = {}
    for n, item in enumerate(items):
        folder = drive / f"{n:03d}_{item.library}"
        folder.mkdir(parents=True)
        src = item.path
        if src.is_dir():
            target = folder / src.name
            shutil.copytree(src, target)
        else:
            target = folder / src.name
            shutil.copyfile(src, target)
            for companion in _companions(src):
                shutil.copyfile(companion, folder / companion.name)
        out[target] = item
    return out


def _companions(path: Path) -> list[Path]:
    name = path.name
    pairs = {
        ".hdr": [".img"],
        ".img": [".hdr"],
        ".PAR": [".REC"],
        ".HEAD": [".BRIK", ".BRIK.gz"],
    }
    out = []
    for suffix, others in pairs.items():
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            out += [path.with_name(stem + o) for o in others if path.with_name(stem + o).exists()]
    return out


# --- comparing voxcat's index with the oracles ----------------------------------------


@dataclasses.dataclass
class Verdict:
    item: Item
    expect: Expect
    got: str  # what voxcat recorded, in a few words
    agrees: bool


def _row_for(con, path: Path):
    from catalog.paths import to_db

    cols = "d.kind, d.status, d.shape, d.dtype, d.axes, d.spacing, d.error, d.reader"
    row = con.execute(f"SELECT {cols} FROM datasets d WHERE d.path = ?", [to_db(path)]).fetchone()
    if row is None:
        row = con.execute(
            f"SELECT {cols} FROM files f JOIN datasets d ON d.id = f.dataset_id WHERE f.path = ?",
            [to_db(path)],
        ).fetchone()
    return row


def judge(index: Path, layout: dict[Path, Item]) -> list[Verdict]:
    """Compare each laid-out file's index row with its oracle."""
    import duckdb

    out = []
    con = duckdb.connect(str(index), read_only=True)
    try:
        for path, item in layout.items():
            expect = item.oracle(path)
            row = _row_for(con, path)
            if row is None:
                out.append(Verdict(item, expect, "not in the index", False))
                continue
            kind, status, shape, dtype, axes, spacing, error, reader = row
            ok_types = (expect.dtype,) if isinstance(expect.dtype, str) else expect.dtype
            if status == "failed":
                got = f"failed ({reader}): {error}"
                agrees = expect.kind in (UNREADABLE, NOT_IMAGE)
            elif kind == "file":
                got = "other file"
                agrees = expect.kind == NOT_IMAGE
            else:
                sp = dict(zip(axes or "", spacing or []))
                got = f"{reader} {tuple(shape or ())} {dtype} {axes} " + ", ".join(
                    f"{a}={v:.4g}" for a, v in sp.items() if v
                )
                agrees = (
                    expect.kind == IMAGE
                    and sorted(n for n in (shape or ()) if n != 1) == expect.dims()
                    and dtype in ok_types
                    and all(
                        sp.get(a) is not None and np.isclose(sp[a], v, rtol=1e-6)
                        for a, v in expect.spacing.items()
                    )
                )
            out.append(Verdict(item, expect, got, agrees))
    finally:
        con.close()
    return out


def run(work: Path, *, jobs: int = 2) -> list[Verdict]:
    """Lay the corpus out under ``work``, scan it with voxcat and judge every file."""
    from catalog import scan

    rng = np.random.default_rng(20261204)
    drive = work / "drive"
    written = work / "written"
    written.mkdir(parents=True)
    items = [*shipped_items(), *written_items(written, rng)]
    layout = lay_out(items, drive)
    index = work / "corpus.duckdb"
    scan(drive, index, jobs=jobs, progress=False)
    return judge(index, layout)


def ratio(verdicts: list[Verdict]) -> tuple[int, int]:
    """(agreeing, total) over the files their own library reads as images."""
    readable = [v for v in verdicts if v.expect.kind == IMAGE]
    return sum(v.agrees for v in readable), len(readable)


def table(verdicts: list[Verdict]) -> str:
    lines = []
    for v in verdicts:
        e = v.expect
        said = (
            f"{e.shape} {e.dtype} " + ", ".join(f"{a}={s:.4g}" for a, s in e.spacing.items())
            if e.kind == IMAGE
            else f"{e.kind} {e.cause[:80]}"
        )
        mark = "ok  " if v.agrees else "DIFF"
        lines.append(f"{mark} {v.item.label:55} library: {said:45} voxcat: {v.got[:110]}")
    good, total = ratio(verdicts)
    lines.append(f"{good}/{total} readable files agree ({100 * good / max(total, 1):.1f} %)")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m tests.corpus: the whole table
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(table(run(Path(tmp))))
