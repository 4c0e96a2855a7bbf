"""What previews and views need to know about one indexed dataset.

>>> ref = load_ref(open_catalog("lab.duckdb"), "k2x9q4m1abcd")   # doctest: +SKIP
>>> ref.axes, ref.shape, ref.spacing                             # doctest: +SKIP
('zyx', (1296, 1296, 1296), {'z': 1e-06, 'y': 1e-06, 'x': 1e-06})
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DatasetUnavailable
from ..paths import display
from ..readers.base import Source

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from ..catalogue import DuckDBCatalog


@dataclasses.dataclass
class DatasetRef:
    """One dataset's index row, where its files are, and how to open it lazily."""

    index: Path
    id: str
    meta: dict[str, Any]
    kwargs: dict[str, Any]
    entry: Any  # intake ReaderDescription

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.id)

    @property
    def label(self) -> str:
        """``dataset <id> (<name>)``, for messages."""
        return f"dataset {self.id} ({self.name})"

    @property
    def reader(self) -> str | None:
        return self.kwargs.get("reader")

    @property
    def axes(self) -> str:
        return str(self.meta.get("axes") or "")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.meta.get("shape") or ())

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta.get("dtype") or "float64")

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def levels(self) -> list[tuple[int, ...]]:
        shapes = self.meta.get("level_shapes") or [self.shape]
        return [tuple(int(n) for n in s) for s in shapes]

    @property
    def spacing(self) -> dict[str, float]:
        values = self.meta.get("spacing") or []
        return {a: float(v) for a, v in zip(self.axes, values) if v}

    @property
    def units(self) -> dict[str, str]:
        values = self.meta.get("units") or []
        return {a: str(u) for a, u in zip(self.axes, values) if u}

    @property
    def checksum(self) -> str | None:
        return self.meta.get("checksum")

    @property
    def is_labels(self) -> bool:
        """Integer label images (``data_level == "segmentation"``) downsample by mode."""
        return self.meta.get("data_level") == "segmentation" and self.dtype.kind in "biu"

    @property
    def source(self) -> Source:
        # entry arguments hold filesystem paths, or URLs of object storage
        return Source.at(
            self.kwargs["path"],
            self.kwargs.get("files") or (),
            self.kwargs.get("options") or {},
            self.kwargs.get("name"),
        )

    @property
    def where(self) -> str:
        return display(self.kwargs["path"])

    def read(self, level: int = 0) -> xr.DataArray:
        """The dataset (its primary array for a container) as a lazy DataArray."""
        import xarray as xr

        obj = self.entry.to_reader().read(level=level)
        if isinstance(obj, xr.Dataset):
            primary = obj.attrs.get("primary")
            if primary in obj.data_vars:
                obj = obj[primary]
            else:
                wanted = tuple(self.axes)
                same = [v for v in obj.data_vars.values() if tuple(v.dims) == wanted]
                if not same:
                    raise DatasetUnavailable(
                        f"{self.label} is a container without an image array with dims "
                        f"{wanted}; open it with cat[{self.id!r}].read()"
                    )
                obj = same[0]
        return obj


def view_coords(da: xr.DataArray) -> dict[str, dict[str, Any]]:
    """How level-0 coordinates of each dim are computed, as JSON: ``{"origin", "step",
    "units"}`` for physical dims, ``{"labels": [...]}`` for named ones (channels)."""
    out: dict[str, dict[str, Any]] = {}
    for d in da.dims:
        coord = da.coords.get(d)
        if coord is None:
            continue
        unit = coord.attrs.get("units")
        if d in ("z", "y", "x") and unit not in (None, "index"):
            values = np.asarray(coord.values, dtype=float)
            step = float(values[1] - values[0]) if values.size > 1 else 1.0
            out[str(d)] = {"origin": float(values[0]), "step": step, "units": str(unit)}
        elif coord.dtype == object:
            out[str(d)] = {"labels": [str(v) for v in coord.values]}
    return out


def load_ref(cat: DuckDBCatalog, dataset_id: str) -> DatasetRef:
    """The :class:`DatasetRef` of ``dataset_id`` in ``cat`` (raises ``DatasetNotFound``)."""
    entry = cat.entry(dataset_id)
    meta = dict(entry.metadata)
    status = meta.get("status")
    if status != "ok" or not meta.get("reader"):
        reason = meta.get("error") or (
            "it is missing since the last scan"
            if status == "missing"
            else "its drive is offline"
            if status == "offline"
            else "it is not an image"
        )
        raise DatasetUnavailable(
            f"dataset {dataset_id} ({meta.get('name')}) cannot be viewed: {reason}"
        )
    return DatasetRef(
        index=Path(cat.index), id=dataset_id, meta=meta, kwargs=dict(entry.kwargs), entry=entry
    )
