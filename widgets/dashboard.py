"""The catalogue dashboard: datasets and bytes per month, modality, project, data
level and drive, as hvplot bar charts in a responsive Panel layout.

Everything it draws comes from :meth:`catalog.catalogue.DuckDBCatalog.stats` (one
SQL query per chart pair); panel and hvplot are imported only when a dashboard is
built (importing them takes seconds), so ``import widgets`` stays light.

>>> from catalog import open_catalog
>>> from widgets import dashboard
>>> dashboard(open_catalog("lab.duckdb").search(modality="CT"))   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from catalog.formatting import human_bytes

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from catalog.catalogue import DuckDBCatalog

#: the groups a dashboard shows by default, in order (``DuckDBCatalog.stats`` keys)
GROUPS = ("month", "modality", "project", "data_level", "drive")
#: how a group without a value (unset modality, no date) is labelled
UNSET = "(unset)"
#: the narrowest a chart gets (pixels); two charts per row, one when narrower than two
MIN_WIDTH = 320
HEIGHT = 260
#: byte axis ticks in the decimal units of ``catalog.formatting.human_bytes``
_BYTES_JS = """
const units = ["B", "KB", "MB", "GB", "TB", "PB"];
let value = tick, i = 0;
while (Math.abs(value) >= 1000 && i < units.length - 1) { value /= 1000; i++; }
return (i === 0 ? value.toFixed(0) : value.toFixed(1)) + " " + units[i];
"""


def dashboard(cat: DuckDBCatalog, groups: Sequence[str] = GROUPS) -> Any:
    """A Panel layout of bar charts of ``cat``'s selection: for each of ``groups``,
    datasets and bytes on disk per group (the charts wrap two, then one, per row as
    the page narrows).

    >>> dashboard(cat, groups=("month", "drive"))              # doctest: +SKIP
    """
    import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
    import panel as pn
    from bokeh.models import BasicTicker, CustomJSTickFormatter

    frames = {group: _labelled(cat.stats(group), group) for group in groups}
    # every grouping adds up to the whole selection (unset values are a group)
    first = next(iter(frames.values()), None)
    total = int(first["datasets"].sum()) if first is not None else 0
    size = int(first["bytes"].sum()) if first is not None else 0
    byte_ticks = CustomJSTickFormatter(code=_BYTES_JS)
    charts: list[Any] = []
    for group, frame in frames.items():
        label = group.replace("_", " ")
        if frame.empty:
            charts.append(pn.pane.Markdown(f"No datasets to count per {label}."))
            continue
        # slanted labels when there are many, or long ones (drives are paths)
        slanted = len(frame) > 6 or max(len(v) for v in frame[group]) * len(frame) > 40
        common = dict(x=group, responsive=True, height=HEIGHT, rot=30 if slanted else 0)
        for y, title, extra in (
            (
                "datasets",
                f"Datasets per {label}",
                {"color": "#30678d", "yticks": BasicTicker(min_interval=1, num_minor_ticks=0)},
            ),
            ("bytes", f"Bytes per {label}", {"color": "#d95f02", "yformatter": byte_ticks}),
        ):
            plot = frame.hvplot.bar(
                y=y,
                title=title,
                xlabel=label,
                ylabel=y,
                hover_cols=[c for c in ("path", "datasets", "bytes") if c in frame],
                **common,
                **extra,
            )
            charts.append(
                pn.pane.HoloViews(
                    plot,
                    sizing_mode="stretch_width",
                    min_width=MIN_WIDTH,
                    height=HEIGHT,
                    styles={"flex": "1 1 45%"},
                )
            )
    head = pn.pane.Markdown(
        f"**{total} datasets, {human_bytes(size)}**", sizing_mode="stretch_width"
    )
    body = pn.FlexBox(*charts, flex_wrap="wrap", sizing_mode="stretch_width")
    return pn.Column(head, body, sizing_mode="stretch_width")


def _labelled(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    """The stats with readable category labels (``None`` becomes :data:`UNSET`); drives
    are named by their last folder (full path in a ``path`` column, shown on hover)."""
    frame = frame.copy()
    values = [UNSET if v is None else str(v) for v in frame[group]]
    if group == "drive":  # a drive by its folder's name when that is unambiguous
        frame["path"] = values
        names = [PurePath(v).name or v if v != UNSET else v for v in values]
        if len(set(names)) == len(names):
            values = names
    frame[group] = values
    return frame
