"""Curated subsets as self-contained folders that open without voxcat.

``export_catalog(cat.search(...), dest, mode="copy" | "link" | "zarr")`` writes the
data under ``data/`` (a BagIt payload), ``catalog.yaml`` (an intake 2 catalogue of
stock readers: it opens with intake, xarray, dask and zarr alone), ``datasets.parquet``,
a ``voxcat.duckdb`` index of the subset, ``thumbnails/``, ``lineage.json``,
``README.md``, BagIt manifests and an RO-Crate 1.1 ``ro-crate-metadata.json``. Files are
copied and hashed in one pass and checked against the index checksums
(``deep_verify=True`` also reads every copy back from the disk), an interrupted export
resumes, and every export is recorded in the audit log. ``dest`` may also be a URL in
object storage (``"s3://bucket/prefix"``, with ``storage_options``): the same export,
written there without staging the data (:mod:`.objects`).

>>> from catalog import open_catalog
>>> sub = open_catalog("lab.duckdb").search(project="rocks")    # doctest: +SKIP
>>> sub.export("/media/usb/rocks", mode="zarr").counts           # doctest: +SKIP
{'zarr (OME-Zarr 0.4 + xarray levels)': 14}
"""

from __future__ import annotations

from .run import MODES, ExportReport, export_catalog

__all__ = ["MODES", "ExportReport", "export_catalog"]
