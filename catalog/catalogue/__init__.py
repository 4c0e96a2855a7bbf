"""The Intake catalogue over a voxcat index: lazy entries, search, annotations.

>>> from catalog import open_catalog
>>> cat = open_catalog("lab.duckdb")                               # doctest: +SKIP
>>> sub = cat.search("sandstone", modality="CT", voxel_size="<5um")  # doctest: +SKIP
>>> da = sub[next(iter(sub))].read()                               # doctest: +SKIP
"""

from .core import DuckDBCatalog, open_catalog
from .entries import VoxcatReader

__all__ = ["DuckDBCatalog", "VoxcatReader", "open_catalog"]
