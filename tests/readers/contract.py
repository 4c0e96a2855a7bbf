"""Helpers the format tests share. The reader contract itself is shipped as
:mod:`catalog.testing` (``from catalog.testing import ReaderContract, Sample``)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

from catalog.testing import ReaderContract, Sample

__all__ = ["ReaderContract", "Sample", "files_in", "index_rows"]


def files_in(path: Path) -> list[Path]:
    return sorted(Path(p) for p in (os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs))


def index_rows(index: Path) -> pd.DataFrame:
    """Every row of an index's datasets table, read on a connection of its own."""

    con = duckdb.connect(str(index), read_only=True)
    try:
        return con.execute("SELECT * FROM datasets").fetch_df()
    finally:
        con.close()
