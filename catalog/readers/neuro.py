"""Neuroimaging formats nibabel reads besides NIfTI: FreeSurfer MGH/MGZ, Philips PAR/REC,
AFNI HEAD/BRIK and ECAT7 (MINC1/MINC2 live in ``minc.py`` on the same base class).

:class:`NibabelReader` holds what they share: detection through a small ``detect``
method (magic bytes or header text first, the suffix only where a format has no magic),
a lazy dask array over nibabel's array proxy (slicing the proxy reads only the bytes a
chunk needs; gzip files are one chunk), physical spacing from the zooms in mm (the
affine's translation becomes the origin when the axes are not rotated, as for NIfTI:
:func:`~catalog.readers.nifti.voxel_geometry`), the scaled dtype nibabel returns, and a
check that uncompressed pixel data is all there. Each format is its own reader, so the
index's ``format`` column says ``mgh`` or ``parrec`` rather than ``nibabel``.

nibabel presents these formats like NIfTI (``x y z t``, ``x`` fastest); the reader turns
them into ``t z y x``. Patient fields (PAR ``patient_name``, ECAT ``patient_*``,
``physician_name``, ``operator_name``, ``original_filename``) are never indexed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import struct
import zlib
from collections.abc import Mapping
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
    strip_suffix,
)
from .nifti import f32, voxel_geometry

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

GZIP_MAGIC = b"\x1f\x8b"
PAR_MAGIC = b"# === DATA DESCRIPTION FILE"
ECAT_MAGIC = b"MATRIX7"
MGH_HEADER = 284  # bytes before MGH pixel data
#: MGH ``type`` codes -> stored dtype (big-endian)
MGH_TYPES = {0: ">u1", 1: ">i4", 3: ">f4", 4: ">i2"}
#: AFNI ``TAXIS_NUMS[2]`` time unit codes
AFNI_TIME_UNITS = {77001: "ms", 77002: "s", 77003: "Hz"}
#: header fields that can identify a person: never indexed
PATIENT_FIELDS = frozenset(
    {
        "patient_name",
        "patient_id",
        "patient_sex",
        "patient_dexterity",
        "patient_age",
        "patient_height",
        "patient_weight",
        "patient_birth_date",
        "physician_name",
        "operator_name",
        "original_filename",
    }
)


@dataclasses.dataclass
class Facts:
    """What a format's header says, in nibabel's voxel order (before transposing)."""

    shape: tuple[int, ...]
    axes: str  # one letter per voxel axis, in nibabel's order
    zooms: list[float]
    affine: Any
    meta: dict[str, Any]
    unit: str | Mapping[str, str] = "mm"
    compressed: bool = False
    #: (file, byte where its pixel data ends) for uncompressed data, checked against the size
    extent: tuple[Path, int] | None = None
    time_unit: str | None = None
    modality: str | None = None
    acquired: dt.datetime | None = None
    instrument: str | None = None
    files: tuple[Path, ...] = ()  # the header's partner data file(s)
    #: the dtype of the values ``read_block`` returns, when the header tells it (else a
    #: corner voxel is read to learn it)
    dtype: np.dtype | None = None


class NibabelBlocks:
    """Blocks of one image in nibabel's voxel order, reloading the header per read."""

    def __init__(
        self, reader: NibabelReader, path: Path, files: tuple[Path, ...], shape: tuple, dtype: Any
    ) -> None:
        self.reader, self.path, self.files = reader, Path(path), tuple(files)
        self.shape, self.ndim, self.dtype = tuple(shape), len(shape), np.dtype(dtype)

    def __getitem__(self, index: Any) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        failed = f"cannot read {self.reader.format_name} pixel data (truncated or corrupt?)"
        with reader_errors(self.path, failed):
            block = self.reader.read_block(self.path, self.files, index)
            return np.asarray(block).astype(self.dtype, copy=False)


class NibabelReader(Reader):
    """Base of the readers over nibabel's image classes; subclasses say how to detect,
    load and describe their format (see the module docstring)."""

    url: ClassVar[str] = "https://nipy.org/nibabel/"
    default_modality: ClassVar[str | None] = "MR"
    #: the format's name in messages and ``meta["format"]``
    format_name: ClassVar[str] = ""
    #: what a file lacks when it is not in the format (said in the error)
    signature: ClassVar[str] = ""
    #: voxel axis 0 varies fastest on disk (NIfTI-like); False for C order (MINC)
    fortran_order: ClassVar[bool] = True

    # -- what subclasses provide -----------------------------------------------------
    def detect(self, path: Path) -> bool:
        """Whether the file at ``path`` is in this format (may raise; callers guard)."""
        raise NotImplementedError

    def facts(self, path: Path, files: tuple[Path, ...]) -> Facts:
        """The header's facts; ``files`` are the data files grouped with ``path``."""
        raise NotImplementedError

    def read_block(self, path: Path, files: tuple[Path, ...], index: tuple) -> np.ndarray:
        """Pixels of ``index`` (nibabel's voxel order), scaled as nibabel scales them."""
        raise NotImplementedError

    def partners(self, path: Path) -> tuple[Path, ...]:
        """The data files beside a header opened on its own (PAR -> REC)."""
        return ()

    # -- the Reader interface ----------------------------------------------------------
    def guess_can_open(self, path: Path) -> bool:
        try:
            return bool(self.detect(Path(path)))
        except Exception:
            return False

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(source)[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        info, facts = self._inspect(source)
        path = Path(source.path)
        level_of(info, level, path)
        blocks = NibabelBlocks(self, path, facts.files, facts.shape, info.dtype)
        itemsize = blocks.dtype.itemsize
        if facts.compressed:  # gzip cannot seek: one read decompresses the lot once
            chunks: tuple[int, ...] = facts.shape
        elif self.fortran_order:  # slabs along the slowest (last) axes
            chunks = tuple(reversed(auto_chunks(facts.shape[::-1], itemsize)))
        else:
            chunks = auto_chunks(facts.shape, itemsize)
        stamps = [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in facts.files]
        data = lazy_array(blocks, chunks, dask_name(self.name, path, facts.shape, stamps))
        data = data.transpose(canonical_order(facts.axes))
        return build_dataarray(data, info, level=level, name=source.display_name)

    # -- inspection --------------------------------------------------------------------
    def _inspect(self, source: Source) -> tuple[ImageInfo, Facts]:
        path = Path(source.path)
        check_size(path)
        if not self.guess_can_open(path):
            raise ReaderError(path, f"not in {self.format_name} format: {self.signature}")
        files = tuple(Path(f) for f in source.files if Path(f) != path) or self.partners(path)
        for f in files:  # only regular files of the dataset or beside its header
            problem = sidecar_problem(path, f, source.files, "data file")
            if problem:
                raise ReaderError(path, problem)
        with reader_errors(path, f"invalid or truncated {self.format_name} file", with_type=True):
            facts = self.facts(path, files)
            if not facts.shape or min(facts.shape) < 1 or len(facts.shape) > 5:
                raise ReaderError(path, f"unsupported {self.format_name} dimensions {facts.shape}")
            _check_extent(facts)
            dtype = facts.dtype
            if dtype is None:
                corner = tuple(slice(0, 1) for _ in facts.shape)
                dtype = np.asarray(self.read_block(path, facts.files, corner)).dtype
        spacing, units, origin = voxel_geometry(facts.affine, facts.axes, facts.zooms, facts.unit)
        meta = {"format": self.format_name, **facts.meta}
        if "t" in facts.axes and facts.time_unit:
            step = facts.zooms[facts.axes.index("t")]
            if step:
                meta["time_step"] = {"value": step, "unit": facts.time_unit}
        meta["affine"] = [[f32(v) for v in row] for row in np.asarray(facts.affine, dtype=float)]
        meta["compressed"] = facts.compressed
        order = canonical_order(facts.axes)
        info = ImageInfo(
            shape=tuple(facts.shape[i] for i in order),
            dtype=str(dtype.newbyteorder("=")),
            axes="".join(facts.axes[i] for i in order),
            spacing=spacing,
            units=units,
            origin={a: f32(v) for a, v in origin.items()},
            modality=facts.modality or self.default_modality,
            acquired=facts.acquired,
            instrument=facts.instrument,
            meta=jsonable(meta),
        )
        return info, facts


def _check_extent(facts: Facts) -> None:
    if facts.extent is None:
        return
    path, end = facts.extent
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReaderError(path, f"cannot read data file: {exc.strerror or exc}") from exc
    if end > size:
        raise ReaderError(
            path, f"truncated file: pixel data ends at byte {end}, the file has {size}"
        )


def _nbytes(shape: tuple[int, ...], dtype: Any) -> int:
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _partner(header: Path, suffixes: tuple[str, ...], strip: tuple[str, ...]) -> tuple[Path, ...]:
    """The first file beside ``header`` named like it with one of ``suffixes`` (any case)."""
    stem = strip_suffix(header.name, strip)
    try:
        names = {p.name.lower(): p for p in header.parent.iterdir()}
    except OSError:
        return ()
    for s in suffixes:
        found = names.get((stem + s).lower())
        if found is not None and found != header:
            return (found,)
    return ()


def _pairs(
    reader: NibabelReader,
    files: list[Path],
    header_suffixes: tuple[str, ...],
    data_suffixes: tuple[str, ...],
) -> tuple[list[Source], list[Path]]:
    """Group each header of ``reader``'s format with its data file (any case)."""
    by_name = {p.name.lower(): p for p in files}
    sources: list[Source] = []
    taken: set[Path] = set()
    for path in files:
        if path in taken or not has_suffix(path, header_suffixes):
            continue
        if not reader.guess_can_open(path):
            continue
        stem = strip_suffix(path.name, header_suffixes)
        data = [by_name[n] for s in data_suffixes if (n := (stem + s).lower()) in by_name]
        members = (path, *data[:1])
        taken.update(members)
        sources.append(Source(path=path, files=members, name=stem))
    return sources, [p for p in files if p not in taken]


def _without_patient(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in PATIENT_FIELDS}


# -- FreeSurfer MGH / MGZ ---------------------------------------------------------------


def mgh_header(path: Path) -> bytes:
    """The first 284 bytes of an MGH file, decompressed for MGZ; ``b""`` on failure."""
    if read_magic(path, 2) == GZIP_MAGIC:
        return gunzip_head(path, MGH_HEADER)
    return read_magic(path, MGH_HEADER)


def gunzip_head(path: Path, n: int, step: int = 512) -> bytes:
    """The first ``n`` bytes of the gzip stream in ``path``, inflating only the compressed
    bytes they need (read ``step`` at a time); fewer if the stream ends first, ``b""`` if
    the file is cut short before or is not gzip.

    >>> gunzip_head(Path("/nonexistent.mgz"), 284)
    b''
    """
    from ..confine import open_binary

    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # a gzip header and trailer
    out = b""
    pending = b""
    try:
        with open_binary(path, buffering=0) as fh:
            while len(out) < n and not inflate.eof:
                if not pending:
                    pending = fh.read(step)
                    if not pending:
                        return b""  # cut short
                out += inflate.decompress(pending, n - len(out))
                pending = inflate.unconsumed_tail
    except (OSError, zlib.error):
        return b""
    return out


def mgh_spec(head: bytes) -> tuple[tuple[int, ...], np.dtype] | None:
    """nibabel's shape and the stored dtype from an MGH header, or None if it is not one."""
    if len(head) < 28:
        return None
    version, *dims, kind = struct.unpack(">6i", head[:24])
    if version != 1 or kind not in MGH_TYPES or min(dims) < 1:
        return None
    shape = tuple(dims) if dims[3] > 1 else tuple(dims[:3])
    return shape, np.dtype(MGH_TYPES[kind])


class MghReader(NibabelReader):
    """FreeSurfer MGH and MGZ volumes (``.mgh``, ``.mgz``, ``.mgh.gz``) via nibabel.

    >>> info = MghReader().describe(Source.single("orig.mgz"))  # doctest: +SKIP
    >>> info.axes, info.spacing["x"]                           # doctest: +SKIP
    ('zyx', 0.001)
    """

    name: ClassVar[str] = "mgh"
    description: ClassVar[str] = "FreeSurfer MGH/MGZ volumes via nibabel"
    format_name: ClassVar[str] = "MGH"
    signature: ClassVar[str] = (
        "no .mgh/.mgz/.mgh.gz name or no MGH header (version 1, four dimensions, a known type)"
    )
    suffixes: ClassVar[tuple[str, ...]] = (".mgh.gz", ".mgz", ".mgh")

    def detect(self, path: Path) -> bool:
        return has_suffix(path, self.suffixes) and mgh_spec(mgh_header(path)) is not None

    def facts(self, path: Path, files: tuple[Path, ...]) -> Facts:
        import nibabel as nib

        compressed = read_magic(path, 2) == GZIP_MAGIC
        # nibabel's header reader on a stream (its loader knows only .mgh and .mgz): the
        # header, then the footer (TR, flip angle, TE, TI) after the pixels, which in a
        # gzip stream are inflated to reach it; unbuffered otherwise, so only the header
        # and footer bytes are read
        with gzip.open(path, "rb") if compressed else open(path, "rb", buffering=0) as fh:
            header = nib.MGHImage.header_class.from_fileobj(fh)
        # the image nibabel's loader makes (its header normalised from the affine), over a
        # proxy that reads nothing
        proxy = nib.MGHImage.ImageArrayProxy(str(path), header.copy())
        img = nib.MGHImage(proxy, header.get_affine(), header)
        hdr, affine = img.header, img.affine
        shape, stored = mgh_spec(header.binaryblock) or ((), np.dtype("u1"))
        meta = {"header": {k: hdr[k] for k in hdr.keys()}}  # noqa: SIM118 (not a dict)
        return Facts(
            shape=shape,
            axes="xyzt"[: len(shape)],
            zooms=[f32(z) for z in hdr.get_zooms()],
            affine=affine,
            meta=meta,
            compressed=compressed,
            extent=None if compressed else (path, MGH_HEADER + _nbytes(shape, stored)),
            time_unit="ms",  # MGH stores TR in ms
            dtype=stored,  # MGH has no scaling: the pixels are read as stored
        )

    def read_block(self, path: Path, files: tuple[Path, ...], index: tuple) -> np.ndarray:
        """Slice an ArrayProxy built from the 284-byte header (nibabel's loader would
        seek past the pixels to the footer, decompressing a whole MGZ for each block)."""
        from nibabel.arrayproxy import ArrayProxy

        spec = mgh_spec(mgh_header(path))
        if spec is None:
            raise ReaderError(path, "not an MGH file any more (header changed)")
        shape, stored = spec
        return ArrayProxy(str(path), (shape, stored, MGH_HEADER), order="F")[index]


# -- Philips PAR / REC ------------------------------------------------------------------


def _par_date(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(text).replace(" ", ""), "%Y.%m.%d/%H:%M:%S")
    except ValueError:
        return None


class ParRecReader(NibabelReader):
    """Philips PAR/REC pairs (``.PAR`` header + ``.REC`` pixels) as one dataset via nibabel.

    Pixel values are nibabel's default ``"dv"`` scaling (the values the scanner console
    shows), so the dtype is float64. All volumes (dynamics, echoes, diffusion directions)
    form the ``t`` axis, as nibabel orders them; ``meta["volume_labels"]`` says what each is.

    >>> reader = ParRecReader()
    >>> sources, rest = reader.group(Path("mr"), [Path("mr/a.PAR"), Path("mr/a.REC")])  # doctest: +SKIP
    >>> reader.describe(sources[0]).axes  # doctest: +SKIP
    'tzyx'
    """

    name: ClassVar[str] = "parrec"
    description: ClassVar[str] = "Philips PAR/REC (.PAR header + .REC data) via nibabel"
    format_name: ClassVar[str] = "PAR/REC"
    signature: ClassVar[str] = f"it does not start with {PAR_MAGIC.decode()!r}"
    #: ``.par`` is left out: many programs write parameter files with that name
    suffixes: ClassVar[tuple[str, ...]] = ()

    def detect(self, path: Path) -> bool:
        return read_magic(path, 64).lstrip().startswith(PAR_MAGIC)

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        """Pair every PAR header with its REC file (any case)."""
        return _pairs(self, files, (".par",), (".rec",))

    def partners(self, path: Path) -> tuple[Path, ...]:
        return _partner(path, (".rec",), (".par",))

    def _with_image(self, path: Path, files: tuple[Path, ...], fn: Any) -> Any:
        """``fn(image)`` with the REC open (nibabel's PAR/REC loader never closes it)."""
        from nibabel.parrec import PARRECImage

        if not files:
            raise ReaderError(path, "its REC data file (same name, .REC) does not exist")
        with open(files[0], "rb") as rec:
            fmap = PARRECImage.make_file_map({"header": str(path), "image": rec})
            return fn(PARRECImage.from_file_map(fmap, mmap=False))

    def facts(self, path: Path, files: tuple[Path, ...]) -> Facts:
        return self._with_image(path, files, lambda img: self._facts(img, files))

    def _facts(self, img: Any, files: tuple[Path, ...]) -> Facts:
        hdr = img.header
        info = dict(hdr.general_info)
        shape = tuple(int(n) for n in img.shape)
        labels = {k: list(v) for k, v in hdr.get_volume_labels().items()}
        meta = {
            "general_info": _without_patient(info),
            "volume_labels": labels,
            "n_slices": len(hdr.image_defs),
            "rec_file": files[0].name,
        }
        dynamic = bool(info.get("dyn_scan")) and len(shape) > 3
        return Facts(
            shape=shape,
            axes="xyzt"[: len(shape)],
            zooms=[f32(z) for z in hdr.get_zooms()],
            affine=img.affine,
            meta=meta,
            extent=(files[0], _nbytes(shape, hdr.get_data_dtype())),
            time_unit="s" if dynamic else None,
            acquired=_par_date(info.get("exam_date")),
            files=files,
        )

    def read_block(self, path: Path, files: tuple[Path, ...], index: tuple) -> np.ndarray:
        return self._with_image(path, files, lambda img: np.array(img.dataobj[index]))


# -- AFNI HEAD / BRIK -------------------------------------------------------------------


class AfniReader(NibabelReader):
    """AFNI datasets (``+orig.HEAD`` + ``+orig.BRIK`` or ``.BRIK.gz``) as one dataset.

    Sub-bricks (time points or statistics) form the ``t`` axis, scaled by their
    ``BRICK_FLOAT_FACS`` as nibabel scales them.

    >>> reader = AfniReader()
    >>> sources, _ = reader.group(Path("f"), [Path("f/s+orig.HEAD"), Path("f/s+orig.BRIK.gz")])  # doctest: +SKIP
    >>> reader.describe(sources[0]).shape  # doctest: +SKIP
    (3, 25, 41, 33)
    """

    name: ClassVar[str] = "afni"
    description: ClassVar[str] = "AFNI HEAD/BRIK(.gz) pairs via nibabel"
    format_name: ClassVar[str] = "AFNI"
    signature: ClassVar[str] = "no .HEAD name or no 'type = ...-attribute' entries"
    suffixes: ClassVar[tuple[str, ...]] = ("+orig.head", "+tlrc.head", "+acpc.head")

    def detect(self, path: Path) -> bool:
        if not has_suffix(path, (".head",)):
            return False
        head = read_magic(path, 256).lstrip()
        return head.startswith(b"type = ") and b"-attribute" in head[:40]

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        """Pair every AFNI ``.HEAD`` with its ``.BRIK`` or ``.BRIK.gz`` (any case)."""
        return _pairs(self, files, (".head",), (".brik", ".brik.gz"))

    def partners(self, path: Path) -> tuple[Path, ...]:
        return _partner(path, (".brik", ".brik.gz"), (".head",))

    def _image(self, path: Path, files: tuple[Path, ...]) -> Any:
        from nibabel.brikhead import AFNIImage

        if not files:
            raise ReaderError(path, "its BRIK data file (same name, .BRIK or .BRIK.gz) is missing")
        fmap = AFNIImage.make_file_map({"header": str(path), "image": str(files[0])})
        return AFNIImage.from_file_map(fmap)

    def facts(self, path: Path, files: tuple[Path, ...]) -> Facts:
        img = self._image(path, files)
        hdr = img.header
        shape = tuple(int(n) for n in img.shape)
        compressed = has_suffix(files[0], (".gz",))
        taxis = list(hdr.info.get("TAXIS_NUMS", []))
        time_unit = AFNI_TIME_UNITS.get(int(taxis[2])) if len(taxis) > 2 else None
        meta = {"header": dict(hdr.info), "brik_file": files[0].name}
        return Facts(
            shape=shape,
            axes="xyzt"[: len(shape)],
            zooms=[f32(z) for z in hdr.get_zooms()],
            affine=img.affine,
            meta=meta,
            compressed=compressed,
            extent=None if compressed else (files[0], _nbytes(shape, hdr.get_data_dtype())),
            time_unit=time_unit,
            files=files,
        )

    def read_block(self, path: Path, files: tuple[Path, ...], index: tuple) -> np.ndarray:
        return self._image(path, files).dataobj[index]


# -- ECAT7 ------------------------------------------------------------------------------


class EcatReader(NibabelReader):
    """ECAT7 PET images (``.v``): frames form the ``t`` axis, values scaled to
    activity (float64) as nibabel scales them.

    >>> EcatReader().describe(Source.single("fdg.v")).modality  # doctest: +SKIP
    'PT'
    """

    name: ClassVar[str] = "ecat"
    description: ClassVar[str] = "ECAT7 PET images (.v, found by magic) via nibabel"
    format_name: ClassVar[str] = "ECAT7"
    signature: ClassVar[str] = "no 'MATRIX7' at byte 0"
    default_modality: ClassVar[str | None] = "PT"  # the DICOM code for PET
    #: ``.v`` is left out: Verilog and Coq sources share it (the magic is enough)
    suffixes: ClassVar[tuple[str, ...]] = ()

    def detect(self, path: Path) -> bool:
        return read_magic(path, len(ECAT_MAGIC)) == ECAT_MAGIC

    def _with_image(self, path: Path, fn: Any) -> Any:
        """``fn(image)`` with the file open (nibabel's ECAT loader never closes it)."""
        from nibabel.ecat import EcatImage

        with open(path, "rb") as fh:
            img = EcatImage.from_file_map(EcatImage.make_file_map({"header": fh, "image": fh}))
            return fn(img)

    def facts(self, path: Path, files: tuple[Path, ...]) -> Facts:
        return self._with_image(path, lambda img: self._facts(path, img))

    def _facts(self, path: Path, img: Any) -> Facts:
        subs = img.get_subheaders()
        main = {k: img.header[k] for k in img.header.keys()}  # noqa: SIM118
        mlist = img.get_mlist()
        frames = []
        end = 0
        for i in range(subs.get_nframes()):
            sub = subs.subheaders[i]
            frames.append(
                {
                    "start_ms": int(sub["frame_start_time"]),
                    "duration_ms": int(sub["frame_duration"]),
                    "scale_factor": float(sub["scale_factor"]),
                }
            )
            size = _nbytes(subs.get_shape(i), img.get_data_dtype(i))
            end = max(end, int(mlist[i][1]) * 512 + size)
        started = int(main.get("scan_start_time", 0))
        acquired = dt.datetime.fromtimestamp(started, dt.UTC) if started > 0 else None
        meta = {
            "main_header": _without_patient(main),
            "frames": frames,
            "zooms_frame0": [float(z) for z in subs.get_zooms()[:3]],
        }
        shape = tuple(int(n) for n in img.shape)
        zooms = [f32(z) for z in subs.get_zooms()]
        return Facts(
            shape=shape,
            axes="xyzt"[: len(shape)],
            zooms=zooms + [0.0] * (len(shape) - len(zooms)),
            affine=img.affine,
            meta=meta,
            extent=(path, end),
            acquired=acquired,
        )

    def read_block(self, path: Path, files: tuple[Path, ...], index: tuple) -> np.ndarray:
        return self._with_image(path, lambda img: np.array(img.dataobj[index]))
