"""One dataset's details: metadata table, editable tags and notes, lineage.

Tags and notes are written through ``cat.tag`` / ``cat.untag`` / ``cat.note``, so every
change lands in the index's audit log. Everything shown is escaped text.

>>> detail = DatasetDetail(cat, "k2x9q4m1abcd")        # doctest: +SKIP
>>> detail.add_tags("porosity"); detail.add_note("ring artefacts at z=40")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as W
import traitlets as T

from catalog.catalogue import DuckDBCatalog, open_catalog
from catalog.errors import CatalogError
from catalog.index import columns
from catalog.paths import display

from .format import esc, human_bytes, human_length, human_shape, human_value

FIELDS = columns.names("widget")
_TABLE = 'style="border-collapse:collapse;font-size:12px;max-width:100%"'
# long paths and ids wrap anywhere rather than widen the table past its output
_HEAD = 'style="text-align:left;padding:1px 8px;vertical-align:top;white-space:nowrap"'
_CELL = 'style="text-align:left;padding:1px 8px;vertical-align:top;overflow-wrap:anywhere"'


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th {_HEAD}>{esc(k)}</th><td {_CELL}>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table {_TABLE}>{body}</table>"


def _field(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    shown = columns.COLUMNS[key].shown_as  # how the registry says to show it
    if shown == "shape":
        return human_shape(value, meta.get("axes"))
    if shown == "bytes":
        return human_bytes(value)
    if shown == "length":
        return human_length(value)
    if key == "path" and value:  # undecodable file-name bytes shown as \xNN
        return display(value)
    return human_value(value)


class DatasetDetail(W.VBox):
    """Metadata, tags, notes and lineage of ``cat[dataset_id]``.

    ``version`` counts the edits made here (observe it to refresh other views);
    ``message`` tells what the last edit did or why it failed.

    >>> d = DatasetDetail(cat, ident)                  # doctest: +SKIP
    >>> d.remove_tags("draft"); d.tags                 # doctest: +SKIP
    """

    version = T.Int(0)
    message = T.Unicode("")

    def __init__(self, cat: DuckDBCatalog, dataset_id: str) -> None:
        super().__init__(layout=W.Layout(width="100%", min_width="0"))
        self.add_class("voxcat-detail")
        self.catalog, self.dataset_id = cat, dataset_id
        # read through the whole index: an edit may move the dataset out of ``cat``
        self._all = open_catalog(cat.index, files=True)
        self.metadata: dict[str, Any] = {}
        self.lineage: list[dict[str, Any]] = []
        self.title = W.HTML()
        self.table = W.HTML()
        self.meta_view = W.HTML()
        self.tag_input = W.TagsInput(
            allow_duplicates=False, placeholder="add a tag", layout=W.Layout(max_width="100%")
        )
        self.notes_view = W.HTML()
        self.note_text = W.Textarea(
            placeholder="add a note",
            layout=W.Layout(width="auto", flex="1 1 240px", min_width="0", max_width="420px"),
        )
        self.note_button = W.Button(description="add note", icon="comment")
        self.status = W.Label()
        self.lineage_view = W.HTML()
        self._loading = False
        self.tag_input.observe(self._tags_edited, names="value")
        self.note_button.on_click(lambda _: self.add_note(self.note_text.value))
        self.observe(lambda ch: setattr(self.status, "value", ch["new"]), names="message")
        self.nested = W.Accordion(children=[self.meta_view], titles=("format metadata",))
        self.nested.selected_index = None
        self.lineage_box = W.VBox([W.HTML("<b>Lineage</b>"), self.lineage_view])
        self.children = [
            self.title,
            self.table,
            self.nested,
            W.HTML("<b>Tags</b>"),
            self.tag_input,
            W.HTML("<b>Notes</b>"),
            self.notes_view,
            W.HBox(
                [self.note_text, self.note_button],
                layout=W.Layout(flex_flow="row wrap", align_items="flex-start"),
            ),
            self.status,
            self.lineage_box,
        ]
        self.reload()

    @property
    def tags(self) -> list[str]:
        """The dataset's tags as stored in the index."""
        return list(self.metadata.get("tags") or [])

    @property
    def notes(self) -> list[dict[str, Any]]:
        """The dataset's notes (``text``, ``user``, ``time``), oldest first."""
        return list(self.metadata.get("notes") or [])

    # -- loading ----------------------------------------------------------------------
    def reload(self) -> None:
        """Read the dataset's row, tags, notes and lineage from the index again."""
        self.metadata = dict(self._all[self.dataset_id].metadata)
        meta = self.metadata
        self.title.value = (
            f"<h3 style='margin:4px 0;overflow-wrap:anywhere'>{esc(meta.get('name'))} "
            f"<small><code>{esc(self.dataset_id)}</code></small></h3>"
        )
        rows = [(k, _field(meta, k)) for k in FIELDS if k in meta]
        on_drive = meta.get("on_drive")
        if on_drive:  # "on drive WD-2019 (offline)", after the status
            at = next((i + 1 for i, (k, _) in enumerate(rows) if k == "status"), len(rows))
            rows.insert(at, ("drive", on_drive["text"]))
        self.table.value = _table(rows)
        nested = json.dumps(meta.get("meta") or {}, indent=1, default=str, ensure_ascii=False)
        self.meta_view.value = (
            "<pre style='font-size:11px;max-height:300px;overflow:auto;"
            f"white-space:pre-wrap;overflow-wrap:anywhere'>{esc(nested)}</pre>"
        )
        self._loading = True
        try:
            self.tag_input.value = self.tags
        finally:
            self._loading = False
        self.notes_view.value = (
            "".join(
                f"<div style='font-size:12px;margin:2px 0'><b>{esc(n['user'])}</b> "
                f"<small>{esc(n['time'][:19].replace('T', ' '))}</small>: "
                f"<span style='white-space:pre-wrap'>{esc(n['text'])}</span></div>"
                for n in self.notes
            )
            or "<i style='font-size:12px'>no notes</i>"
        )
        self.lineage = self._read_lineage()
        self.lineage_view.value = _table(
            [
                (row["relation"], f"{row['name']} ({row['id']}) · {row['step'] or ''}")
                for row in self.lineage
            ]
        )
        self.lineage_box.layout.display = None if self.lineage else "none"

    def _read_lineage(self) -> list[dict[str, Any]]:
        """Direct parents and children from the index (``cat.relatives``)."""
        return self.catalog.relatives(self.dataset_id)

    # -- edits ------------------------------------------------------------------------
    def _done(self, message: str) -> None:
        self.reload()
        self.message = message
        self.version += 1

    def _tags_edited(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        old, new = set(self.tags), set(change["new"])
        try:
            if new - old:
                self.add_tags(*sorted(new - old))
            if old - new:
                self.remove_tags(*sorted(old - new))
        except CatalogError as exc:
            self.message = f"⚠ {exc}"
            self.reload()

    def add_tags(self, *tags: str) -> int:
        """Tag the dataset (``cat.tag``, audited); returns how many tags were new."""
        n = self.catalog.tag(self.dataset_id, *tags)
        self._done(f"added {n} tag(s)")
        return n

    def remove_tags(self, *tags: str) -> int:
        """Remove tags (``cat.untag``, audited); returns how many were removed."""
        n = self.catalog.untag(self.dataset_id, *tags)
        self._done(f"removed {n} tag(s)")
        return n

    def add_note(self, text: str) -> None:
        """Attach a note (``cat.note``, audited) and clear the note box."""
        try:
            self.catalog.note(self.dataset_id, text)
        except CatalogError as exc:
            self.message = f"⚠ {exc}"
            return
        self.note_text.value = ""
        self._done("note added")
