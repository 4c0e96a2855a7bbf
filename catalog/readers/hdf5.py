"""HDF5 files (h5py): DXchange and NeXus/NXtomo tomography, EBSD pattern files, and
generic arrays.

``describe`` walks the file's object tree (names, shapes, attributes) and reads only
tiny datasets (pixel sizes, dates, angles under 1 MB, summarised). ``open`` wraps
each dataset in a block reader that opens the file per chunk, so the result pickles
and holds no file handle. Shared axis and chunk helpers live in ``arrays``.

Without a layout that names it, the primary array is the largest *image-like* one (by
bytes): numeric, 2 to 5 dimensions, a y-x plane at least ``MIN_IMAGE_SIDE`` pixels on
each side. Side tables (EBSD's ``Euler`` of shape ``(n, 3)``, a 6x6 matrix, compound
records) are never chosen while an image exists; they are listed in ``arrays``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ReaderError
from .arrays import (
    MAX_LISTED,
    as_text,
    auto_chunks,
    check_size,
    dask_name,
    file_axes,
    lazy_array,
    parse_datetime,
    side_dims,
)
from .base import (
    AXES_ORDER,
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
    import h5py
    import xarray as xr

    from ..remote import Storage

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Where the HDF5 superblock may start (after a user block of 512 bytes or more).
SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
SMALL_BYTES = 1 << 20  # describe reads a dataset only when it is smaller than this
MIN_IMAGE_SIDE = 16  # an array whose y or x is shorter is a table, not an image
#: Header datasets of EBSD files (EDAX/TSL, Oxford H5OINA, Bruker, kikuchipy), by what
#: they say; names compared without case, spaces and underscores.
EBSD_HEADER = {
    "rows": ("nrows", "ycells", "numrows"),
    "columns": ("ncolumns", "ncols", "xcells", "numcolumns"),
    "step_x": ("stepx", "xstep"),
    "step_y": ("stepy", "ystep"),
    "pattern_height": ("patternheight",),
    "pattern_width": ("patternwidth",),
    "grid": ("gridtype",),
    "working_distance": ("workingdistance",),
    "sample_tilt": ("sampletilt", "tiltangle"),
    "beam_voltage": ("beamvoltage", "kv"),
}
EBSD_DATES = ("acquisitiondate", "date", "acquisitiontime")


def remote_signature(path: Path, storage: Storage) -> bool:
    """Whether an object in storage starts with the HDF5 signature (at 0 or after a
    user block of up to 512 bytes: one range request)."""
    head = storage.head(path, 520)
    return head[:8] == HDF5_MAGIC or head[512:520] == HDF5_MAGIC


def hdf5_signature_offset(path: Path) -> int | None:
    """Offset of the HDF5 signature (0 or after a user block), ``None`` if absent."""
    head = read_magic(path, 1024)  # an object's head primed by the scan of storage
    for offset in (0, 512):
        if head[offset : offset + 8] == HDF5_MAGIC:
            return offset
    try:
        with open(path, "rb") as fh:
            for offset in SIGNATURE_OFFSETS:
                fh.seek(offset)
                if fh.read(8) == HDF5_MAGIC:
                    return offset
    except OSError:
        return None
    return None


# -- the reader -----------------------------------------------------------------------


class H5Blocks:
    """Reads blocks of one HDF5 dataset, opening the file per read (picklable). An
    object in storage is opened once per instance and kept open (its B-tree and
    headers are fetched once; then each block costs about its chunks' bytes)."""

    def __init__(
        self,
        path: Path,
        name: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        storage: Storage | None = None,
    ) -> None:
        self.path, self.name, self.storage = str(path), name, storage
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)
        self._open: tuple[Any, Any] | None = None  # (object handle, h5py.File)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_open", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _open=None, _lock=threading.Lock())

    def __getitem__(self, key: Any) -> np.ndarray:
        import h5py

        failed = f"cannot read dataset {self.name!r} (truncated or corrupt?)"
        if self.storage is not None:  # only the chunks the block needs are fetched
            with self._lock, reader_errors(self.path, failed):
                if self._open is None:
                    fh = self.storage.open(self.path)
                    self._open = (fh, h5py.File(fh, "r"))
                return np.asarray(self._open[1][self.name][key])
        with reader_errors(self.path, failed), h5py.File(self.path, "r") as f:
            return np.asarray(f[self.name][key])

    def __del__(self) -> None:
        opened = getattr(self, "_open", None)
        if opened is not None:
            with contextlib.suppress(Exception):
                opened[1].close()
                opened[0].close()


@dataclasses.dataclass
class _Plan:
    """What ``open`` needs beyond the ImageInfo."""

    info: ImageInfo
    primary: str
    axes: str  # the primary dataset's axes in file order
    variables: dict[str, tuple[tuple[int, ...], np.dtype, tuple[int, ...] | None]]
    #: 1-D arrays with one value per step of the primary's first axis (an angle per
    #: projection, an orientation per EBSD pattern): they share that axis' dimension
    aligned: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Facts:
    layout: str = "generic"
    primary: str | None = None
    container: bool = False
    modality: str | None = None
    data_level: str | None = None
    instrument: str | None = None
    acquired: dt.datetime | None = None
    spacing: dict[str, float] = dataclasses.field(default_factory=dict)
    units: dict[str, str] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


class HDF5Reader(Reader):
    """HDF5 files through h5py: DXchange, NeXus (NXtomo) and generic layouts.

    >>> reader = HDF5Reader()
    >>> info = reader.describe(Source.single("tomo.h5"))  # doctest: +SKIP
    >>> info.primary, info.modality                       # doctest: +SKIP
    ('exchange/data', 'CT')
    >>> reader.open(Source.single("tomo.h5"))["exchange/data"]  # doctest: +SKIP
    """

    name: ClassVar[str] = "hdf5"
    description: ClassVar[str] = "HDF5 (DXchange, NeXus/NXtomo, generic arrays) via h5py"
    url: ClassVar[str] = "https://docs.h5py.org/"
    suffixes: ClassVar[tuple[str, ...]] = (".hdf5", ".h5", ".hdf", ".he5", ".nxs", ".cxi")
    remote: ClassVar[bool] = True

    def guess_can_open(self, path: Path) -> bool:
        return hdf5_signature_offset(Path(path)) is not None

    def describe(self, source: Source) -> ImageInfo:
        return self._plan(source.path, source.storage).info

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray | xr.Dataset:
        import xarray as xr

        path = source.path
        plan = self._plan(path, source.storage)
        info = plan.info
        level_of(info, level, path)
        order = canonical_order(plan.axes)
        arrays: dict[str, Any] = {}
        for name, (shape, dtype, storage) in plan.variables.items():
            blocks = H5Blocks(path, name, shape, dtype, source.storage)
            chunks = auto_chunks(shape, dtype.itemsize, storage)
            arrays[name] = lazy_array(blocks, chunks, dask_name("h5", path, name))
        primary = build_dataarray(arrays[plan.primary].transpose(order), info, name=plan.primary)
        if info.kind == "image":
            return primary
        variables: dict[str, Any] = {plan.primary: primary}
        first = arrays[plan.primary].shape[0]
        for name, arr in arrays.items():
            if name != plan.primary:
                dims = side_dims(name, arr.shape, plan.axes[0], first)
                variables[name] = xr.DataArray(arr, dims=dims, name=name)
        attrs = info_attrs(info)
        attrs["primary"] = plan.primary
        return xr.Dataset(variables, attrs=attrs)

    # -- inspection ----------------------------------------------------------------
    def _plan(self, path: Path, storage: Storage | None = None) -> _Plan:
        import h5py

        if storage is not None:  # headers through range requests of the object
            if not remote_signature(path, storage):
                raise ReaderError(path, "not an HDF5 file (no HDF5 signature)")
            with (
                storage.open(path) as fh,
                reader_errors(path, "truncated or corrupt HDF5 file"),
                h5py.File(fh, "r") as f,
            ):
                return _inspect(f, path)
        check_size(path)
        if hdf5_signature_offset(path) is None:
            raise ReaderError(path, "not an HDF5 file (no HDF5 signature)")
        with reader_errors(path, "truncated or corrupt HDF5 file"), h5py.File(path, "r") as f:
            return _inspect(f, path)


def _numeric(ds: h5py.Dataset) -> bool:
    return ds.dtype.kind in "biuf" and ds.dtype.names is None


def _inspect(f: h5py.File, path: Path) -> _Plan:
    import h5py

    datasets: dict[str, h5py.Dataset] = {}
    classes: dict[str, str] = {}
    groups: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            datasets[name] = obj
            return
        groups.append(name)
        if "NX_class" in obj.attrs:
            classes[name] = as_text(obj.attrs["NX_class"]) or ""

    f.visititems(visit)
    facts = _Facts()
    ebsd = _ebsd_groups(groups)
    if isinstance(f.get("exchange/data"), h5py.Dataset):
        _dxchange(f, datasets, facts)
    elif classes:
        _nexus(f, datasets, classes, facts)
    elif ebsd:
        _ebsd(f, datasets, ebsd, facts)
    if facts.primary and facts.primary not in datasets:
        _rename_link(f, datasets, facts.primary)
    candidates = {n: d for n, d in datasets.items() if _numeric(d) and 2 <= d.ndim <= 5}
    if facts.primary not in candidates:
        if not candidates:
            found = ", ".join(f"{n} {d.shape}" for n, d in list(datasets.items())[:8])
            raise ReaderError(
                path,
                f"no image-like array (2 to 5 numeric dimensions) in HDF5 file; "
                f"found: {found or 'no datasets'}",
            )
        facts.primary = _largest_image(candidates)
    ds = datasets[facts.primary]
    labels = [d.label for d in ds.dims] if ds.ndim else []
    axes = file_axes(labels if all(labels) else None, ds.shape, ds.dtype)
    order = canonical_order(axes)
    if facts.layout == "generic" and "element_size_um" in ds.attrs:
        sizes = np.ravel(ds.attrs["element_size_um"])
        if len(sizes) == len(axes):
            for letter, size in zip(axes, sizes):
                if letter in "zyx":
                    spacing_entry(facts.spacing, facts.units, letter, size, "µm")
    arrays = {
        n: ArrayInfo(shape=d.shape, dtype=str(d.dtype), dims=_dims(n, d, n == facts.primary, axes))
        for n, d in datasets.items()
        if _numeric(d) and d.ndim >= 2
    }
    side = [
        n
        for n, d in datasets.items()
        if n != facts.primary and _numeric(d) and d.ndim == 1 and d.size > 1
    ]
    # per-frame values (angles, EBSD orientations and quality) make a container too
    aligned = {
        n: axes[0]
        for n in side
        if side_dims(n, datasets[n].shape, axes[0], ds.shape[0]) == (axes[0],)
    }
    container = facts.container or len(arrays) > 1 or bool(aligned)
    if facts.layout == "ebsd":
        _ebsd_summary(facts, ds, side, datasets)
    meta = {"layout": facts.layout, "attrs": _attrs(f), **facts.meta}
    meta["datasets"] = {
        n: {
            "shape": list(d.shape),
            "dtype": str(d.dtype),
            "chunks": d.chunks,
            "compression": d.compression,
        }
        for n, d in list(datasets.items())[:MAX_LISTED]
    }
    values = {n: _small_value(d) for n, d in datasets.items() if d.size <= 16}
    meta["values"] = dict(list(values.items())[:MAX_LISTED])
    if classes:
        meta["nx_classes"] = dict(list(classes.items())[:MAX_LISTED])
    info = ImageInfo(
        shape=tuple(ds.shape[i] for i in order),
        dtype=str(ds.dtype),
        axes="".join(axes[i] for i in order),
        kind="container" if container else "image",
        spacing=facts.spacing,
        units=facts.units,
        modality=facts.modality,
        acquired=facts.acquired,
        instrument=facts.instrument,
        data_level=facts.data_level,
        arrays=arrays if container else {},
        primary=facts.primary,
        meta=jsonable(meta),
    )
    if len(datasets) > MAX_LISTED:
        info.warnings.append(f"{len(datasets)} datasets; only {MAX_LISTED} listed in meta")
    variables = {
        n: (tuple(d.shape), d.dtype, d.chunks)
        for n, d in datasets.items()
        if _numeric(d) and (n == facts.primary or (container and (d.ndim >= 2 or n in side)))
    }
    aligned = {n: a for n, a in aligned.items() if n in variables}
    return _Plan(info=info, primary=facts.primary, axes=axes, variables=variables, aligned=aligned)


def _nbytes(ds: h5py.Dataset) -> int:
    return int(ds.size) * ds.dtype.itemsize


def _image_like(ds: h5py.Dataset) -> bool:
    """Whether a numeric 2-5 D dataset has a y-x plane worth drawing (not a table)."""
    labels = [d.label for d in ds.dims]
    try:
        axes = file_axes(labels if all(labels) else None, ds.shape, ds.dtype)
    except ValueError:
        return False
    sides = dict(zip(axes, ds.shape))
    return min(sides.get("y", 0), sides.get("x", 0)) >= MIN_IMAGE_SIDE


def _largest_image(candidates: dict[str, h5py.Dataset]) -> str:
    """The image-like candidate with the most bytes (then more dims, then name); the
    largest candidate of any shape when none is image-like."""
    images = {n: d for n, d in candidates.items() if _image_like(d)} or candidates
    return max(images, key=lambda n: (_nbytes(images[n]), images[n].ndim, n))


def _dims(name: str, ds: h5py.Dataset, primary: bool, axes: str) -> tuple[str, ...]:
    if primary:
        return tuple(sorted(axes, key=AXES_ORDER.index))
    stem = name.replace("/", "_")
    return tuple(f"{stem}_dim{i}" for i in range(ds.ndim))


def _rename_link(f: h5py.File, datasets: dict[str, Any], target: str) -> None:
    """Give a hard-linked dataset the name the layout uses (visititems picks one)."""
    obj = f.get(target)
    for name, ds in list(datasets.items()):
        if obj is not None and ds.shape == obj.shape and ds == obj:
            datasets[target] = datasets.pop(name)
            return


def _small_value(ds: h5py.Dataset | None) -> Any:
    """The value of a dataset under 1 MB (scalars unwrapped), else ``None``."""
    if ds is None or not hasattr(ds, "dtype") or ds.size * ds.dtype.itemsize > SMALL_BYTES:
        return None
    try:
        value = ds[()]
    except Exception:  # an unreadable metadata value must not fail describe
        return None
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    return value


def _attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """Attributes that h5py can decode (others are named, not fatal)."""
    out: dict[str, Any] = {}
    for key in obj.attrs:
        try:
            out[key] = obj.attrs[key]
        except Exception:  # an attribute type h5py cannot read
            out[key] = "<unreadable>"
    return out


def _unit(ds: h5py.Dataset) -> str | None:
    for key in ds.attrs:
        if key.lower() in ("units", "unit"):
            return as_text(ds.attrs[key])
    return None


def _summary(ds: h5py.Dataset | None) -> dict[str, Any] | None:
    """Count, range and unit of a 1-D dataset (angles, keys) under 1 MB."""
    if ds is None or not hasattr(ds, "dtype"):
        return None
    out: dict[str, Any] = {"count": int(ds.size), "unit": _unit(ds)}
    value = _small_value(ds) if ds.dtype.kind in "biuf" else None
    if value is not None and np.size(value):
        arr = np.asarray(value, dtype=float)
        out.update(min=float(np.nanmin(arr)), max=float(np.nanmax(arr)))
    return out


def _find(datasets: dict[str, Any], under: str, leaf: str) -> str | None:
    """The shortest dataset path below ``under`` whose last part is ``leaf``."""
    hits = [n for n in datasets if n.startswith(under + "/") and n.rsplit("/", 1)[-1] == leaf]
    return min(hits, key=lambda n: (n.count("/"), n)) if hits else None


def _pixel_sizes(f: h5py.File, names: dict[str, str | None], facts: _Facts) -> None:
    for axis, name in names.items():
        if name and name in f:
            spacing_entry(facts.spacing, facts.units, axis, _small_value(f[name]), _unit(f[name]))


def _dxchange(f: h5py.File, datasets: dict[str, Any], facts: _Facts) -> None:
    """DXchange: /exchange/data projections, data_white/data_dark, theta, measurement."""
    facts.layout, facts.primary, facts.container, facts.modality = (
        "dxchange",
        "exchange/data",
        True,
        "CT",
    )
    theta = _summary(f.get("exchange/theta"))
    if theta:
        facts.meta["theta"] = theta
        facts.data_level = "raw"
    for key, label in (("data_white", "flats"), ("data_dark", "darks")):
        if f"exchange/{key}" in datasets:
            facts.meta[label] = list(datasets[f"exchange/{key}"].shape)
    det = "measurement/instrument/detector"
    _pixel_sizes(f, {"x": f"{det}/pixel_size_x", "y": f"{det}/pixel_size_y"}, facts)
    facts.instrument = as_text(_small_value(f.get("measurement/instrument/name")))
    for key in ("process/acquisition/start_date", "measurement/sample/experiment/start_date"):
        facts.acquired = facts.acquired or parse_datetime(_small_value(f.get(key)))
    sample = as_text(_small_value(f.get("measurement/sample/name")))
    if sample:
        facts.meta["sample"] = sample


def _nexus(f: h5py.File, datasets: dict[str, Any], classes: dict[str, str], facts: _Facts) -> None:
    """NeXus: default NXentry -> default NXdata -> signal; NXtomo projections are CT."""
    entries = sorted((n for n, c in classes.items() if c == "NXentry"), key=_depth_first)
    if not entries:
        return
    default = as_text(f.attrs.get("default"))
    entry = default if default in entries else entries[0]
    facts.layout = "nexus"
    nxdata = as_text(f[entry].attrs.get("default"))
    nxdata = f"{entry}/{nxdata}" if nxdata else None
    if nxdata not in classes:
        found = sorted(
            (n for n, c in classes.items() if c == "NXdata" and n.startswith(entry + "/")),
            key=_depth_first,
        )
        nxdata = found[0] if found else None
    if nxdata:
        signal = as_text(f[nxdata].attrs.get("signal"))
        if not signal:  # NeXus before 2014: the signal dataset has signal=1
            group = f[nxdata]
            old = [
                k for k in group if str(getattr(group.get(k), "attrs", {}).get("signal")) == "1"
            ]
            signal = old[0] if old else "data"
        if f"{nxdata}/{signal}" in f:
            facts.primary = f"{nxdata}/{signal}"
    definition = as_text(_small_value(f.get(f"{entry}/definition")))
    key_path = (f"{nxdata}/image_key" if nxdata and f"{nxdata}/image_key" in f else None) or _find(
        datasets, entry, "image_key"
    )
    facts.meta["nexus"] = {
        "entry": entry,
        "data": nxdata,
        "signal": facts.primary,
        "definition": definition,
    }
    facts.acquired = parse_datetime(_small_value(f.get(f"{entry}/start_time")))
    facts.instrument = as_text(_small_value(f.get(f"{entry}/instrument/name")))
    title = as_text(_small_value(f.get(f"{entry}/title")))
    if title:
        facts.meta["title"] = title
    if (definition or "").upper() == "NXTOMO" or key_path:
        facts.layout, facts.modality, facts.data_level, facts.container = (
            "nxtomo",
            "CT",
            "raw",
            True,
        )
        if key_path:
            keys = _small_value(f[key_path])
            if keys is not None:
                kinds = {0: "projections", 1: "flats", 2: "darks", 3: "invalid"}
                values, counts = np.unique(np.asarray(keys), return_counts=True)
                facts.meta["image_key"] = {
                    kinds.get(int(v), str(v)): int(c) for v, c in zip(values, counts)
                }
        angle = _find(datasets, entry, "rotation_angle")
        if angle:
            facts.meta["rotation_angle"] = _summary(f[angle])
        sizes = {
            "x": _find(datasets, entry, "x_pixel_size"),
            "y": _find(datasets, entry, "y_pixel_size"),
        }
        _pixel_sizes(f, sizes, facts)


def _depth_first(name: str) -> tuple[int, str]:
    return (name.count("/"), name)


# -- EBSD ---------------------------------------------------------------------------------


def _ebsd_groups(groups: list[str]) -> list[str]:
    """Groups named ``EBSD`` (``Scan 1/EBSD``, ``1/EBSD``, ``EMData/EBSD``), shallowest
    first: EDAX/TSL, Oxford H5OINA, Bruker, kikuchipy and EMsoft files all have one."""
    return sorted((g for g in groups if g.rsplit("/", 1)[-1].upper() == "EBSD"), key=_depth_first)


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _ebsd(f: h5py.File, datasets: dict[str, Any], groups: list[str], facts: _Facts) -> None:
    """EBSD pattern files: the patterns (the largest image-like ``*pattern*`` array
    under an EBSD group) are the primary array; map size, step, pattern size, vendor
    and date come from the ``Header`` group."""
    facts.layout, facts.modality = "ebsd", "EM"
    under = tuple(g + "/" for g in groups)
    patterns = {
        n: d
        for n, d in datasets.items()
        if n.startswith(under)
        and "pattern" in n.rsplit("/", 1)[-1].lower()
        and _numeric(d)
        and 2 <= d.ndim <= 5
        and _image_like(d)
    }
    if patterns:
        facts.primary = _largest_image(patterns)
        facts.data_level = "raw"
    group = next((g for g in groups if facts.primary and facts.primary.startswith(g + "/")), None)
    group = group or groups[0]
    info: dict[str, Any] = {"scan": group.rsplit("/", 1)[0] if "/" in group else None}
    for key, names in (
        ("manufacturer", ("Manufacturer",)),
        ("version", ("Version", "Format Version")),
    ):
        for name in (n for base in names for n in (base, base.lower())):
            text = as_text(_small_value(_get(f, name))) or as_text(f.attrs.get(name))
            if text:
                info[key] = text
                break
    facts.instrument = info.get("manufacturer")
    header = {
        _key(n[len(group) + len("/Header/") :].rsplit("/", 1)[-1]): n
        for n in datasets
        if n.startswith(group + "/Header/")
    }
    for field, keys in EBSD_HEADER.items():
        found = next((header[k] for k in keys if k in header), None)
        value = _small_value(datasets[found]) if found else None
        if found is None or value is None:
            continue
        value = as_text(value) if isinstance(value, bytes | np.bytes_ | str) else value
        info[field] = jsonable(value)
        if field.startswith("step_"):
            info["step_unit"] = _unit(datasets[found]) or "µm"
    for key in EBSD_DATES:
        if key in header and facts.acquired is None:
            facts.acquired = parse_datetime(_small_value(datasets[header[key]]))
    facts.meta["ebsd"] = info


def _ebsd_summary(
    facts: _Facts, ds: h5py.Dataset, side: list[str], datasets: dict[str, Any]
) -> None:
    """What was found once the primary array is known: the pattern count and size and
    the per-pattern arrays (orientations, quality, positions)."""
    info = facts.meta.setdefault("ebsd", {})
    info["patterns"] = facts.primary
    if ds.ndim == 3:
        info["n_patterns"] = int(ds.shape[0])
        info["pattern_shape"] = [int(n) for n in ds.shape[1:]]
        per = [n for n in side if datasets[n].shape[0] == ds.shape[0]]
        info["per_pattern"] = [n.rsplit("/", 1)[-1] for n in per[:MAX_LISTED]]


def _get(f: h5py.File, name: str) -> Any:
    try:
        return f.get(name)
    except Exception:  # a broken link must not fail describe
        return None
