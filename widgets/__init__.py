"""Notebook widgets over a voxcat catalogue (ipywidgets, hvplot, panel).

Builds on :mod:`catalog`; the search panel, thumbnail grid and slice browser arrive
with the widgets issue. Importing this package imports no widget library yet.
"""

from .errors import WidgetError

__all__ = ["WidgetError"]
