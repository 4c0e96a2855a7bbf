"""NIfTI-1 and NIfTI-2 through nibabel: ``.nii``, ``.nii.gz`` and ``.hdr``/``.img`` pairs.

NIfTI stores ``x, y, z, t, u`` with ``x`` varying fastest; the reader presents them as
``t c z y x`` (a transposed dask array over nibabel's ``ArrayProxy``: z slabs for
uncompressed files, one chunk for gzip). ``scl_slope``/``scl_inter`` are applied as
nibabel applies them. Extensions are listed by code and size only: a DICOM extension
can carry patient data.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..confine import sidecar_problem
from ..errors import ReaderError
from .arrays import auto_chunks, check_size, dask_name, lazy_array
from .base import (
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    canonical_order,
    has_suffix,
    jsonable,
    level_of,
    read_magic,
    reader_errors,
    spacing_entry,
)

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

NIFTI1_MAGICS = (b"n+1\x00", b"ni1\x00")
NIFTI2_MAGICS = (b"n+2\x00\r\n\x1a\n", b"ni2\x00\r\n\x1a\n")
GZIP_MAGIC = b"\x1f\x8b"
PAIR_SUFFIXES = (".img.gz", ".img")
#: nibabel's names of ``xyzt_units`` -> our length units.
SPACE_UNITS = {"meter": "m", "mm": "mm", "micron": "µm"}
FILE_AXES = "xyztc"  # NIfTI dim[1..5]


def nifti_version(head: bytes) -> int | None:
    """1 or 2 from the first 548 bytes of a (decompressed) header, else None."""
    if len(head) < 12:
        return None
    sizes = (struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0])
    if len(head) >= 348 and head[344:348] in NIFTI1_MAGICS and 348 in sizes:
        return 1
    if head[4:12] in NIFTI2_MAGICS and 540 in sizes:
        return 2
    return None


def header_bytes(path: Path) -> bytes:
    """The first 548 header bytes, decompressed for ``.gz`` files; ``b""`` on failure."""
    head = read_magic(path, 548)
    if head[:2] == GZIP_MAGIC and has_suffix(path, (".nii.gz", ".hdr.gz")):
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(548)
        except Exception:  # BadGzipFile, EOFError, zlib.error
            return b""
    return head


def f32(value: Any) -> float:
    """A float32 header value as the decimal it was written from (``0.8``, not 0.800000012)."""
    return float(f"{float(value):.7g}")


def voxel_geometry(
    affine: Any, axes: str, zooms: Sequence[float], unit: str | Mapping[str, str]
) -> tuple[dict[str, float], dict[str, str], dict[str, float]]:
    """Spacing (metres), units and origin of the spatial axes of a nibabel image.

    ``axes`` names every voxel axis in the file's order (``"xyzt"`` for NIfTI, ``"tzyx"``
    for a MINC file stored time first), ``zooms`` gives one voxel size per axis and
    ``unit`` the length unit (one for all, or one per axis letter). The affine's columns
    belong to the spatial axes in the order they occur in ``axes``; the origin (in the
    file's unit) is kept only when every spatial axis runs along its own world axis in
    the positive direction, and only where it is not zero.

    >>> voxel_geometry(np.diag([2.0, 2.0, 3.0, 1.0]), "xyz", [2.0, 2.0, 3.0], "mm")[0]
    {'x': 0.002, 'y': 0.002, 'z': 0.003}
    """
    spacing: dict[str, float] = {}
    units: dict[str, str] = {}
    for axis, zoom in zip(axes, zooms):
        if axis in "xyz":
            u = unit if isinstance(unit, str) else unit.get(axis, "mm")
            spacing_entry(spacing, units, axis, zoom, u)
    spatial = [a for a in axes if a in "xyz"]
    aff = np.asarray(affine, dtype=float)
    rows = ["xyz".index(a) for a in spatial]
    aligned = aff.shape[1] > len(spatial) and all(
        aff[w, j] > 0 and all(abs(aff[r, j]) <= 1e-8 for r in rows if r != w)
        for j, w in enumerate(rows)
    )
    origin: dict[str, float] = {}
    if aligned:
        for a, w in zip(spatial, rows):
            value = float(aff[w, -1])
            if value and a in spacing:
                origin[a] = value
    return spacing, units, origin


class NiftiBlocks:
    """Blocks of the image in file axis order (``x y z t u``), reloading per read."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.shape, self.ndim = Path(path), tuple(shape), len(shape)
        self.dtype = np.dtype(dtype)

    def __getitem__(self, index: Any) -> np.ndarray:
        import nibabel as nib

        with reader_errors(self.path, "cannot read NIfTI pixel data (truncated or corrupt?)"):
            image = nib.load(str(self.path))
            if not isinstance(image, nib.dataobj_images.DataobjImage):
                raise ReaderError(self.path, f"not a NIfTI image ({type(image).__name__})")
            proxy = image.dataobj
            index = index if isinstance(index, tuple) else (index,)
            extra = (0,) * (len(proxy.shape) - self.ndim)  # trailing dims of size 1
            return np.asarray(proxy[(*index, *extra)]).astype(self.dtype, copy=False)


class NiftiReader(Reader):
    """NIfTI-1/-2 images (``.nii``, ``.nii.gz``, ``.hdr`` + ``.img``) via nibabel.

    >>> reader = NiftiReader()
    >>> info = reader.describe(Source.single("T1.nii.gz"))  # doctest: +SKIP
    >>> info.axes, info.meta["qform_code"]                   # doctest: +SKIP
    ('zyx', 'scanner')
    """

    name: ClassVar[str] = "nifti"
    description: ClassVar[str] = "NIfTI-1 and NIfTI-2 (.nii, .nii.gz, .hdr/.img) via nibabel"
    url: ClassVar[str] = "https://nipy.org/nibabel/"
    #: ``.hdr`` is left out: Analyze and ENVI headers share it (pairs are found by magic).
    suffixes: ClassVar[tuple[str, ...]] = (".nii.gz", ".nii")

    def guess_can_open(self, path: Path) -> bool:
        try:
            return nifti_version(header_bytes(Path(path))) is not None
        except Exception:
            return False

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        """Pair each NIfTI ``.hdr`` with its ``.img`` (or ``.img.gz``)."""
        by_name = {p.name.lower(): p for p in files}
        sources: list[Source] = []
        taken: set[Path] = set()
        for path in files:
            if not has_suffix(path, (".hdr",)) or not self.guess_can_open(path):
                continue
            stem = path.name[: -len(".hdr")]
            images = [by_name[n] for s in PAIR_SUFFIXES if (n := (stem + s).lower()) in by_name]
            taken.update([path, *images[:1]])
            sources.append(Source(path=path, files=(path, *images[:1]), name=stem))
        return sources, [p for p in files if p not in taken]

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(Path(source.path), source.files)[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        path = Path(source.path)
        info, shape, axes, compressed = self._inspect(path, source.files)
        level_of(info, level, path)
        blocks = NiftiBlocks(path, shape, info.dtype)
        if compressed:
            chunks = shape
        else:  # slabs along the slowest axes (the last ones in NIfTI's Fortran order)
            chunks = tuple(reversed(auto_chunks(shape[::-1], blocks.dtype.itemsize)))
        data = lazy_array(blocks, chunks, dask_name("nifti", path, shape))
        data = data.transpose(canonical_order(axes))
        return build_dataarray(data, info, level=level, name=source.display_name)

    # -- inspection ----------------------------------------------------------------
    def _inspect(
        self, path: Path, files: Sequence[Any] = ()
    ) -> tuple[ImageInfo, tuple[int, ...], str, bool]:
        import nibabel as nib

        check_size(path)
        version = nifti_version(header_bytes(path))
        if version is None:
            raise ReaderError(path, "not a NIfTI file (no n+1/ni1/n+2 magic in the header)")
        with reader_errors(path, "invalid or truncated NIfTI header"):
            img = nib.load(str(path))
        with reader_errors(path, "invalid NIfTI header", with_type=True):
            return self._build(path, img, version, files)

    def _build(
        self, path: Path, img: Any, version: int, files: Sequence[Any] = ()
    ) -> tuple[ImageInfo, tuple[int, ...], str, bool]:
        from nibabel.volumeutils import apply_read_scaling

        hdr = img.header
        shape = tuple(int(n) for n in hdr.get_data_shape())
        while len(shape) > 5 and shape[-1] == 1:
            shape = shape[:-1]
        if not shape or len(shape) > 5 or min(shape) < 1:
            raise ReaderError(path, f"unsupported NIfTI dimensions {shape}")
        axes = FILE_AXES[: len(shape)]
        proxy = img.dataobj
        raw = np.dtype(hdr.get_data_dtype())
        scaled = apply_read_scaling(
            np.zeros(1, raw.newbyteorder("=")),
            np.asanyarray(proxy.slope),
            np.asanyarray(proxy.inter),
        ).dtype
        image_file = Path(img.file_map["image"].filename)
        compressed = has_suffix(image_file, (".gz",))
        if not image_file.exists():
            raise ReaderError(path, f"image file {image_file.name!r} of the .hdr does not exist")
        problem = sidecar_problem(path, image_file, files, "image file of the .hdr")
        if problem:  # a pipe, or a link out of the folder: never read
            raise ReaderError(path, problem)
        if not compressed:
            end = int(proxy.offset) + int(np.prod(shape)) * raw.itemsize
            size = image_file.stat().st_size
            if end > size:
                raise ReaderError(
                    image_file,
                    f"truncated file: pixel data ends at byte {end}, the file has {size}",
                )
        zooms = [f32(z) for z in hdr.get_zooms()]
        space_name, time_name = hdr.get_xyzt_units()
        unit = SPACE_UNITS.get(space_name, "mm")
        spacing, units, origin = voxel_geometry(img.affine, axes, zooms, unit)
        meta = _meta(img, version, compressed, space_name, time_name, zooms, len(shape))
        order = canonical_order(axes)
        info = ImageInfo(
            shape=tuple(shape[i] for i in order),
            dtype=str(np.dtype(scaled)),
            axes="".join(axes[i] for i in order),
            spacing=spacing,
            units=units,
            origin=origin,
            meta=jsonable(meta),
        )
        return info, shape, axes, compressed


def _meta(
    img: Any,
    version: int,
    compressed: bool,
    space_name: str,
    time_name: str,
    zooms: list[float],
    ndim: int,
) -> dict[str, Any]:
    hdr = img.header
    intent, params, intent_name = hdr.get_intent()
    meta: dict[str, Any] = {
        "format": f"NIfTI-{version}",
        "single_file": bool(hdr["magic"].item().startswith(b"n+")),
        "compressed": compressed,
        "descrip": hdr["descrip"].item(),
        "aux_file": hdr["aux_file"].item(),
        "intent": intent,
        "intent_params": list(params),
        "intent_name": intent_name,
        "qform_code": _label(hdr, "qform_code"),
        "sform_code": _label(hdr, "sform_code"),
        "affine": [[f32(v) for v in row] for row in np.asarray(img.affine, dtype=float)],
        "xyzt_units": [space_name, time_name],
        "spatial_unit_assumed": space_name not in SPACE_UNITS,
        "pixdim": zooms,
        "datatype": str(hdr.get_data_dtype()),
        "scl_slope": hdr["scl_slope"].item(),
        "scl_inter": hdr["scl_inter"].item(),
        "cal_min": hdr["cal_min"].item(),
        "cal_max": hdr["cal_max"].item(),
        "toffset": hdr["toffset"].item(),
        "slice_code": int(hdr["slice_code"]),
        "slice_duration": hdr["slice_duration"].item(),
        "dim_info": [d for d in hdr.get_dim_info()],
        "extensions": [
            {"code": int(e.get_code()), "bytes": len(e.get_content())} for e in hdr.extensions
        ],
    }
    if ndim >= 4 and len(zooms) >= 4:
        meta["time_step"] = {"value": zooms[3], "unit": time_name}
    return meta


def _label(hdr: Any, field: str) -> Any:
    try:
        return hdr.get_value_label(field)
    except Exception:
        return int(hdr[field])
