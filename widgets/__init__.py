"""Notebook widgets over a voxcat catalogue (plain ipywidgets, PNG views).

>>> from catalog import open_catalog
>>> import widgets
>>> cat = open_catalog("lab.duckdb")               # doctest: +SKIP
>>> app = widgets.browse(cat); app                 # doctest: +SKIP

Each part works alone too: :class:`SearchPanel`, :class:`ThumbnailGrid`,
:class:`SliceBrowser`, :class:`DatasetDetail`. ``widgets.dashboard(cat)`` draws
the catalogue (datasets and bytes per month, modality, project, data level, drive)
as hvplot charts in a Panel layout.
"""

from .browse import Browser, browse
from .dashboard import dashboard
from .detail import DatasetDetail
from .errors import NotDisplayable, WidgetError
from .grid import ThumbnailGrid
from .search import SearchPanel
from .slices import SliceBrowser

__all__ = [
    "Browser",
    "DatasetDetail",
    "NotDisplayable",
    "SearchPanel",
    "SliceBrowser",
    "ThumbnailGrid",
    "WidgetError",
    "browse",
    "dashboard",
]
