"""Lineage: which datasets were derived from which, by what step, with what parameters.

Edges live in the ``lineage`` table (``parent -> child``, step, params, user, time,
provenance). :func:`link` records edges for results made outside Python;
``cat.save`` records them for results saved from a notebook. :class:`Lineage` is the
graph around one dataset (all ancestors and descendants), printable as text and drawn
as an SVG picture in notebooks.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb

from ..errors import LineageError
from ..index import Connection, connect, transaction
from ..index.store import append_audit, current_user, now
from ..inputs import check_params_json, check_step
from .access import inherit_restriction

ANCESTORS_SQL = """
WITH RECURSIVE up(id, depth) AS (
    SELECT parent, 1 FROM lineage WHERE child IN (SELECT unnest(?))
    UNION
    SELECT l.parent, up.depth + 1 FROM lineage l JOIN up ON l.child = up.id WHERE up.depth < 1000
)
SELECT DISTINCT id FROM up
"""
DESCENDANTS_SQL = """
WITH RECURSIVE down(id, depth) AS (
    SELECT child, 1 FROM lineage WHERE parent IN (SELECT unnest(?))
    UNION
    SELECT l.child, down.depth + 1 FROM lineage l JOIN down ON l.parent = down.id
    WHERE down.depth < 1000
)
SELECT DISTINCT id FROM down
"""


def _existing(con: Connection, ids: Sequence[str]) -> set[str]:
    rows = con.execute("SELECT id FROM datasets WHERE id IN (SELECT unnest(?))", [list(ids)])
    return {i for (i,) in rows.fetchall()}


def link(
    index: str | os.PathLike[str],
    child: str,
    parents: Iterable[str],
    *,
    step: str,
    params: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    con: Connection | None = None,
) -> int:
    """Record that ``child`` was derived from ``parents`` by ``step``; returns the number
    of new edges. Refuses unknown ids, self-links and cycles. When a parent (or one of
    its ancestors) is restricted, ``child`` and the datasets derived from it become
    restricted too (:mod:`.access`)."""
    parents = list(dict.fromkeys(parents))
    if not parents:
        raise LineageError("link needs at least one parent id")
    if not step or not isinstance(step, str):
        raise LineageError("link needs a step name, e.g. step='threshold'")
    check_step(step)
    try:
        params_json = json.dumps(params or {}, default=str, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise LineageError(f"params must be JSON-serialisable: {exc}") from None
    check_params_json(params_json)
    if child in parents:
        raise LineageError(f"dataset {child} cannot be its own parent")
    if con is None:
        with transaction(index) as tx:
            return link(
                index, child, parents, step=step, params=params, provenance=provenance, con=tx
            )
    missing = [i for i in [child, *parents] if i not in _existing(con, [child, *parents])]
    if missing:
        raise LineageError(f"no dataset with id {', '.join(map(repr, missing))} in {index}")
    below = {i for (i,) in con.execute(DESCENDANTS_SQL, [[child]]).fetchall()}
    loops = [p for p in parents if p in below]
    if loops:
        raise LineageError(
            f"linking {child} to {', '.join(loops)} would make a cycle: "
            f"{', '.join(loops)} already derive(s) from {child}"
        )
    known = {
        p
        for (p,) in con.execute(
            "SELECT parent FROM lineage WHERE child = ? AND step = ? AND params = ?::JSON",
            [child, step, params_json],
        ).fetchall()
    }
    new = [p for p in parents if p not in known]
    user, t = current_user(), now()
    inherit_restriction(con, child, parents, user)  # derived from restricted: restricted
    if not new:
        return 0
    prov = json.dumps(provenance or {}, default=str)
    con.executemany(
        "INSERT INTO lineage (child, parent, step, params, user_name, time, provenance) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(child, p, step, params_json, user, t, prov) for p in new],
    )
    append_audit(
        con,
        [("link", child, {"parent": p, "step": step, "params": params or {}}) for p in new],
        user,
    )
    return len(new)


@dataclasses.dataclass
class Lineage:
    """The lineage graph around one dataset.

    ``nodes`` maps id -> ``{"name", "data_level", "format", "status"}``; ``edges`` is a
    list of ``{"parent", "child", "step", "params", "user", "time", "provenance"}``.
    """

    root: str
    nodes: dict[str, dict[str, Any]]
    edges: list[dict[str, Any]]
    ancestors: set[str]
    descendants: set[str]

    def restricted_to(self, shown: set[str]) -> Lineage:
        """The graph without the nodes outside ``shown`` (what an account may not see)
        and the edges that touch them; the root always stays."""
        keep = shown | {self.root}
        return Lineage(
            self.root,
            {i: n for i, n in self.nodes.items() if i in keep},
            [e for e in self.edges if e["parent"] in keep and e["child"] in keep],
            self.ancestors & keep,
            self.descendants & keep,
        )

    def parents(self, ident: str) -> list[str]:
        return sorted({e["parent"] for e in self.edges if e["child"] == ident})

    def children(self, ident: str) -> list[str]:
        return sorted({e["child"] for e in self.edges if e["parent"] == ident})

    def generations(self) -> list[list[str]]:
        """Nodes grouped by depth from the oldest ancestors (for drawing)."""
        depth: dict[str, int] = {}

        def level(n: str, seen: frozenset = frozenset()) -> int:
            if n in depth:
                return depth[n]
            ps = [p for p in self.parents(n) if p not in seen]
            depth[n] = 0 if not ps else 1 + max(level(p, seen | {n}) for p in ps)
            return depth[n]

        for n in self.nodes:
            level(n)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
        for n, d in sorted(depth.items(), key=lambda kv: self.nodes[kv[0]]["name"] or ""):
            out[d].append(n)
        return out

    def __str__(self) -> str:
        lines = []
        for g, ids in enumerate(self.generations()):
            for i in ids:
                node = self.nodes[i]
                mark = "*" if i == self.root else " "
                made = [
                    f"{e['step']}({self.nodes[e['parent']]['name'] or e['parent']})"
                    for e in self.edges
                    if e["child"] == i
                ]
                by = f"  <- {'; '.join(made)}" if made else ""
                lines.append(
                    f"{'  ' * g}{mark}{i} {node['name']} [{node['data_level'] or '-'}]{by}"
                )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return lineage_svg(self)


def lineage(index: str | os.PathLike[str], ident: str) -> Lineage:
    """All ancestors and descendants of ``ident`` with the edges between them."""
    with connect(index, read_only=True) as con:
        if not _existing(con, [ident]):
            raise LineageError(f"no dataset with id {ident!r} in {index}")
        ups = {i for (i,) in con.execute(ANCESTORS_SQL, [[ident]]).fetchall()}
        downs = {i for (i,) in con.execute(DESCENDANTS_SQL, [[ident]]).fetchall()}
        ids = sorted({ident} | ups | downs)
        nodes = {
            i: {"name": n, "data_level": lv, "format": f, "status": s}
            for i, n, lv, f, s in con.execute(
                "SELECT id, name, data_level, format, status FROM datasets "
                "WHERE id IN (SELECT unnest(?))",
                [ids],
            ).fetchall()
        }
        edges = [
            {
                "parent": p,
                "child": c,
                "step": st,
                "params": json.loads(pa) if pa else {},
                "user": u,
                "time": t,
                "provenance": json.loads(pv) if pv else {},
            }
            for p, c, st, pa, u, t, pv in con.execute(
                "SELECT parent, child, step, params, user_name, time, provenance FROM lineage "
                "WHERE child IN (SELECT unnest(?)) AND parent IN (SELECT unnest(?)) ORDER BY time",
                [ids, ids],
            ).fetchall()
        ]
    for i in ids:  # an edge to a dataset no longer in the index still shows
        nodes.setdefault(i, {"name": None, "data_level": None, "format": None, "status": "gone"})
    return Lineage(ident, nodes, edges, ups, downs)


RELATIVES_SQL = """
SELECT 'parent' AS relation, l.parent AS id, d.name, l.step, l.params, l.user_name, l.time
FROM lineage l LEFT JOIN datasets d ON d.id = l.parent WHERE l.child = ?
UNION ALL
SELECT 'child', l.child, d.name, l.step, l.params, l.user_name, l.time
FROM lineage l LEFT JOIN datasets d ON d.id = l.child WHERE l.parent = ?
ORDER BY 1 DESC, 7, 2
"""


def relatives(index: str | os.PathLike[str], ident: str) -> list[dict[str, Any]]:
    """The direct parents and children of ``ident``: one dict per edge with
    ``relation`` (``"parent"``/``"child"``), ``id``, ``name`` (``None`` for a dataset
    gone from the index), ``step``, ``params`` (JSON text), ``user_name``, ``time``;
    parents first, then oldest first. An index from before lineage was recorded
    has none (``[]``).

    >>> relatives("lab.duckdb", "k2x9q4m1abcd")          # doctest: +SKIP
    [{'relation': 'parent', 'id': 'p7d3...', 'name': 'rock_rec.tif', 'step': 'threshold', ...}]
    """
    try:
        with connect(index, read_only=True) as con:
            cur = con.execute(RELATIVES_SQL, [ident, ident])
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    except duckdb.CatalogException:  # an index from before lineage was recorded
        return []


def lineage_svg(g: Lineage, width: int = 190, height: int = 54, gap: int = 60) -> str:
    """A layered SVG drawing: oldest ancestors at the top, the root dataset outlined."""
    e = html.escape
    gens = g.generations()
    pos: dict[str, tuple[int, int]] = {}
    cols = max((len(x) for x in gens), default=1)
    w = cols * (width + 20) + 20
    h = len(gens) * (height + gap) + 20
    for row, ids in enumerate(gens):
        offset = (w - len(ids) * (width + 20)) // 2
        for col, i in enumerate(ids):
            pos[i] = (offset + 10 + col * (width + 20), 10 + row * (height + gap))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11">']
    for edge in g.edges:
        if edge["parent"] not in pos or edge["child"] not in pos:
            continue
        x1, y1 = pos[edge["parent"]]
        x2, y2 = pos[edge["child"]]
        a, b = (x1 + width // 2, y1 + height), (x2 + width // 2, y2)
        parts.append(
            f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="#888" '
            'marker-end="url(#arrow)"/>'
            f'<text x="{(a[0] + b[0]) // 2 + 4}" y="{(a[1] + b[1]) // 2}" fill="#555">'
            f"{e(str(edge['step']))}</text>"
        )
    for i, (x, y) in pos.items():
        node = g.nodes[i]
        stroke = "#d62728" if i == g.root else "#1f77b4"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6" fill="#f7f9fc" '
            f'stroke="{stroke}" stroke-width="{2 if i == g.root else 1}"/>'
            f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{e(str(node["name"])[:28])}</text>'
            f'<text x="{x + 8}" y="{y + 34}">{e(i)}</text>'
            f'<text x="{x + 8}" y="{y + 48}" fill="#555">'
            f"{e(str(node['data_level'] or '-'))} · {e(str(node['format'] or '-'))}</text>"
        )
    parts.insert(
        1,
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>',
    )
    parts.append("</svg>")
    return "".join(parts)
