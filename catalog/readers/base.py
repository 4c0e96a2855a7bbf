"""The reader plugin interface and the helpers readers share.

A reader knows one format. It is a small class, like xarray's ``BackendEntrypoint``:

- ``guess_can_open(path)`` says whether a *single file* is in its format (magic bytes
  first, suffix second) without reading pixels;
- ``holds_no_image(path)`` may say that a file with the format's suffix is sound but
  holds no image (a FITS file of tables), so the scanner lists it as a non-image file;
- ``claim_directory(path)`` may claim a whole folder as one dataset (a Zarr store, a
  DICOMDIR tree);
- ``group(directory, files)`` may group several files of one folder into datasets (a
  DICOM series, a numbered slice stack, a ``.mhd`` header and its ``.raw``) and returns
  the files it left alone, so the scanner can chain readers;
- ``describe(source)`` returns an :class:`ImageInfo` from headers only;
- ``open(source, level=0)`` returns a lazy, dask-backed ``xarray`` object.

Example::

    >>> from catalog.readers import get_reader
    >>> reader = get_reader("tiff")
    >>> reader.guess_can_open(Path("scan.ome.tif"))     # doctest: +SKIP
    True
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import dataclasses
import datetime as dt
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..units import best_unit, from_metres, normalise_unit

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from ..remote import Storage

#: Axis letters every reader maps its dimensions to, in canonical order.
AXES_ORDER = "tczyx"
SPATIAL_AXES = frozenset("zyx")
#: Data levels, from the instrument to the report.
DATA_LEVELS = ("raw", "reconstructed", "processed", "segmentation", "analysis", "report")

MAGIC_BYTES = 512  # how many leading bytes readers get to look at


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a dataset lives.

    ``path`` is the dataset's location (a file, or the folder of a multi-file
    dataset), ``files`` every file that belongs to it (checksums and change detection
    run over these), ``options`` what the reader needs to find it again (a DICOM series
    uid, the pattern of a slice stack, an HDF5 dataset path). ``options`` values must be
    JSON-serialisable because they are stored in the index.

    ``storage`` (a :class:`catalog.remote.Storage`) says the dataset is in object
    storage: ``path`` and ``files`` are then paths inside that file system
    (``bucket/prefix/a.tif``) and :attr:`location` is the URL; readers that can read
    from object storage (:attr:`Reader.remote`) open them through it.
    """

    path: Path
    files: tuple[Path, ...]
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    name: str | None = None
    storage: Storage | None = None

    @classmethod
    def at(
        cls,
        path: str,
        files: Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
        name: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> Source:
        """The source of a stored location: a filesystem path, or a URL in object
        storage (then ``options`` may hold the root's storage options, stored without
        credentials, which ``storage_options`` given now extend).

        >>> src = Source.at("s3://bucket/scans/a.tif")
        >>> str(src.path), src.location
        ('bucket/scans/a.tif', 's3://bucket/scans/a.tif')
        """
        from ..remote import STORAGE_OPTIONS, Storage, is_remote, split_url

        opts = dict(options or {})
        stored = opts.pop(STORAGE_OPTIONS, None) or {}
        if not is_remote(path):
            p = Path(path)
            return cls(p, tuple(Path(f) for f in files) or (p,), opts, name)
        protocol, inner = split_url(path)
        storage = Storage.of(protocol, {**stored, **(storage_options or {})})
        inner_files = tuple(Path(split_url(f)[1]) for f in files if is_remote(f))
        return cls(Path(inner), inner_files or (Path(inner),), opts, name, storage)

    @property
    def location(self) -> str:
        """Where the dataset is, as the index stores it: a path or a URL."""
        from ..paths import to_db

        return self.storage.url(self.path) if self.storage is not None else to_db(self.path)

    @classmethod
    def single(cls, path: str | os.PathLike[str]) -> Source:
        """A one-file dataset.

        >>> [str(f) for f in Source.single("/data/a.tif").files]
        ['/data/a.tif']
        """
        p = Path(path)
        return cls(path=p, files=(p,))

    @property
    def display_name(self) -> str:
        return self.name or self.path.name


@dataclasses.dataclass
class ArrayInfo:
    """One array inside a container (an HDF5 file, a NetCDF file, a Zarr group)."""

    shape: tuple[int, ...]
    dtype: str
    dims: tuple[str, ...] = ()


@dataclasses.dataclass
class ImageInfo:
    """Normalised metadata of one dataset, extracted without reading pixels.

    ``axes`` uses the letters ``t c z y x`` (a subset, in this order); ``spacing``
    maps an axis to its voxel size in metres and ``units`` to the unit the file used.
    ``levels`` holds the shape of every pyramid level, level 0 first. ``kind`` is
    ``"image"`` for one array, ``"container"`` for a file of several arrays (then
    ``arrays`` lists them and ``primary`` names the one thumbnails and ``shape`` use).
    ``meta`` holds everything else the format carries (nested, JSON-serialisable).
    """

    shape: tuple[int, ...]
    dtype: str
    axes: str
    kind: str = "image"
    spacing: dict[str, float] = dataclasses.field(default_factory=dict)
    units: dict[str, str] = dataclasses.field(default_factory=dict)
    origin: dict[str, float] = dataclasses.field(default_factory=dict)
    levels: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    modality: str | None = None
    acquired: dt.datetime | None = None
    instrument: str | None = None
    channels: list[str] = dataclasses.field(default_factory=list)
    data_level: str | None = None
    access: str | None = None  #: a default access level (DICOM: ``restricted``)
    arrays: dict[str, ArrayInfo] = dataclasses.field(default_factory=dict)
    primary: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.shape = tuple(int(n) for n in self.shape)
        if len(self.axes) != len(self.shape):
            raise ValueError(f"axes {self.axes!r} do not match shape {self.shape}")
        if not self.levels:
            self.levels = [self.shape]
        self.levels = [tuple(int(n) for n in lv) for lv in self.levels]


class Reader(abc.ABC):
    """Abstract base class of format readers; see the module docstring for the contract.

    Subclasses set the class attributes, implement :meth:`describe` and :meth:`open`
    and override what else their format needs. Methods take explicit keyword
    parameters, never ``*args``/``**kwargs``. :mod:`catalog.testing` holds the tests
    every reader passes (``ReaderContract``).

    >>> Reader()
    Traceback (most recent call last):
    TypeError: Can't instantiate abstract class Reader ...
    """

    #: Short registry name, e.g. ``"tiff"``; stored in the index with every dataset.
    name: ClassVar[str] = ""
    #: One line for users (``voxcat readers``).
    description: ClassVar[str] = ""
    #: Where the format or its library is documented.
    url: ClassVar[str] = ""
    #: Lower-case suffixes, longest first where they overlap (``.ome.tif`` before ``.tif``).
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: Which modality a file of this format almost always holds (``"EM"`` for MRC).
    default_modality: ClassVar[str | None] = None
    #: Whether the reader reads datasets in object storage (``Source.storage``).
    remote: ClassVar[bool] = False

    # -- detection -----------------------------------------------------------------
    def guess_can_open(self, path: Path) -> bool:
        """Whether ``path`` (a single file) is in this format. Never raises."""
        return has_suffix(path, self.suffixes)

    def holds_no_image(self, path: Path) -> bool:
        """Whether ``path`` is a sound file of this format that holds no image (a FITS
        file of tables only): the scanner then lists it as a non-image file instead of
        failing it for its suffix. Never raises."""
        return False

    def claim_directory(self, path: Path) -> Source | None:
        """Claim the folder ``path`` as one dataset (do not descend into it)."""
        return None

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        """Group some of ``files`` (all in ``directory``) into datasets.

        Returns the datasets found and the files left for the next reader.
        """
        return [], files

    # -- reading -------------------------------------------------------------------
    @abc.abstractmethod
    def describe(self, source: Source) -> ImageInfo:
        """Metadata from headers only; raises :class:`~catalog.errors.ReaderError`."""

    @abc.abstractmethod
    def open(self, source: Source, *, level: int = 0) -> xr.DataArray | xr.Dataset:
        """The dataset as a lazy, dask-backed xarray object (pyramid ``level``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# -- helpers readers share -----------------------------------------------------------


#: leading bytes of the files of the folder being grouped (see :func:`magic_cache`)
_HEADS: contextvars.ContextVar[dict[str, bytes] | None] = contextvars.ContextVar(
    "voxcat_magic_heads", default=None
)
#: how many leading bytes :func:`magic_cache` keeps per file (the most any reader asks)
_HEAD_BYTES = 1024


@contextlib.contextmanager
def magic_cache() -> Iterator[None]:
    """Within the block (in this thread), :func:`read_magic` reads each file once.

    The walk groups a folder by asking every reader about every file; each reader looks
    at the leading bytes, so without this a file is opened once per reader.

    >>> with magic_cache():
    ...     read_magic(Path("/nonexistent/a.tif"))
    b''
    """
    token = _HEADS.set({})
    try:
        yield
    finally:
        _HEADS.reset(token)


def prime_magic(path: Path, head: bytes) -> None:
    """Within :func:`magic_cache`, make ``head`` (an object's leading bytes, fetched
    with one range request) what :func:`read_magic` returns for ``path``: readers then
    recognise objects in storage with the same code as local files."""
    heads = _HEADS.get()
    if heads is not None:
        heads[os.fspath(path)] = head


def read_magic(path: Path, n: int = MAGIC_BYTES) -> bytes:
    """The first ``n`` bytes of ``path``, or ``b""`` if it cannot be read or is not a
    regular file (a named pipe would block, a device stream forever)."""
    heads = _HEADS.get()
    if heads is None or n > _HEAD_BYTES:
        return _read_head(path, n)
    key = os.fspath(path)
    head = heads.get(key)
    if head is None:
        head = heads[key] = _read_head(path, _HEAD_BYTES)
    return head[:n]


def _read_head(path: Path, n: int) -> bytes:
    from ..confine import open_binary

    try:
        with open_binary(path, buffering=0) as fh:  # no read-ahead past the n bytes
            chunks: list[bytes] = []
            while n > 0:
                chunk = fh.read(n)
                if not chunk:
                    break
                chunks.append(chunk)
                n -= len(chunk)
            return b"".join(chunks)
    except OSError:
        return b""


@contextlib.contextmanager
def reader_errors(
    path: str | os.PathLike[str],
    what: str,
    *,
    catch: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    with_type: bool = False,
) -> Iterator[None]:
    """Within the block, a library's exception becomes voxcat's named
    :class:`~catalog.errors.ReaderError`: ``"<path>: <what>: <cause>"``, chained to the
    original (``with_type`` puts the exception's class name before its message). A
    ``ReaderError`` raised inside passes unchanged: it already names its file.

    >>> with reader_errors("/data/a.tif", "corrupt or truncated TIFF"):
    ...     raise EOFError("no IFD at offset 8")
    Traceback (most recent call last):
    catalog.errors.ReaderError: /data/a.tif: corrupt or truncated TIFF: no IFD at offset 8
    """
    from ..errors import ReaderError

    try:
        yield
    except ReaderError:
        raise
    except catch as exc:
        cause = f"{type(exc).__name__}: {exc}" if with_type else str(exc)
        raise ReaderError(os.fspath(path), f"{what}: {cause}") from exc


def has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    """Case-insensitive suffix test that understands double suffixes (``.nii.gz``)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


def strip_suffix(name: str, suffixes: Sequence[str]) -> str:
    """``"brain.nii.gz"`` -> ``"brain"`` for ``suffixes=(".nii.gz", ".nii")``."""
    low = name.lower()
    for s in sorted(suffixes, key=len, reverse=True):
        if low.endswith(s):
            return name[: -len(s)]
    return name


def map_axes(letters: str, shape: Sequence[int]) -> str:
    """Map a format's axis letters (tifffile's ``"QYX"``, ``"TZCYXS"`` ...) to ``tczyx``.

    Unknown or repeated letters become ``z``/``t`` where free; raises ``ValueError``
    when the result would repeat a letter.

    >>> map_axes("QYX", (5, 64, 64))
    'zyx'
    >>> map_axes("YXS", (64, 64, 3))
    'yxc'
    """
    table = {"T": "t", "C": "c", "S": "c", "Z": "z", "Y": "y", "X": "x"}
    out: list[str] = []
    for letter in letters.upper():
        a = table.get(letter)
        if a is None or a in out:
            a = next((c for c in "ztc" if c not in out and c not in letters.lower()), None)
            if a is None:
                a = next((c for c in "ztc" if c not in out), None)
        if a is None:
            raise ValueError(f"cannot map axes {letters!r} of shape {tuple(shape)} to tczyx")
        out.append(a)
    return "".join(out)


def canonical_order(axes: str) -> tuple[int, ...]:
    """Permutation that sorts ``axes`` into ``tczyx`` order.

    >>> canonical_order("yxc")
    (2, 0, 1)
    """
    return tuple(sorted(range(len(axes)), key=lambda i: AXES_ORDER.index(axes[i])))


def spacing_entry(
    spacing: dict[str, float], units: dict[str, str], axis: str, value: Any, unit: Any
) -> None:
    """Record ``value`` ``unit`` as the voxel size of ``axis`` when both are valid."""
    from ..units import to_metres

    m = to_metres(value, unit)
    if m is not None:
        spacing[axis] = m
        units[axis] = normalise_unit(unit) or str(unit)


def build_dataarray(
    data: Any,
    info: ImageInfo,
    *,
    level: int = 0,
    name: str | None = None,
    axes: str | None = None,
    spacing: Mapping[str, float] | None = None,
    origin: Mapping[str, float] | None = None,
) -> xr.DataArray:
    """Wrap a (dask) array as a ``DataArray`` with physical coordinates.

    ``data`` must already be in ``info.axes`` order (or ``axes`` if given). Spatial
    coordinates are in the unit the file used (``attrs["units"]``), scaled for pyramid
    ``level`` from the ratio of level 0 to level shapes, unless the format gives the
    level its own ``spacing`` (metres) and ``origin`` (first pixel's centre, in the
    file's unit), as OME-Zarr does. Non-spatial axes get integer coordinates; channels
    get their names when known. The dataset's normalised metadata goes into ``attrs``.
    """
    import numpy as np
    import xarray as xr

    axes = axes or info.axes
    base = dict(zip(info.axes, info.shape))
    own = spacing is not None
    spacing = info.spacing if spacing is None else spacing
    origin = info.origin if origin is None else origin
    coords: dict[str, Any] = {}
    for ax, n in zip(axes, data.shape):
        if ax in SPATIAL_AXES and ax in spacing:
            factor = 1.0 if own else (base.get(ax, n) / n if n else 1.0)
            unit = info.units.get(ax) or best_unit(spacing[ax])
            try:
                step = from_metres(spacing[ax], unit) * factor
            except ValueError:
                unit, step = "m", spacing[ax] * factor
            start = origin.get(ax, 0.0)
            coords[ax] = xr.Variable(
                ax, start + np.arange(n) * step, attrs={"units": unit, "long_name": ax}
            )
        elif ax == "c" and info.channels and len(info.channels) == n:
            coords[ax] = xr.Variable(ax, np.asarray(info.channels, dtype=object))
        else:
            coords[ax] = xr.Variable(ax, np.arange(n), attrs={"units": "index"})
    attrs = info_attrs(info)
    attrs["level"] = level
    return xr.DataArray(data, dims=tuple(axes), coords=coords, name=name, attrs=attrs)


def info_attrs(info: ImageInfo) -> dict[str, Any]:
    """The flat, serialisable ``attrs`` a reader puts on what it opens."""
    attrs: dict[str, Any] = {
        "axes": info.axes,
        "voxel_size_m": {a: v for a, v in info.spacing.items()},
        "pyramid_levels": len(info.levels),
    }
    for key in ("modality", "instrument", "data_level"):
        value = getattr(info, key)
        if value:
            attrs[key] = value
    if info.acquired:
        attrs["acquired"] = info.acquired.isoformat()
    if info.channels:
        attrs["channels"] = list(info.channels)
    if info.meta:
        attrs["meta"] = info.meta
    return attrs


def level_of(info: ImageInfo, level: int, path: Path) -> int:
    """Validate a pyramid level index against ``info.levels``."""
    from ..errors import ReaderError

    if not 0 <= level < len(info.levels):
        raise ReaderError(
            path, f"pyramid level {level} does not exist (levels 0..{len(info.levels) - 1})"
        )
    return level


def jsonable(value: Any, *, depth: int = 0) -> Any:
    """Turn format metadata (numpy scalars, bytes, tuples, nested dicts) into JSON types.

    Long arrays are summarised, bytes decoded or dropped; never raises.
    """
    import numpy as np

    if depth > 12:
        return str(value)[:200]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item(), depth=depth + 1)
    if isinstance(value, bytes | bytearray):
        try:
            text = bytes(value).decode("utf-8").rstrip("\x00")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
        return text if text.isprintable() or not text else f"<{len(value)} bytes>"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if value.size > 64:
            return f"<array {value.dtype} {value.shape}>"
        return jsonable(value.tolist(), depth=depth + 1)
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        if len(items) > 64:
            return f"<{len(items)} items>"
        return [jsonable(v, depth=depth + 1) for v in items]
    return str(value)[:1000]
