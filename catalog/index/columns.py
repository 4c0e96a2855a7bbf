"""The column registry: one row per column of the ``datasets`` table, and every list of
dataset fields voxcat keeps derived from it.

A :class:`Column` says what the column is (DuckDB type, hence its Arrow type) and
where it appears: search filters (``filter``, the kind of values it holds), the
listing snapshot and ``cat.df`` (``listing``, ``df``), text search (``text``), user
annotations (``user``), rescans of imported datasets (``imported``), catalogue entries
(``entry``), REST search rows (``row``), the JupyterLab detail view (``detail``) and
the notebook detail widget (``widget``). An ``int`` attribute is the column's position
in that list (lists keep their historical order), ``None`` leaves it out; the search
panels' default facets are the ``facet`` columns.

Adding a dataset field is one row here (plus a migration in :mod:`.schema` for
existing indexes): the DDL, the scan's Arrow schema, the snapshot, ``cat.df``, the
entry row, the filters, the REST rows and both detail views follow.

>>> [c.name for c in listed("user")]
['sample', 'project', 'data_level', 'description', 'access', 'modality']
>>> COLUMNS["acquired"].arrow_type_name
'timestamp[us]'
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

# kinds of values a search filter on a field holds (see catalog.catalogue.values)
TEXT, PATH, INT, BYTES, LENGTH, TIME, TEXT_LIST = (
    "text",
    "path",
    "int",
    "bytes",
    "length",
    "time",
    "text list",
)
#: a span of time in days: ``90``, ``"90d"``, ``"6mo"``, ``"5y"`` (catalog/risk.py)
DAYS = "days"

#: DuckDB base type -> Arrow type name (``pyarrow.type_for_alias``; ``T[]`` is ``list<T>``)
_ARROW = {
    "VARCHAR": "string",
    "JSON": "string",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "DOUBLE": "double",
    "TIMESTAMP": "timestamp[us]",
}


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of the ``datasets`` table and the lists it belongs to.

    >>> Column("sample", "VARCHAR", filter=TEXT).base_type
    'VARCHAR'
    """

    name: str
    #: DuckDB type with constraints and default, as written in ``CREATE TABLE``
    sql: str
    #: what the column holds (a comment in the DDL)
    comment: str = ""
    #: kind of values a search filter on it takes; ``None``: not a filter
    filter: str | None = None
    #: position in the listing snapshot (``listing.COLUMNS``)
    listing: int | None = None
    #: a snapshot column that is also a column of ``cat.df`` (in the snapshot's order)
    df: bool = False
    #: snapshot text column stored dictionary-encoded (few distinct values)
    dictionary: bool = False
    #: position among the columns free-text search reads (``search_text``)
    text: int | None = None
    #: position among the fields ``cat.set`` changes (kept by rescans once set)
    user: int | None = None
    #: an imported table's value is kept by a rescan when the files lack one
    imported: bool = False
    #: written by scans from Arrow rows (``store.DATASET_SCHEMA``)
    scanned: bool = True
    #: in a catalogue entry's metadata (``entries.ROW_COLUMNS``)
    entry: bool = True
    #: in the rows of the REST ``search`` route (a ``cat.df`` column)
    row: bool = False
    #: position among the facets search panels show by default
    facet: int | None = None
    #: position in the JupyterLab detail view's metadata table
    detail: int | None = None
    #: position in the notebook detail widget's metadata table
    widget: int | None = None
    #: the label people read (default: the name with spaces)
    label: str = ""
    #: how front ends show a value: ``bytes``, ``length``, ``shape``, ``time`` or
    #: ``value`` (default: from the type and filter kind)
    display: str = ""

    @property
    def base_type(self) -> str:
        """The DuckDB type without constraints, e.g. ``BIGINT[]``."""
        return self.sql.split()[0]

    @property
    def arrow_type_name(self) -> str:
        """The Arrow type name, e.g. ``list<int64>``."""
        base = self.base_type
        if base.endswith("[]"):
            return f"list<{_ARROW[base[:-2]]}>"
        return _ARROW[base]

    def arrow_type(self) -> pa.DataType:
        """The Arrow type scans write the column with (imports pyarrow)."""
        import pyarrow as pa

        base = self.base_type
        if base.endswith("[]"):
            return pa.list_(pa.type_for_alias(_ARROW[base[:-2]]))
        return pa.type_for_alias(_ARROW[base])

    @property
    def shown_as(self) -> str:
        """How a value is shown (``display``, else from the type and filter kind)."""
        if self.display:
            return self.display
        if self.base_type == "TIMESTAMP":
            return "time"
        return {BYTES: "bytes", LENGTH: "length"}.get(self.filter or "", "value")

    @property
    def shown_label(self) -> str:
        return self.label or self.name.replace("_", " ")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (served by the REST ``info`` route)."""
        out = dataclasses.asdict(self)
        out.update(label=self.shown_label, display=self.shown_as, arrow=self.arrow_type_name)
        return out


C = Column
# fmt: off
#: every column of ``datasets``, in table order
REGISTRY: tuple[Column, ...] = (
    C("id", "VARCHAR PRIMARY KEY", filter=TEXT, listing=2, df=True, row=True,
      detail=0, widget=0),
    C("name", "VARCHAR NOT NULL", filter=TEXT, listing=3, df=True, text=0, row=True,
      widget=1),
    C("path", "VARCHAR NOT NULL UNIQUE", "the dataset's file, or folder", filter=PATH,
      listing=19, df=True, text=1, detail=18, widget=2),
    C("root", "VARCHAR", "the scan root it was found under", filter=PATH),
    C("kind", "VARCHAR NOT NULL", "image | container | file", filter=TEXT, listing=1,
      dictionary=True),
    C("format", "VARCHAR", "reader name, or the file type of a non-image file", filter=TEXT,
      listing=4, df=True, dictionary=True, text=2, row=True, detail=1, widget=3, facet=1),
    C("reader", "VARCHAR", filter=TEXT),
    C("options", "JSON", "what the reader needs to find the dataset again"),
    C("n_files", "INTEGER", filter=INT, detail=9, label="files"),
    C("size", "BIGINT", "bytes on disk", filter=BYTES, listing=10, df=True, row=True,
      detail=8, widget=8, label="size on disk"),
    C("shape", "BIGINT[]", listing=6, df=True, row=True, detail=4, widget=5,
      display="shape"),
    C("dtype", "VARCHAR", filter=TEXT, listing=7, df=True, dictionary=True, text=9,
      row=True, detail=6, widget=6),
    C("axes", "VARCHAR", filter=TEXT, listing=8, df=True, dictionary=True, detail=5),
    C("spacing", "DOUBLE[]", "metres per axis, aligned with axes (NULL if unknown)"),
    C("units", "VARCHAR[]", "original unit per axis"),
    C("voxel_size", "DOUBLE", "largest spatial voxel size, metres", filter=LENGTH,
      listing=9, df=True, imported=True, row=True, detail=7, widget=7),
    C("voxel_size_x", "DOUBLE", filter=LENGTH, imported=True),
    C("voxel_size_y", "DOUBLE", filter=LENGTH, imported=True),
    C("voxel_size_z", "DOUBLE", filter=LENGTH, imported=True),
    C("modality", "VARCHAR", filter=TEXT, listing=5, df=True, dictionary=True, text=3,
      user=5, imported=True, row=True, detail=2, widget=4, facet=0),
    C("acquired", "TIMESTAMP", filter=TIME, listing=15, df=True, imported=True, row=True,
      detail=11, widget=9),
    C("instrument", "VARCHAR", filter=TEXT, listing=14, df=True, dictionary=True, text=4,
      imported=True, detail=12, widget=10, facet=6),
    C("channels", "VARCHAR[]", filter=TEXT_LIST, listing=16, df=True, imported=True,
      detail=13, widget=11),
    C("levels", "INTEGER", "pyramid levels", filter=INT, listing=17, df=True, detail=10,
      widget=12, label="pyramid levels"),
    C("level_shapes", "JSON"),
    C("data_level", "VARCHAR", "raw | reconstructed | processed | segmentation | ...",
      filter=TEXT, listing=11, df=True, dictionary=True, text=5, user=2, row=True,
      detail=3, widget=13, facet=2),
    C("sample", "VARCHAR", filter=TEXT, listing=12, df=True, dictionary=True, text=6,
      user=0, row=True, detail=14, widget=14, facet=4),
    C("project", "VARCHAR", filter=TEXT, listing=13, df=True, dictionary=True, text=7,
      user=1, row=True, detail=15, widget=15, facet=3),
    C("description", "VARCHAR", filter=TEXT, text=8, user=3, imported=True, detail=16,
      widget=16),
    C("access", "VARCHAR", filter=TEXT, listing=21, dictionary=True, user=4, detail=17,
      widget=17),
    C("arrays", "JSON"),
    C("meta", "JSON"),
    C("checksum", "VARCHAR", "blake3 of the content (location independent)", filter=TEXT,
      detail=19, widget=21),
    C("signature", "VARCHAR", "hash of (relative name, size, mtime) of the files",
      entry=False),
    C("thumbnail", "VARCHAR", "path relative to the index's cache folder"),
    C("first_seen", "TIMESTAMP", filter=TIME, detail=20, widget=22),
    C("last_seen", "TIMESTAMP", filter=TIME, detail=21, widget=23),
    C("modified", "TIMESTAMP", "newest mtime of its files", filter=TIME, detail=22),
    C("status", "VARCHAR NOT NULL", "ok | failed | missing | offline | registered", filter=TEXT, listing=18,
      df=True, dictionary=True, row=True, detail=23, widget=18),
    C("error", "VARCHAR", filter=TEXT, text=10, detail=24, widget=19),
    C("warnings", "VARCHAR[]", widget=20),
    C("user_set", "VARCHAR[]", "fields set by a user; rescans keep them"),
    C("scan_id", "BIGINT", filter=INT, entry=False),
    C("search_text", "VARCHAR", "lower-cased words of name, path, fields, metadata\n"
      "values, tags and notes (see search_text.py)", scanned=False, entry=False),
    C("tags", "VARCHAR[]", "copy of the tags table, for fast filters and facets",
      filter=TEXT_LIST, listing=20, df=True, row=True, scanned=False, entry=False, facet=5),
    C("num", "BIGINT DEFAULT nextval('dataset_num_seq')", "row key of the terms index; a\n"
      "rewritten row gets a new one, never reused", listing=0, scanned=False, entry=False),
    C("drive", "VARCHAR", "id of the drive it lives on (drives.id; NULL: object\n"
      "storage, or scanned before drives were recorded)", filter=TEXT),
    C("copies", "INTEGER DEFAULT 1", "places its content is known at, ok or offline (the\n"
      "locations table; catalog/replicas.py)", filter=INT, listing=22,
      scanned=False),
)
# fmt: on
del C

#: name -> column
COLUMNS: dict[str, Column] = {c.name: c for c in REGISTRY}

#: the lists a column can have a position in
ORDERED = ("listing", "text", "user", "facet", "detail", "widget")


def listed(attribute: str) -> list[Column]:
    """The columns in one list, in its order: a position attribute (``listing``,
    ``text``, ``user``, ``facet``, ``detail``, ``widget``; sorted by position) or a
    flag (``df``, ``dictionary``, ``imported``, ``scanned``, ``entry``, ``row``; table
    order, except ``df``, ``dictionary`` and ``row``, which follow the snapshot's).

    >>> [c.name for c in listed("listing")][:3]
    ['num', 'kind', 'id']
    """
    if attribute in ORDERED:
        chosen = [c for c in REGISTRY if getattr(c, attribute) is not None]
        return sorted(chosen, key=lambda c: getattr(c, attribute))
    source = listed("listing") if attribute in ("df", "dictionary", "row") else REGISTRY
    return [c for c in source if getattr(c, attribute)]


def names(attribute: str) -> tuple[str, ...]:
    """The names of :func:`listed` columns.

    >>> names("row")[:4]
    ('id', 'name', 'format', 'modality')
    """
    return tuple(c.name for c in listed(attribute))


def ddl() -> str:
    """The ``CREATE TABLE datasets`` statement, columns in registry order."""
    lines = []
    for i, c in enumerate(REGISTRY):
        text = f"    {c.name} {c.sql}{',' if i < len(REGISTRY) - 1 else ''}"
        if c.comment:
            first, *rest = c.comment.split("\n")
            text = f"{text:<38} -- {first}"
            text += "".join(f"\n{'':<38} -- {r}" for r in rest)
        lines.append(text)
    return "CREATE TABLE IF NOT EXISTS datasets (\n" + "\n".join(lines) + "\n);"


def describe() -> list[dict[str, Any]]:
    """The registry as JSON-ready dicts (what the REST ``info`` route serves).

    >>> describe()[0]["name"], describe()[0]["label"]
    ('id', 'id')
    """
    return [c.to_dict() for c in REGISTRY]
