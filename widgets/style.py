"""The widgets' stylesheet: what ``ipywidgets.Layout`` cannot say (flex items that may
shrink below their content, text that wraps anywhere) and colours from JupyterLab's
theme variables, so the widgets fit their output area and follow the light and dark
themes. Scoped to the ``voxcat-*`` classes the widgets carry.

>>> "voxcat-card" in CSS
True
"""

from __future__ import annotations

import ipywidgets as W

CSS = """
.voxcat-browser, .voxcat-slices, .voxcat-detail, .voxcat-search, .voxcat-grid {
  max-width: 100%;
  min-width: 0;
  box-sizing: border-box;
}
.voxcat-browser .widget-box, .voxcat-browser .widget-gridbox,
.voxcat-slices .widget-box, .voxcat-detail .widget-box {
  min-width: 0;
  max-width: 100%;
}
.voxcat-card .widget-html-content, .voxcat-detail .widget-html-content {
  min-width: 0;
  flex: 1 1 auto;
}
.voxcat-card .widget-html { overflow: hidden; }
.voxcat-thumbnail { background: var(--jp-layout-color2, #eee); }
.voxcat-slices .widget-button, .voxcat-browser .widget-button { flex: 0 0 auto; }
.voxcat-facet .widget-select-multiple select { min-width: 0; }
.voxcat-error { color: var(--jp-error-color1, #b00); }
"""


def stylesheet() -> W.HTML:
    """An invisible ``HTML`` widget carrying :data:`CSS` (one per widget tree shown).

    >>> stylesheet().layout.display
    'none'
    """
    return W.HTML(f"<style>{CSS}</style>", layout=W.Layout(display="none"))
