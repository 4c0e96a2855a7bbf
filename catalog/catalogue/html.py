"""The notebook view of a catalogue: count, facet summary and a few thumbnails.

Everything a user or a file name supplied is escaped: names render as text, never as
HTML, on at most two lines (:func:`catalog.formatting.name_html`).
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING

from ..formatting import human_bytes, name_html
from ..index import cache_dir

if TYPE_CHECKING:  # pragma: no cover
    from .core import DuckDBCatalog

THUMBNAILS = 8
#: a card's name: at most this many characters (two lines of 120 px at 11 px); a
#: longer one is shortened in the middle, the full name in its title (on hover)
NAME_CHARS = 34
_FACETS = ("modality", "format", "data_level", "tags")


def _size(n: float | None) -> str:
    return human_bytes(n or 0)


def _thumb(cat: DuckDBCatalog, rel: str | None) -> str:
    if not rel:
        return (
            '<div style="width:96px;height:96px;background:var(--jp-layout-color2, #eee)"></div>'
        )
    path = cache_dir(cat.index) / rel
    try:
        data = base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return (
            '<div style="width:96px;height:96px;background:var(--jp-layout-color2, #eee)"></div>'
        )
    return (
        f'<img src="data:image/png;base64,{data}" '
        'style="width:120px;height:96px;object-fit:contain" alt="">'
    )


def catalogue_html(cat: DuckDBCatalog) -> str:
    """HTML summary of ``cat`` for ``_repr_html_``."""
    e = html.escape
    total = len(cat)
    where, params = cat._where()
    with cat._connect() as con:
        summed = con.execute(f"SELECT sum(size) FROM datasets d WHERE {where}", params).fetchone()
        assert summed is not None  # an aggregate without GROUP BY returns exactly one row
        size = summed[0]
        rows = con.execute(
            f"SELECT id, name, modality, shape, thumbnail FROM datasets d WHERE {where} "
            f"ORDER BY {cat._order_sql()} LIMIT {THUMBNAILS}",
            params,
        ).fetchall()
    facets = cat.facets(*_FACETS, limit=6)
    facet_html = "".join(
        f"<div><b>{e(field)}</b>: "
        + (", ".join(f"{e(str(v))} ({n})" for v, n in counts.items()) or "–")
        + "</div>"
        for field, counts in facets.items()
    )
    cards = "".join(
        '<figure style="display:inline-block;margin:4px;width:120px;vertical-align:top">'
        f"{_thumb(cat, thumb)}"
        f'<figcaption style="font-size:11px;word-break:break-all">{name_html(name, NAME_CHARS)}'
        f"<code>{e(ident)}</code> {e(mod or '')} "
        f"{e('x'.join(map(str, shape)) if shape else '')}</figcaption></figure>"
        for ident, name, mod, shape, thumb in rows
    )
    more = f"<div>… and {total - len(rows)} more</div>" if total > len(rows) else ""
    return (
        '<div class="voxcat-catalogue">'
        f"<div><b>voxcat catalogue</b>: {total} datasets, {_size(size)} "
        f"<small>({e(str(cat.index))})</small></div>"
        f'<div style="font-size:12px;margin:4px 0">{facet_html}</div>'
        f"<div>{cards}</div>{more}</div>"
    )
