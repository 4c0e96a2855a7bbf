"""Commands that read the index: ``voxcat search``, ``show`` and ``summary``.

    voxcat search sandstone --modality CT --voxel-size "<5um" --table
    voxcat search --where meta.ExposureTime=0.1..1 --where tags=porosity --json
    voxcat search --where 'meta.Comment=a\\,b \\.. c'   # a value holding "," and ".."
    voxcat show k2x9q4m1abcd
    voxcat summary --failed

On the command line a value ``lo..hi`` is a range (either end may be empty), ``a,b``
is a list (any of), a backslash makes ``,`` or ``..`` literal (``a\\,b``), and
everything else follows ``cat.search`` (globs, ``<5um``, ISO dates); see
:mod:`catalog.querytext`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..formatting import VOXEL_UNITS, human_bytes, human_length
from .arguments import add_index, add_selection, filters


def _missing(v: Any) -> bool:
    """Whether a table cell holds no value: None, NaN, pandas' NA or NaT."""
    if v is None:
        return True
    if isinstance(v, list | tuple | dict | set) or hasattr(v, "__array__"):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _fmt_size(n: Any) -> str:
    return "-" if _missing(n) else human_bytes(n, missing="-")


def _fmt_voxel(v: Any) -> str:
    return "-" if _missing(v) else human_length(v, units=VOXEL_UNITS, missing="-")


def _text(v: Any) -> str:
    return "-" if _missing(v) else str(v)


def _shape(dims: Any) -> str:
    if _missing(dims) or not hasattr(dims, "__len__") or len(dims) == 0:
        return "-"
    return "x".join(str(n) for n in dims)


def _cmd_search(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog

    cat = open_catalog(args.index, files=args.files)
    sub = cat.search(" ".join(args.text) or None, sort_by=args.sort, **filters(args))
    total = len(sub)
    shown = sub.head(args.limit) if args.limit else sub
    if args.ids:
        print("\n".join(shown))
        return 0
    df = shown.df
    if args.json:
        from ..paths import from_db, json_text, to_db

        # pandas writes only valid UTF-8: paths go through the index's form and back
        frame = df.reset_index()
        frame["path"] = frame["path"].map(to_db)
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        for record in records:
            record["path"] = from_db(record["path"])
        print(json_text({"total": total, "datasets": records}, indent=2))
        return 0
    print(
        f"{'id':13} {'name':36} {'format':9} {'mod':4} {'shape':16} {'voxel':9} {'level':13} size"
    )
    for ident, row in df.iterrows():
        shape = _shape(row["shape"])
        print(
            f"{ident:13} {_text(row['name'])[:36]:36} {_text(row['format'])[:9]:9} "
            f"{_text(row['modality'])[:4]:4} {shape[:16]:16} {_fmt_voxel(row['voxel_size']):9} "
            f"{_text(row['data_level'])[:13]:13} {_fmt_size(row['size'])}"
        )
    more = f" (showing {len(df)}; --limit 0 for all)" if total > len(df) else ""
    print(f"{total} datasets{more}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog
    from ..index import cache_dir, connect
    from ..paths import display, json_text

    cat = open_catalog(args.index, files=True)
    meta = cat[args.id].metadata
    with connect(cat.index, read_only=True) as con:
        n_files = con.execute(
            "SELECT count(*) FROM files WHERE dataset_id = ?", [args.id]
        ).fetchone()
        assert n_files is not None  # an aggregate without GROUP BY returns exactly one row
        meta["files"] = n_files[0]
        meta["lineage"] = [
            dict(zip(("parent", "child", "step", "params", "user", "time"), r))
            for r in con.execute(
                "SELECT parent, child, step, params, user_name, time FROM lineage "
                "WHERE child = ? OR parent = ? ORDER BY time",
                [args.id, args.id],
            ).fetchall()
        ]
        meta["history"] = [
            {"time": t, "user": u, "action": a, "detail": json.loads(d) if d else None}
            for t, u, a, d in con.execute(
                "SELECT time, user_name, action, detail FROM audit WHERE dataset_id = ? "
                "ORDER BY seq DESC LIMIT 20",
                [args.id],
            ).fetchall()
        ]
    if meta.get("thumbnail"):
        meta["thumbnail"] = str(cache_dir(cat.index) / meta["thumbnail"])
    if args.json:  # paths as open() takes them (undecodable bytes as \udcXX escapes)
        print(json_text(meta, indent=2, default=str))
        return 0
    order = ("id", "name", "path", "status", "error", "format", "kind", "shape", "dtype")
    keys = [k for k in order if k in meta] + sorted(k for k in meta if k not in order)
    skip = {"meta", "history", "lineage", "notes", "options", "arrays", "level_shapes"}
    for key in keys:
        if key in skip or meta[key] in (None, [], {}):
            continue
        value = display(meta[key]) if key in ("path", "root") else meta[key]
        print(f"{key:>14}: {value}")
    for note in meta["notes"]:
        print(f"{'note':>14}: {note['text']}  ({note['user']}, {note['time'][:16]})")
    for link in meta["lineage"]:
        print(f"{'lineage':>14}: {link['parent']} -> {link['child']} ({link['step']})")
    if meta.get("meta"):
        print(f"{'metadata':>14}: {json.dumps(meta['meta'], default=str)[:2000]}")
    for h in meta["history"][:5]:
        print(f"{'history':>14}: {str(h['time'])[:19]} {h['user']} {h['action']}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from ..summary import summary_text

    print(summary_text(args.index, failed=args.failed))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``search`` and ``show`` on the main parser."""
    p = sub.add_parser("search", help="find datasets (same semantics as cat.search)")
    add_selection(p, 'words that must all match; "quote phrases"')
    p.add_argument("--sort", default=None, help="sort field; --sort=-size for descending")
    p.add_argument("--limit", type=int, default=50, help="rows to show (0: all; default 50)")
    p.add_argument("--files", action="store_true", help="include non-image files")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON output")
    out.add_argument("--table", action="store_true", help="a table (the default)")
    out.add_argument("--ids", action="store_true", help="only the ids, one per line")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("show", help="everything the index knows about one dataset")
    p.add_argument("id")
    add_index(p)
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_cmd_show)


def add_summary(sub: argparse._SubParsersAction) -> None:
    """Register ``summary`` on the main parser."""
    p = sub.add_parser("summary", help="what the index holds: counts, formats, failures")
    add_index(p)
    p.add_argument(
        "--failed", action="store_true", help="list every failed dataset and scan issue"
    )
    p.set_defaults(func=_cmd_summary)
