"""Preview pyramids and fast 2-D views of big datasets.

- :class:`Slicer`: planes and zoom/pan windows of one dataset, read from the coarsest
  fitting level and only where they intersect (what widgets and the REST API use);
- :func:`ensure_preview` / :func:`preview_job`: build a browsing pyramid (OME-Zarr in
  the index's cache folder or in object storage, keyed by checksum) for big datasets
  without their own;
- :func:`build_previews`: the missing previews of a whole selection (``voxcat preview``);
- :func:`prune_previews`: delete previews of data that changed or left the index;
- :func:`set_preview_location` / :func:`preview_place`: keep an index's previews in
  object storage (``s3://bucket/prefix``) instead of its cache folder
  (:mod:`catalog.preview.place`); views then read them in byte ranges.

>>> from catalog.preview import Slicer, preview_job
>>> job = preview_job("lab.duckdb", "k2x9q4m1abcd")          # doctest: +SKIP
>>> s = Slicer("lab.duckdb", "k2x9q4m1abcd")                 # doctest: +SKIP
>>> s.plane(("z", "x"), at={"y": 300}, max_size=512)         # doctest: +SKIP
"""

from __future__ import annotations

from .batch import PreviewReport, build_previews
from .jobs import PreviewJob, preview_job
from .place import PreviewPlace, preview_place, set_preview_location
from .slicer import Slicer
from .store import (
    PREVIEW_MIN_BYTES,
    ensure_preview,
    find_preview,
    preview_path,
    prune_previews,
)

__all__ = [
    "PREVIEW_MIN_BYTES",
    "PreviewJob",
    "PreviewPlace",
    "PreviewReport",
    "Slicer",
    "build_previews",
    "ensure_preview",
    "find_preview",
    "preview_job",
    "preview_path",
    "preview_place",
    "prune_previews",
    "set_preview_location",
]
