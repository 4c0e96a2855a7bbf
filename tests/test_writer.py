"""``catalog.index.writer``: the one writer of dataset rows (ids, user-set fields,
search text, audit), with real DuckDB index files and real scanned TIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from catalog import open_catalog, scan
from catalog.index import transaction
from catalog.index.audit import list_audit, verify_chain
from catalog.index.store import make_id
from catalog.index.writer import DatasetWriter, free_id

from .conftest import q


def test_free_id_lengthens_an_id_already_taken() -> None:
    first = make_id("/data/a.tif", None)
    taken = {first}
    again = free_id("/data/a.tif", None, taken)
    assert again != first and len(again) == 16 and taken == {first, again}
    assert free_id("/data/b.tif", None, taken) == make_id("/data/b.tif", None)


def test_a_row_written_is_searchable_and_audited_in_one_transaction(
    tmp_path: Path, volume: np.ndarray
) -> None:
    (tmp_path / "drive").mkdir()
    tifffile.imwrite(tmp_path / "drive" / "granite.tif", volume)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    path = str(tmp_path / "elsewhere" / "obsidian.tif")
    with transaction(index) as con:
        out = DatasetWriter(con, user="tester")
        taken: set[str] = set()
        (ident,) = out.new_ids([(path, "b3:feed")], taken)
        assert ident == make_id(path, "b3:feed") and taken == {ident}
        row = {"id": ident, "path": path, "name": "obsidian.tif", "status": "ok", "kind": "image"}
        row["sample"], row["user_set"] = "S9", None
        DatasetWriter.keep_user_fields(row, {"user_set": ["sample"], "sample": "S1"})
        assert row["sample"] == "S1" and row["user_set"] == ["sample"]
        out.replace([row], files=[], metas=[{"dataset_id": ident, "key": "k", "value": "v"}])
        out.audit([("test.added", ident, {"path": path})])
        out.commit()
    assert list(open_catalog(index).search("obsidian")) == [ident]
    (entry,) = list_audit(index, dataset=ident)
    assert entry["action"] == "test.added" and entry["user"] == "tester"
    assert verify_chain(index).ok
    assert q(index, "SELECT sample, user_set FROM datasets WHERE id = ?", [ident]) == [
        ("S1", ["sample"])
    ]
