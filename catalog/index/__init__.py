"""The DuckDB index: schema, short-lived connections with lock retry, writers."""

from .connection import Connection, cache_dir, connect, default_index, resolve_index, transaction
from .schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "Connection",
    "cache_dir",
    "connect",
    "default_index",
    "resolve_index",
    "transaction",
]
