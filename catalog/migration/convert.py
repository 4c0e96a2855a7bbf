"""``--convert ome-zarr``: a dataset converted by the export's Zarr conversion and
recorded as a new dataset derived from it (its bytes differ: not a replica)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ExportError, MigrationError
from ..export.files import Journal
from ..export.run import _Step
from ..index import connect, transaction
from ..index.store import append_audit, current_user
from ..paths import display, to_db
from .copy import engine_error
from .plan import Item

STEP = "migrate --convert ome-zarr"


def convert_one(
    sel: Any,
    index: Path,
    dest: Path,
    item: Item,
    journal: Journal,
    step: _Step,
    drive: str | None,
) -> dict[str, Any]:
    """Convert one dataset to OME-Zarr (the export's conversion, verified against the
    source) and record it as a new dataset derived from it."""
    from ..catalogue import open_catalog
    from ..catalogue.annotate import set_fields
    from ..catalogue.lineage import link
    from ..catalogue.save import inherited_fields, package_versions
    from ..export.run import _conversion_source, _convert, _stem
    from ..scanner.single import read_path, record_path

    row = item.row
    zpath = item.target.parent / f"{_stem(item.name)}.ome.zarr"
    zrel = zpath.relative_to(dest).as_posix()
    zdb = to_db(zpath)
    with connect(index, read_only=True) as con:
        known = con.execute("SELECT id FROM datasets WHERE path = ?", [zdb]).fetchone()
    if known is not None:  # converted and recorded by an earlier run
        derived = str(known[0])
        files = [f for p, f in journal.done.items() if p.startswith(zrel + "/")]
    else:
        src = open_catalog(index, files=True)[item.ident].read()
        image = row.get("kind") != "container"
        data, levels, _ = _conversion_source(sel, item.ident, src, image)
        try:
            files, shapes = _convert(data, levels, row, dest, zrel, journal, step, None)
        except ExportError as exc:
            raise engine_error(item, exc) from None
        res = read_path(zpath, index)
        if not res.ok:
            raise MigrationError(
                f"{item.ident} ({item.name}): the OME-Zarr written to {display(zpath)} "
                f"could not be indexed: {res.error}"
            )
        params = {
            "convert": "ome-zarr",
            "source": str(item.source),
            "to": str(dest),
            "levels": [list(s) for s in shapes],
        }
        user = current_user()
        with transaction(index) as con:
            derived = record_path(con, index, res)
            fields = {k: v for k, v in inherited_fields(index, [item.ident], con=con).items() if v}
            if fields:
                set_fields(index, [derived], fields, con=con)
            provenance = {
                "step": STEP,
                "params": params,
                "parents": [item.ident],
                "versions": package_versions(),
                "user": user,
            }
            link(
                index, derived, [item.ident], step=STEP, params=params,
                provenance=provenance, con=con,
            )  # fmt: skip
            if drive is not None:
                con.execute("UPDATE datasets SET drive = ? WHERE id = ?", [drive, derived])
                con.execute(
                    "UPDATE locations SET drive = ? WHERE dataset_id = ?", [drive, derived]
                )
            append_audit(
                con,
                [("migrate.convert", item.ident, {**params, "derived": derived})],
                user,
            )
    return {
        "name": item.name,
        "how": "converted to OME-Zarr",
        "path": display(zpath),
        "files": len(files),
        "bytes": sum(int(f.get("size") or 0) for f in files),
        "derived": derived,
    }
