"""A voxcat server in intake 2's own terms: a datatype and the reader that opens it.

intake 2 has two ways in. ``intake.open_catalog(url, driver="voxcat")`` is its v1-style
door: it calls the ``intake.drivers`` entry point ``voxcat`` (``catalog.catalogue:
open_catalog``) with the URL and keywords, which hands ``http(s)`` URLs to
:func:`catalog.client.open_remote`. Its native model is data + reader: here
:class:`VoxcatServer` (an ``intake.readers.datatypes.CatalogAPI``, like intake's own
``TiledService``) and :class:`VoxcatServerReader` (``output_instance`` a
:class:`~catalog.client.RemoteCatalog`, like intake's ``TiledCatalogReader``), so a
stock intake catalogue file can hold a lab's voxcat server as one entry.

>>> data = VoxcatServer("http://lab-server:8000")
>>> VoxcatServerReader(data).output_instance
'catalog.client.catalogue:RemoteCatalog'
>>> cat = data.to_reader(reader=VoxcatServerReader).read()   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, ClassVar

from intake.readers.datatypes import CatalogAPI
from intake.readers.readers import BaseReader

from .catalogue import RemoteCatalog, open_remote


class VoxcatServer(CatalogAPI):
    """A voxcat catalogue server (``voxcat serve``, or Jupyter with the voxcat
    extension) at ``url``; ``options`` are :func:`~catalog.client.open_remote`'s
    keywords (leave the token out of files you share: ``$VOXCAT_TOKEN`` is read)."""

    structure: ClassVar[set[str]] = {"catalog"}


class VoxcatServerReader(BaseReader):
    """Opens a :class:`VoxcatServer` as a :class:`~catalog.client.RemoteCatalog`.

    >>> reader = VoxcatServerReader(VoxcatServer("http://lab:8000"))
    >>> cat = reader.read(token="vxc_...")                       # doctest: +SKIP
    """

    implements: ClassVar[set[type]] = {VoxcatServer}
    output_instance = f"{RemoteCatalog.__module__}:{RemoteCatalog.__name__}"
    imports: ClassVar[set[str]] = {"intake"}

    def _read(self, data: VoxcatServer, **kwargs: Any) -> RemoteCatalog:
        options = {**(data.options or {}), **kwargs}
        return open_remote(data.url, **options)


__all__ = ["VoxcatServer", "VoxcatServerReader"]
