"""The descriptive files of an export: ``catalog.yaml``, ``datasets.parquet``, the
``voxcat.duckdb`` index of the subset, thumbnails, ``lineage.json`` and ``README.md``.

Every file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..catalogue.entries import row_metadata
from ..index import Connection, cache_dir, connect
from ..index.search_text import refresh_search_text
from ..index.store import append_audit, current_user
from ..paths import display, from_db, to_db
from ..scanner.checksum import combine, is_sampled
from .files import TMP
from .select import Selection

INDEX_NAME = "voxcat.duckdb"


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    tmp = path.with_name(path.name + TMP)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    write(tmp)
    os.replace(tmp, path)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return _atomic(path, lambda t: t.write_text(text, encoding="utf-8"))


def _arrow(con: Connection, sql: str, params: list[Any] | None = None) -> Any:
    """A query's result as a pyarrow Table (DuckDB 1.x and 2.x)."""
    rel = con.sql(sql, params=params)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def jsonable(value: Any) -> Any:
    """Plain JSON/YAML types only (datetimes become ISO text)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def entry_metadata(sel: Selection, ident: str, export: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a catalogue entry: the index row, tags, notes, export facts."""
    row = {k: v for k, v in sel.rows[ident].items() if k not in ("search_text", "num")}
    meta = row_metadata(row)
    meta["source_path"] = meta.pop("path", None)
    meta.pop("root", None)
    meta.update(tags=sel.tags[ident], notes=sel.notes[ident], export=export)
    return jsonable(meta)


def write_catalog(
    path: Path, entries: dict[str, tuple[Any, dict[str, Any]]], meta: dict[str, Any]
) -> Path:
    """``catalog.yaml``: an intake 2 catalogue of stock readers, one alias per id."""
    from intake.readers.entry import Catalog

    cat = Catalog(metadata=jsonable(meta))
    for ident, (reader, metadata) in entries.items():
        reader.metadata.update(metadata)
        cat.add_entry(reader, name=ident)
        cat.aliases[ident] = ident  # add_entry sets no alias on its own (intake#814)
    return _atomic(path, lambda t: cat.to_yaml_file(str(t)))


def copy_thumbnails(sel: Selection, dest: Path) -> dict[str, str]:
    """``thumbnails/<id>.png`` (and the exported index's cache); returns id -> rel path."""
    src_cache = cache_dir(sel.index)
    out: dict[str, str] = {}
    folder = dest / "thumbnails"
    index_cache = cache_dir(dest / INDEX_NAME) / "thumbnails"
    for ident, row in sel.rows.items():
        if not row.get("thumbnail"):
            continue
        src = src_cache / from_db(row["thumbnail"])
        if not src.is_file():
            continue
        folder.mkdir(exist_ok=True)
        index_cache.mkdir(parents=True, exist_ok=True)
        target = folder / f"{ident}.png"
        _atomic(target, functools.partial(shutil.copyfile, src))
        cached = index_cache / target.name
        with contextlib.suppress(FileNotFoundError):
            cached.unlink()
        try:
            os.link(target, cached)
        except OSError:
            shutil.copyfile(target, cached)
        out[ident] = f"thumbnails/{ident}.png"
    return out


def write_index(
    sel: Selection,
    dest: Path,
    exported: dict[str, dict[str, Any]],
    thumbnails: dict[str, str],
    settings: dict[str, str],
) -> Path:
    """``voxcat.duckdb``: the index schema with only the exported datasets, their paths
    pointing at the exported copies, relative to the export folder (so that the folder
    can be moved: see :func:`catalog.paths.resolve_stored`). ``exported[id]`` holds
    ``path`` (relative), the payload ``files`` (relative path, size, mtime, b3,
    position) and row overrides."""
    import pyarrow as pa

    target = dest / INDEX_NAME
    tmp = target.with_name(target.name + TMP)
    for p in (tmp, Path(str(tmp) + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    ids = list(exported)
    rows, files = [], []
    for ident in ids:
        row = {k: v for k, v in sel.rows[ident].items() if k not in ("num", "search_text")}
        info = exported[ident]
        row.update(info.get("row", {}))
        row.update(
            path=to_db(info["path"]),
            root="data",
            thumbnail=thumbnails.get(ident),
            scan_id=None,
        )
        parts = []
        for f in info["files"]:
            files.append(
                {
                    "path": to_db(f["path"]),
                    "dataset_id": ident,
                    "size": f["size"],
                    "mtime": f["mtime_ns"] / 1e9,
                    "checksum": f["b3"],
                    "position": f["position"],
                }
            )
            parts.append((os.path.relpath(f["path"], info["path"]), f["b3"]))
        # a converted dataset, or one only sampled at scan time: the hash of the copy
        if ("checksum" in info.get("row", {}) or is_sampled(row.get("checksum"))) and parts:
            row["checksum"] = combine(parts) if len(parts) > 1 else parts[0][1]
        rows.append(row)
    with connect(tmp) as con:
        for table, items in (("datasets", rows), ("files", files)):
            if items:
                con.register("_t", pa.Table.from_pylist(items))
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _t")
                con.unregister("_t")
        with connect(sel.index, read_only=True) as src:
            for table, col in (
                ("metadata", "dataset_id"),
                ("tags", "dataset_id"),
                ("notes", "dataset_id"),
                ("lineage", "child"),
            ):
                part = _arrow(
                    src, f"SELECT * FROM {table} WHERE {col} IN (SELECT unnest(?))", [ids]
                )
                if part.num_rows:
                    con.register("_t", part)
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _t")
                    con.unregister("_t")
        con.executemany(
            "INSERT OR REPLACE INTO settings VALUES (?, ?)", [(k, v) for k, v in settings.items()]
        )
        refresh_search_text(con)
        append_audit(
            con,
            [("export.created", None, {"from": display(sel.index), "datasets": len(ids)})],
            current_user(),
        )
        con.execute("CHECKPOINT")
    os.replace(tmp, target)
    return target


def write_parquet(dest: Path, exported: dict[str, dict[str, Any]]) -> Path:
    """``datasets.parquet``: the exported index's dataset rows, paths relative."""
    import pyarrow.parquet as pq

    with connect(dest / INDEX_NAME, read_only=True) as con:
        table = _arrow(
            con,
            "SELECT * EXCLUDE (search_text, num, scan_id, signature) FROM datasets ORDER BY name",
        )
    ids = table.column("id").to_pylist()
    table = table.set_column(
        table.schema.get_field_index("path"), "path", [[exported[i]["path"] for i in ids]]
    )
    table = table.set_column(table.schema.get_field_index("root"), "root", [["data" for _ in ids]])
    for name in ("source_path", "export_how"):
        key = "source" if name == "source_path" else "how"
        table = table.append_column(name, [[exported[i][key] for i in ids]])
    return _atomic(dest / "datasets.parquet", lambda t: pq.write_table(table, t))


def write_lineage(dest: Path, sel: Selection) -> Path:
    """``lineage.json``: the links whose child is exported (parents flagged)."""
    doc = {
        "datasets": sorted(sel.rows),
        "ancestors_included": sel.ancestors,
        "links": jsonable(sel.lineage),
    }
    return write_text(dest / "lineage.json", json.dumps(doc, indent=2, ensure_ascii=False))


def readme(
    sel: Selection,
    exported: dict[str, dict[str, Any]],
    *,
    mode: str,
    query: str | None,
    license: str,
    user: str,
    when: dt.datetime,
    skipped: dict[str, dict[str, str]] | None = None,
) -> str:
    """The text of ``README.md``."""
    skipped = skipped or {}
    total = sum(f["size"] for e in exported.values() for f in e["files"])
    nfiles = sum(len(e["files"]) for e in exported.values())
    hows: dict[str, int] = {}
    for e in exported.values():
        hows[e["how"]] = hows.get(e["how"], 0) + 1
    lines = [
        f"# voxcat export: {len(exported)} datasets",
        "",
        f"- exported by **{user}** on {when:%Y-%m-%d %H:%M}",
        f"- from the index `{display(sel.index)}`",
        f"- selection: {query or 'explicit list of dataset ids'}",
        f"- mode: `{mode}`; {nfiles} payload files, {total / 1e9:.3f} GB",
        f"- ancestors added through lineage: {len(sel.ancestors)}",
        f"- licence: {license}",
        f"- left out because they cannot be read: {len(skipped)} (listed below)"
        if skipped
        else "- every selected dataset was exported",
        "",
        "## Open it",
        "",
        "With intake alone (no voxcat needed; intake, xarray, dask, zarr, fsspec, plus",
        "h5py/h5netcdf for HDF5 and NetCDF):",
        "",
        "```python",
        "import intake",
        'cat = intake.from_yaml_file("catalog.yaml")  # or intake.open_catalog(...)',
        "list(cat)                    # dataset ids",
        "da = cat[list(cat)[0]].read()  # lazy, dask-backed xarray",
        "cat[list(cat)[0]].metadata     # the index row, tags and notes",
        "```",
        "",
        'With voxcat: `open_catalog("voxcat.duckdb")` or `voxcat search --index voxcat.duckdb`.',
        "",
        "The folder can be moved or copied elsewhere as a whole: `catalog.yaml` and",
        "`voxcat.duckdb` refer to the data by paths relative to the folder.",
        "",
        "## Check it",
        "",
        "Any BagIt validator checks every data file against `manifest-sha256.txt` and the",
        "descriptive files against `tagmanifest-sha256.txt` (e.g. `bagit.py --validate .`);",
        "`voxcat verify --index voxcat.duckdb` re-hashes the data against the index.",
        "`voxcat.duckdb` is this folder's working index: voxcat records verifications",
        "(and any tags or notes you add) in it, so no manifest lists it and using it never",
        "breaks the bag's fixity. What it held when exported is fixed in",
        "`datasets.parquet` and `catalog.yaml`, which the tag manifest lists.",
        "",
        "## Contents",
        "",
        "| file | what |",
        "| --- | --- |",
        "| `data/<id>/` | the datasets (BagIt payload) |",
        "| `catalog.yaml` | intake catalogue (stock readers only) |",
        "| `datasets.parquet` | one row per dataset (index columns) |",
        "| `voxcat.duckdb` | voxcat index of this subset (working copy, not in manifests) |",
        "| `lineage.json` | how the datasets derive from each other |",
        "| `thumbnails/<id>.png` | previews |",
        "| `ro-crate-metadata.json` | RO-Crate 1.1 description |",
        "| `bagit.txt`, `manifest-sha256.txt`, ... | BagIt 1.0 fixity |",
        "",
        "## Datasets",
        "",
        "| id | name | format | shape | how it is opened |",
        "| --- | --- | --- | --- | --- |",
    ]
    for ident, e in exported.items():
        row = sel.rows[ident]
        shape = "x".join(str(n) for n in row.get("shape") or []) or "-"
        lines.append(f"| `{ident}` | {row['name']} | {row['format']} | {shape} | {e['how']} |")
    lines += ["", "Counts by method: " + ", ".join(f"{k}: {v}" for k, v in hows.items()), ""]
    if skipped:
        lines += [
            "## Left out: datasets that cannot be read",
            "",
            "| id | name | source | cause |",
            "| --- | --- | --- | --- |",
        ]
        for ident, d in skipped.items():
            cause = d["cause"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{ident}` | {d['name']} | `{d['path']}` | {cause} |")
        lines.append("")
    return "\n".join(lines)
