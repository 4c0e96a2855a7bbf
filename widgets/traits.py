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
    front-end models; a long browsing session otherwise keeps every view it opened.
    A widget the front end still shows while it counts its views is closed once the
    last view is gone (:func:`close_when_unviewed`)."""
    for child in getattr(widget, "children", ()) or ():
        close_tree(child)
    close_when_unviewed(widget)


def close_when_unviewed(widget: Any) -> None:
    """Close ``widget`` now, or, while a front end reports views of it, when its view
    count (``_view_count``) drops to zero.

    JupyterLab counts the views of a widget only when asked to (ipyevents asks for the
    images it listens to) and then reports every view it removes. Closed at once, after
    being taken out of the page, such a widget receives that report after its comm is
    gone, and the kernel logs "No such comm" in JupyterLab's log console.

    >>> import ipywidgets as W
    >>> image = W.Image(); image.set_state({"_view_count": 1})  # shown once
    >>> close_when_unviewed(image); image.comm is None
    False
    >>> image.set_state({"_view_count": 0}); image.comm is None  # the view is gone
    True
    """
    count = getattr(widget, "_view_count", None)
    if count is None or count <= 0:
        widget.close()
        return

    def gone(change: dict[str, Any]) -> None:
        if change["new"] is None or change["new"] <= 0:
            widget.unobserve(gone, names="_view_count")
            widget.close()

    widget.observe(gone, names="_view_count")
