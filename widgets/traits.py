"""Widget plumbing: a catalogue trait that never compares with ``==``, and closing a
widget with everything inside it.

Traitlets decides whether to notify observers with ``old == new``; an intake
catalogue's ``==`` falls back to ``to_dict()``, which builds an entry for every
dataset (and refuses past 10,000). This trait notifies whenever a different object
is set, which is what a new search result is.

>>> import traitlets as T
>>> class Holder(T.HasTraits):
...     catalog = CatalogTrait()
"""

from __future__ import annotations

from typing import Any

import traitlets as T

from catalog.catalogue import DuckDBCatalog


class CatalogTrait(T.Instance):
    """``Instance(DuckDBCatalog)`` whose change test is identity (``is``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(DuckDBCatalog, **kwargs)

    def set(self, obj: T.HasTraits, value: Any) -> None:
        new = self._validate(obj, value)
        assert self.name is not None
        old = obj._trait_values.get(self.name, self.default_value)
        obj._trait_values[self.name] = new
        if old is not new:
            obj._notify_trait(self.name, old, new)


def close_tree(widget: Any) -> None:
    """Close ``widget`` and every widget under it (``children``), freeing their
    front-end models; a long browsing session otherwise keeps every view it opened."""
    for child in getattr(widget, "children", ()) or ():
        close_tree(child)
    widget.close()
