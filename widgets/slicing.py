"""What the slice browser needs from a slicer (``catalog.preview.Slicer`` provides it),
and helpers that read its geometry.

>>> s = open_slicer(cat, "k2x9q4m1abcd")         # doctest: +SKIP
>>> spacing_of(s, "z"), level_count(s)           # doctest: +SKIP
(6.5e-06, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import xarray as xr

from catalog.catalogue import DuckDBCatalog

SPATIAL = ("z", "y", "x")


@runtime_checkable
class SlicerLike(Protocol):
    """A dataset seen as planes and regions: the interface of ``catalog.preview.Slicer``
    (``spacing``: metres per pixel of spatial dims; ``units``: unit per dim, ``"index"``
    where there is none; ``levels``: shapes, level 0 first)."""

    @property
    def dims(self) -> tuple[str, ...]: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def levels(self) -> Sequence[tuple[int, ...]]: ...

    @property
    def spacing(self) -> Mapping[str, float]: ...

    @property
    def units(self) -> Mapping[str, str]: ...

    def plane(
        self,
        dims: Sequence[str] = ...,
        at: Mapping[str, int] | None = ...,
        max_size: int | None = ...,
    ) -> xr.DataArray: ...

    def region(
        self,
        *,
        z: tuple[int | None, int | None] | None = ...,
        y: tuple[int | None, int | None] | None = ...,
        x: tuple[int | None, int | None] | None = ...,
        at: Mapping[str, int] | None = ...,
        max_size: int | None = ...,
    ) -> xr.DataArray: ...

    def contrast(
        self, percentiles: tuple[float, float] = ..., *, at: Mapping[str, int] | None = ...
    ) -> tuple[float, float]: ...

    def refresh(self) -> None: ...


def open_slicer(cat: DuckDBCatalog, dataset_id: str) -> SlicerLike:
    """The ``catalog.preview.Slicer`` of one dataset of ``cat``."""
    from catalog.preview import Slicer

    return Slicer.from_catalog(cat, dataset_id)


def spacing_of(slicer: SlicerLike, dim: str) -> float | None:
    """Metres per pixel of ``dim`` at level 0, ``None`` when unknown."""
    value = (slicer.spacing or {}).get(dim)
    return float(value) if value else None


def level_count(slicer: SlicerLike) -> int:
    """How many pyramid levels the dataset has (1: no pyramid or preview)."""
    return max(1, len(slicer.levels))


def size_of(slicer: SlicerLike, dim: str) -> int:
    """Pixels along ``dim`` at level 0."""
    return int(slicer.shape[list(slicer.dims).index(dim)])


def oriented(plane: xr.DataArray, dims: tuple[str, str]) -> xr.DataArray:
    """``plane`` with its dims in ``dims`` order (rows, columns)."""
    return plane.transpose(*dims) if tuple(plane.dims) != dims else plane


def physical_extents(slicer: SlicerLike, dims: Sequence[str]) -> dict[str, float]:
    """Physical length of each of ``dims`` (pixel counts when any spacing is unknown)."""
    spacing = {d: spacing_of(slicer, d) for d in dims}
    if any(v is None for v in spacing.values()):
        return {d: float(size_of(slicer, d)) for d in dims}
    return {d: size_of(slicer, d) * float(spacing[d]) for d in dims}  # type: ignore[arg-type]


def display_sizes(
    extents: Mapping[str, float], views: Mapping[str, tuple[str, str]], longest: int
) -> dict[str, tuple[int, int]]:
    """Pixel ``(height, width)`` of each view on a common scale (longest side ``longest``)."""
    scale = longest / max(extents.values())
    return {
        name: (max(32, round(extents[r] * scale)), max(32, round(extents[c] * scale)))
        for name, (r, c) in views.items()
    }
