"""JSON answers of a catalogue server as the objects the local catalogue returns: search
rows as ``cat.df`` (same columns, dtypes and index), dataset records as entry metadata
(times as ``datetime``), lineage as :class:`catalog.catalogue.lineage.Lineage`.

>>> parse_time("2024-03-05T10:00:00")
datetime.datetime(2024, 3, 5, 10, 0)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..index import columns

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..catalogue.lineage import Lineage

#: ``cat.df`` columns, in their order
DF_NAMES: tuple[str, ...] = columns.names("df")
#: columns of the server's search rows (a subset of ``DF_NAMES``)
ROW_NAMES: tuple[str, ...] = columns.names("row")
#: fields whose values are times (ISO text in JSON)
TIME_FIELDS = frozenset(c.name for c in columns.REGISTRY if c.base_type == "TIMESTAMP")


def parse_time(value: Any) -> Any:
    """An ISO time string as a ``datetime`` (others unchanged)."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def frame(rows: Sequence[Mapping[str, Any]], names: Iterable[str] | None = None) -> pd.DataFrame:
    """Search rows as ``cat.df`` would give them: the ``cat.df`` columns the rows hold
    (``names``, default those of the first row, else the server's usual row columns),
    in ``cat.df``'s order and with its dtypes, indexed by id."""
    import pyarrow as pa

    from ..catalogue.core import _nullable

    present = set(names if names is not None else (rows[0] if rows else ROW_NAMES))
    chosen = [n for n in DF_NAMES if n in present]
    arrays = []
    for name in chosen:
        values = [row.get(name) for row in rows]
        if name in TIME_FIELDS:
            values = [parse_time(v) for v in values]
        arrays.append(pa.array(values, type=columns.COLUMNS[name].arrow_type()))
    table = pa.table(arrays, names=chosen)
    return table.to_pandas(types_mapper=_nullable().get).set_index("id")


#: keys of a ``datasets/{id}`` answer that are not the dataset's metadata: the
#: lineage graph, and whether the sidebar should offer to build a preview pyramid
PAGE_ONLY = frozenset({"lineage", "preview_needed"})


def metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ``datasets/{id}`` answer as entry metadata: the index row, tags and notes
    as ``cat[id].metadata`` has them (times as ``datetime``), plus the server's
    ``thumbnail`` and ``slice`` image URLs; the lineage graph (``cat.lineage(id)``)
    and what the server tells its own pages (:data:`PAGE_ONLY`) are left out."""
    meta = {k: v for k, v in record.items() if k not in PAGE_ONLY}
    for key in TIME_FIELDS & meta.keys():
        meta[key] = parse_time(meta[key])
    return meta


def lineage(root: str, graph: Mapping[str, Any]) -> Lineage:
    """The ``lineage`` of a ``datasets/{id}`` answer (``nodes`` and ``edges``) as the
    local :class:`~catalog.catalogue.lineage.Lineage`: edge times as ``datetime``,
    ancestors and descendants found by walking the edges from ``root``."""
    from ..catalogue.lineage import Lineage

    nodes = {str(k): dict(v) for k, v in (graph.get("nodes") or {}).items()}
    edges = [{**e, "time": parse_time(e.get("time"))} for e in graph.get("edges") or []]
    return Lineage(
        root,
        nodes,
        edges,
        _reach(root, edges, "child", "parent"),
        _reach(root, edges, "parent", "child"),
    )


def _reach(start: str, edges: Sequence[Mapping[str, Any]], near: str, far: str) -> set[str]:
    """Every node reached from ``start`` along edges from their ``near`` to their
    ``far`` end (ancestors: child -> parent)."""
    found: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for edge in edges:
            if edge[near] == node and edge[far] not in found:
                found.add(edge[far])
                todo.append(edge[far])
    return found


__all__ = ["DF_NAMES", "ROW_NAMES", "TIME_FIELDS", "frame", "lineage", "metadata", "parse_time"]
