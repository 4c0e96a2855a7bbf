"""MRC / CCP-EM files through mrcfile: volumes and tomograms (``.mrc``, ``.map``,
``.rec``), image stacks (``.mrcs``, ``.st``) and single images.

MRC has no reliable magic bytes (``"MAP "`` at byte 208 exists only since MRC2000), so
a file is recognised by its suffix *and* a sane 1024-byte header. Headers come from
``mrcfile.open(header_only=True, permissive=True)``; pixels open lazily through
``mrcfile.mmap`` in dask chunks. Voxel sizes are in ångström.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

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
from .nifti import f32

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

HEADER_SIZE = 1024
#: Modes of the MRC2014 standard (and the IMOD extensions 6, 12, 16, 101).
MODES = frozenset({0, 1, 2, 3, 4, 6, 12, 16, 101})
MRC_SUFFIXES = (".mrcs", ".mrc", ".map", ".rec", ".st")
STACK_SUFFIXES = (".mrcs", ".st")
MAX_DIM = 1 << 24


def _header_fields(head: bytes) -> dict[str, Any] | None:
    """nx, ny, nz and mode in the byte order that makes sense, else None."""
    if len(head) < HEADER_SIZE:
        return None
    has_map = head[208:212] == b"MAP "
    stamp = head[212:214]
    orders = [">" if stamp[:1] == b"\x11" else "<"] if has_map else ["<", ">"]
    for order in orders:
        nx, ny, nz, mode = np.frombuffer(head, dtype=f"{order}i4", count=4)
        nsymbt = int(np.frombuffer(head, dtype=f"{order}i4", count=1, offset=92)[0])
        dims_ok = all(0 < int(n) < MAX_DIM for n in (nx, ny, nz))
        if dims_ok and int(mode) in MODES and nsymbt >= 0:
            return {"nx": int(nx), "ny": int(ny), "nz": int(nz), "mode": int(mode)}
    return None


class MrcBlocks:
    """Reads blocks through ``mrcfile.mmap`` (opened per read, so it pickles)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.shape, self.ndim = Path(path), tuple(shape), len(shape)
        self.dtype = np.dtype(dtype).newbyteorder("=")

    def __getitem__(self, index: Any) -> np.ndarray:
        import mrcfile

        failed = "cannot read MRC pixel data (truncated or corrupt?)"
        with reader_errors(self.path, failed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.mmap(str(self.path), mode="r", permissive=True) as mrc:
                data = mrc.data
                if data is None or data.shape != self.shape:
                    found = None if data is None else data.shape
                    raise ValueError(f"data shape {found}, expected {self.shape}")
                return np.array(data[index], dtype=self.dtype)


class MrcReader(Reader):
    """MRC2014 volumes, tomograms, image stacks and images (mrcfile).

    >>> reader = MrcReader()
    >>> info = reader.describe(Source.single("tomogram.rec"))  # doctest: +SKIP
    >>> info.axes, info.spacing["x"], info.units["x"]          # doctest: +SKIP
    ('zyx', 3.4e-10, 'Å')
    """

    name: ClassVar[str] = "mrc"
    description: ClassVar[str] = (
        "MRC/CCP-EM maps, tomograms and image stacks (.mrc .mrcs .map .rec .st) via mrcfile"
    )
    url: ClassVar[str] = "https://www.ccpem.ac.uk/mrc_format/mrc2014.php"
    #: Only the unambiguous suffixes: the scanner blames a file whose name claims a format
    #: its content lacks, and ``.map``/``.rec``/``.st`` are also linker maps, Philips REC...
    suffixes: ClassVar[tuple[str, ...]] = (".mrcs", ".mrc")
    default_modality: ClassVar[str | None] = "EM"

    def guess_can_open(self, path: Path) -> bool:
        try:
            path = Path(path)
            head = read_magic(path, HEADER_SIZE)
            return has_suffix(path, MRC_SUFFIXES) and _header_fields(head) is not None
        except Exception:
            return False

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(Path(source.path))[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        path = Path(source.path)
        info, shape, axes, dtype = self._inspect(path)
        level_of(info, level, path)
        blocks = MrcBlocks(path, shape, dtype)
        chunks = auto_chunks(shape, blocks.dtype.itemsize)
        data = lazy_array(blocks, chunks, dask_name("mrc", path, shape))
        data = data.transpose(canonical_order(axes))
        return build_dataarray(data, info, level=level, name=source.display_name)

    # -- inspection ----------------------------------------------------------------
    def _inspect(self, path: Path) -> tuple[ImageInfo, tuple[int, ...], str, np.dtype]:
        import mrcfile

        size = check_size(path)
        if _header_fields(read_magic(path, HEADER_SIZE)) is None:
            if size < HEADER_SIZE:
                raise ReaderError(
                    path, f"truncated MRC file: {size} bytes, the header alone is 1024"
                )
            raise ReaderError(path, "not an MRC file (header has no valid mode and dimensions)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with (
                reader_errors(path, "invalid MRC header"),
                mrcfile.open(str(path), header_only=True, permissive=True) as mrc,
            ):
                header = mrc.header.copy()
                voxel = mrc.voxel_size.copy()
                shape = tuple(int(n) for n in mrcfile.utils.data_shape_from_header(header))
                dtype = mrcfile.utils.data_dtype_from_header(header)
        notes = [str(w.message) for w in caught]
        nbytes = int(np.prod(shape)) * dtype.itemsize
        start = HEADER_SIZE + int(header.nsymbt)
        if start + nbytes > size:
            raise ReaderError(
                path,
                f"truncated MRC file: pixel data ends at byte {start + nbytes}, the file has {size}",
            )
        ispg = int(header.ispg)
        stack = len(shape) == 3 and (ispg == 0 or has_suffix(path, STACK_SUFFIXES))
        if len(shape) == 4:
            axes = "tzyx"  # a volume stack (ispg 401..630)
        elif len(shape) == 3 and not stack:
            axes = _volume_axes(header)
        else:
            axes = "zyx"[-len(shape) :]
        spacing: dict[str, float] = {}
        units: dict[str, str] = {}
        origin: dict[str, float] = {}
        for axis in "xyz":
            if axis in axes and not (stack and axis == "z"):
                spacing_entry(spacing, units, axis, f32(voxel[axis]), "Å")
                value = float(header.origin[axis])
                if axis in spacing and value:
                    origin[axis] = value
        meta = _meta(header, stack, notes)
        order = canonical_order(axes)
        info = ImageInfo(
            shape=tuple(shape[i] for i in order),
            dtype=str(dtype.newbyteorder("=")),
            axes="".join(axes[i] for i in order),
            spacing=spacing,
            units=units,
            origin=origin,
            modality=self.default_modality,
            meta=jsonable(meta),
            warnings=[f"mrcfile: {n}" for n in notes],
        )
        return info, shape, axes, dtype


def _volume_axes(header: Any) -> str:
    """Array axis letters (slowest first) of a volume from MAPC/MAPR/MAPS."""
    mapping = (int(header.maps), int(header.mapr), int(header.mapc))
    if sorted(mapping) != [1, 2, 3]:
        return "zyx"
    return "".join(" xyz"[m] for m in mapping)


def _meta(header: Any, stack: bool, notes: list[str]) -> dict[str, Any]:
    from mrcfile.utils import byte_order_from_machine_stamp

    labels = [
        bytes(header.label[i]).decode("latin-1").strip() for i in range(min(int(header.nlabl), 10))
    ]
    try:
        order = byte_order_from_machine_stamp(header.machst)
    except Exception:
        order = "?"
    meta: dict[str, Any] = {
        "format": "MRC",
        "mode": int(header.mode),
        "nversion": int(header.nversion),
        "ispg": int(header.ispg),
        "stack": stack,
        "sampling": [int(header.mx), int(header.my), int(header.mz)],
        "cell_A": [float(header.cella[a]) for a in "xyz"],
        "cell_angles": [float(header.cellb[a]) for a in ("alpha", "beta", "gamma")],
        "axis_order": [int(header.mapc), int(header.mapr), int(header.maps)],
        "start": [int(header.nxstart), int(header.nystart), int(header.nzstart)],
        "origin_A": [float(header.origin[a]) for a in "xyz"],
        "dmin": float(header.dmin),
        "dmax": float(header.dmax),
        "dmean": float(header.dmean),
        "rms": float(header.rms),
        "extended_header_bytes": int(header.nsymbt),
        "exttyp": bytes(header.exttyp).decode("latin-1").strip("\x00 "),
        "byte_order": "big" if order == ">" else "little",
        "labels": [lb for lb in labels if lb],
    }
    if notes:
        meta["header_problems"] = notes
    return meta
