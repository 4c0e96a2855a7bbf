"""Migration off old drives: ``voxcat migrate --to DIR`` / ``cat.migrate(DIR)``.

The selected datasets are copied into ``DIR`` with the export copy engine
(:mod:`catalog.export.files`: hashed while copying, checked against the index
checksum, flushed, read back from the device) and each copy is recorded as a replica
location of its dataset (:mod:`catalog.replicas`), on the drive ``DIR`` lives on
(:mod:`catalog.volumes`). A rerun after an interruption, ``kill -9`` included, keeps
every journaled copy and never counts a half-written file; a changed source is refused
by name; ``convert="ome-zarr"`` records a derived dataset with lineage instead of a
replica; ``retire_source=True`` deletes a source only when ``min_copies`` verified
copies remain without it. Layout under ``DIR``: :mod:`.plan`.

>>> from catalog import migrate
>>> report = migrate("lab.duckdb", "/srv/lab-data", project="rocks", dry_run=True)  # doctest: +SKIP
>>> print(report)                                                                 # doctest: +SKIP
Dry run: would migrate 14 datasets (2310 files, 412.118 GB) to /srv/lab-data; nothing was written
Estimated time: 1.9 h (sources read at 121 MB/s, measured now; the target assumed as fast; ...)
"""

from __future__ import annotations

from .plan import layout_path
from .run import STATE_DIR, MigrationReport, migrate

__all__ = ["STATE_DIR", "MigrationReport", "layout_path", "migrate"]
