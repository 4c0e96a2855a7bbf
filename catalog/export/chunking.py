"""Storage chunks of exports chosen by bytes (the export policy of
:mod:`catalog.omezarr`): about 4-8 MB each (at most 16 MB), across every
dimension.

A chunk of a few megabytes keeps the number of files of a converted store small (one
per chunk) and each read efficient on disks and object stores, whatever the shape:
small arrays are one chunk, small non-spatial dimensions (angles, channels, time
points, stations) are kept whole in a chunk, and big arrays are cut first along their
non-spatial dimensions, then along their largest spatial one, to power-of-two sizes
(so pyramid levels halve whole chunks).

>>> chunks_for(("z", "y", "x"), (1800, 2048, 2448), 2)
(128, 128, 256)
>>> chunks_for(("t", "z", "y", "x"), (100, 64, 64, 64), 2)
(16, 64, 64, 64)
>>> chunks_for(("phony_dim_0",), (180,), 8)
(180,)
"""

from __future__ import annotations

from ..omezarr import EXPORT_MAX_BYTES as MAX_BYTES
from ..omezarr import EXPORT_TARGET_BYTES as TARGET_BYTES
from ..omezarr import export_chunks as chunks_for

__all__ = ["MAX_BYTES", "TARGET_BYTES", "chunks_for"]
