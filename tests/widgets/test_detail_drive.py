"""The notebook detail widget says which drive a dataset is on, and when that drive is
unplugged, that it is offline and which drive to plug in."""

from __future__ import annotations

import re

from catalog.catalogue import DuckDBCatalog, open_catalog
from catalog.drives import check_drives
from catalog.index import connect
from widgets import DatasetDetail

from ..absent_drive import on_absent_drive
from .conftest import ident


def test_detail_shows_the_drive_online_then_offline(writable: DuckDBCatalog) -> None:
    i = ident(writable, "sandstone_01_rec")
    d = DatasetDetail(writable, i)
    assert "<th" in d.table.value and "(online)</td>" in d.table.value
    with connect(writable.index, read_only=True) as con:
        (root,) = con.execute("SELECT path FROM roots").fetchone()
    on_absent_drive(writable.index, root, label="WD-2019")
    check_drives(writable.index)
    d = DatasetDetail(open_catalog(writable.index), i)
    html = d.table.value
    assert re.search(r"<th [^>]*>drive</th>", html)
    assert "on drive WD-2019 (offline)</td>" in html
    assert f"on drive WD-2019 (offline): plug it in; last seen at {root}" in html
    assert d.catalog.thumbnails([i])[i].is_file()  # the grid still shows it
    rows = html.split("<tr>")
    status = next(k for k, r in enumerate(rows) if ">status<" in r)
    assert ">drive<" in rows[status + 1] and ">offline<" in rows[status]
