"""Storage chunks chosen by bytes: about 4-8 MB each (at most 16 MB), across every
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

import math
from collections.abc import Sequence

SPATIAL = ("z", "y", "x")
MAX_BYTES = 16 << 20  # an array up to this size is one chunk
TARGET_BYTES = 8 << 20  # bigger arrays: cut until a chunk is at most this (so 4-8 MB)


def _halve(n: int) -> int:
    """The largest power of two below ``n`` (at least half of ``n``)."""
    return 1 << ((n - 1).bit_length() - 1)


def chunks_for(
    dims: Sequence[str],
    shape: Sequence[int],
    itemsize: int,
    *,
    target: int = TARGET_BYTES,
    whole: int = MAX_BYTES,
) -> tuple[int, ...]:
    """Chunk shape for an array of ``shape`` (dimension names ``dims``) and ``itemsize``
    bytes per element: the whole array if it holds at most ``whole`` bytes, else cut
    (non-spatial dimensions first, then the largest spatial one) to at most ``target``.
    Each cut at most halves a chunk, so chunks of big arrays hold ``target / 2`` to
    ``target`` bytes."""
    chunk = [max(1, int(n)) for n in shape]
    itemsize = max(1, int(itemsize))
    if math.prod(chunk) * itemsize <= whole:
        return tuple(chunk)
    other = [i for i, d in enumerate(dims) if d not in SPATIAL]
    space = [i for i, d in enumerate(dims) if d in SPATIAL]
    while math.prod(chunk) * itemsize > target:
        group = [i for i in other if chunk[i] > 1] or [i for i in space if chunk[i] > 1]
        if not group:
            break
        i = max(group, key=lambda k: chunk[k])  # ties: the leading dimension
        chunk[i] = _halve(chunk[i])
    return tuple(chunk)
