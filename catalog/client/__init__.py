"""The remote catalogue: a voxcat server's catalogue in a notebook on any machine.

``open_remote(url, token=...)`` gives a :class:`RemoteCatalog` with the local
catalogue's API (``search``, ``len``, iteration, ``in``, ``cat[id].read()``, ``df``,
``facets``, ``tag``, ``note``, ``lineage``...) over the server's REST API, with the
permissions of the token's account. Errors are named (:mod:`catalog.errors`):
:class:`~catalog.errors.ServerUnreachable`, :class:`~catalog.errors.ServerTimeout`,
:class:`~catalog.errors.Unauthenticated` (401, or a token Jupyter refuses),
:class:`~catalog.errors.Forbidden` (403), :class:`~catalog.errors.DatasetNotFound`
(404 for an id), :class:`~catalog.errors.ServerError` (5xx),
:class:`~catalog.errors.NotAVoxcatServer`.

>>> from catalog.client import open_remote
>>> cat = open_remote("http://lab-server:8000", token="vxc_...")    # doctest: +SKIP
>>> cat.search(modality="CT").df                                    # doctest: +SKIP
"""

from __future__ import annotations

from .catalogue import RemoteCatalog, Selection, encode_filter, open_remote
from .reader import RemoteDatasetReader, map_path
from .transport import DEFAULT_TIMEOUT, TOKEN_ENV, Server

__all__ = [
    "DEFAULT_TIMEOUT",
    "TOKEN_ENV",
    "RemoteCatalog",
    "RemoteDatasetReader",
    "Selection",
    "Server",
    "encode_filter",
    "map_path",
    "open_remote",
]
