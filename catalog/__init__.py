"""voxcat's core: format readers, the DuckDB index, scanning and the Intake catalogue.

``import catalog`` is cheap and imports no Jupyter, panel or hvplot code; heavy modules
load on first use.

>>> from catalog import scan
>>> report = scan("/data/old_drive", index="lab.duckdb")     # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "scan": ("catalog.scanner", "scan"),
    "open_catalog": ("catalog.catalogue", "open_catalog"),
    "verify": ("catalog.integrity", "verify"),
    "export_catalog": ("catalog.export", "export_catalog"),
    "migrate": ("catalog.migration", "migrate"),
    "verify_audit": ("catalog.index.audit", "verify_chain"),
    "DuckDBCatalog": ("catalog.catalogue", "DuckDBCatalog"),
    "open_remote": ("catalog.client", "open_remote"),
    "RemoteCatalog": ("catalog.client", "RemoteCatalog"),
    "ScanReport": ("catalog.scanner", "ScanReport"),
    "connect": ("catalog.index", "connect"),
    "list_readers": ("catalog.readers", "list_readers"),
    "get_reader": ("catalog.readers", "get_reader"),
    "import_table": ("catalog.importer", "import_table"),
    "ImportReport": ("catalog.importer", "ImportReport"),
}

if TYPE_CHECKING:  # pragma: no cover
    from .catalogue import DuckDBCatalog, open_catalog
    from .client import RemoteCatalog, open_remote
    from .export import export_catalog
    from .importer import ImportReport, import_table
    from .index import connect
    from .index.audit import verify_chain as verify_audit
    from .integrity import verify
    from .migration import migrate
    from .readers import get_reader, list_readers
    from .scanner import ScanReport, scan


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'catalog' has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DuckDBCatalog",
    "ImportReport",
    "RemoteCatalog",
    "ScanReport",
    "__version__",
    "connect",
    "export_catalog",
    "get_reader",
    "import_table",
    "list_readers",
    "migrate",
    "open_catalog",
    "open_remote",
    "scan",
    "verify",
    "verify_audit",
]
