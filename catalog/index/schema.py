"""The DuckDB schema of a voxcat index; the only place state lives.

Tables: ``datasets`` (one row per dataset, normalised columns), ``files`` (every file
seen, with the dataset it belongs to), ``metadata`` (flattened nested metadata, one row
per dotted key, for search), ``tags``, ``notes``, ``lineage``, ``audit`` (append-only),
``scans`` and ``scan_issues`` (errors and warnings of each scan), ``settings``.
"""

from __future__ import annotations

import duckdb

from ..errors import IndexVersionError

SCHEMA_VERSION = 7

DDL = """
CREATE TABLE IF NOT EXISTS settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
CREATE SEQUENCE IF NOT EXISTS dataset_num_seq START 1;
CREATE TABLE IF NOT EXISTS datasets (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    path VARCHAR NOT NULL UNIQUE,      -- the dataset's file, or folder
    root VARCHAR,                      -- the scan root it was found under
    kind VARCHAR NOT NULL,             -- image | container | file
    format VARCHAR,                    -- reader name, or the file type of a non-image file
    reader VARCHAR,
    options JSON,                      -- what the reader needs to find the dataset again
    n_files INTEGER,
    size BIGINT,                       -- bytes on disk
    shape BIGINT[],
    dtype VARCHAR,
    axes VARCHAR,
    spacing DOUBLE[],                  -- metres per axis, aligned with axes (NULL if unknown)
    units VARCHAR[],                   -- original unit per axis
    voxel_size DOUBLE,                 -- largest spatial voxel size, metres
    voxel_size_x DOUBLE,
    voxel_size_y DOUBLE,
    voxel_size_z DOUBLE,
    modality VARCHAR,
    acquired TIMESTAMP,
    instrument VARCHAR,
    channels VARCHAR[],
    levels INTEGER,                    -- pyramid levels
    level_shapes JSON,
    data_level VARCHAR,                -- raw | reconstructed | processed | segmentation | ...
    sample VARCHAR,
    project VARCHAR,
    description VARCHAR,
    access VARCHAR,
    arrays JSON,
    meta JSON,
    checksum VARCHAR,                  -- blake3 of the content (location independent)
    signature VARCHAR,                 -- hash of (relative name, size, mtime) of the files
    thumbnail VARCHAR,                 -- path relative to the index's cache folder
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,
    modified TIMESTAMP,                -- newest mtime of its files
    status VARCHAR NOT NULL,           -- ok | failed | missing
    error VARCHAR,
    warnings VARCHAR[],
    user_set VARCHAR[],                -- fields set by a user; rescans keep them
    scan_id BIGINT,
    search_text VARCHAR,               -- lower-cased words of name, path, fields, metadata
                                       -- values, tags and notes (see search_text.py)
    tags VARCHAR[],                    -- copy of the tags table, for fast filters and facets
    num BIGINT DEFAULT nextval('dataset_num_seq')  -- row key of the terms index; a
                                       -- rewritten row gets a new one, never reused
);
CREATE TABLE IF NOT EXISTS terms (   -- words of search_text, for fast text search
    token VARCHAR,
    num BIGINT                         -- datasets.num
);
CREATE TABLE IF NOT EXISTS files (
    path VARCHAR PRIMARY KEY,
    dataset_id VARCHAR,
    size BIGINT,
    mtime DOUBLE,
    checksum VARCHAR,
    position INTEGER                  -- order inside the dataset (slices)
);
CREATE TABLE IF NOT EXISTS metadata (
    dataset_id VARCHAR,
    key VARCHAR,
    value VARCHAR,
    num DOUBLE
);
CREATE TABLE IF NOT EXISTS tags (
    dataset_id VARCHAR,
    tag VARCHAR,
    user_name VARCHAR,
    time TIMESTAMP,
    PRIMARY KEY (dataset_id, tag)
);
CREATE TABLE IF NOT EXISTS notes (
    dataset_id VARCHAR,
    text VARCHAR,
    user_name VARCHAR,
    time TIMESTAMP
);
CREATE TABLE IF NOT EXISTS lineage (
    child VARCHAR,
    parent VARCHAR,
    step VARCHAR,
    params JSON,
    user_name VARCHAR,
    time TIMESTAMP,
    provenance JSON                    -- script or notebook, code, package versions
);
CREATE SEQUENCE IF NOT EXISTS audit_seq START 1;
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT PRIMARY KEY,
    time TIMESTAMP,
    user_name VARCHAR,
    action VARCHAR,
    dataset_id VARCHAR,
    detail JSON,                       -- what changed, before/after where it applies
    prev_hash VARCHAR,                 -- hash of the row before (a chain: see audit.py)
    hash VARCHAR
);
CREATE SEQUENCE IF NOT EXISTS scan_seq START 1;
CREATE TABLE IF NOT EXISTS scans (
    scan_id BIGINT PRIMARY KEY,
    root VARCHAR,
    user_name VARCHAR,
    host VARCHAR,
    pid INTEGER,
    started TIMESTAMP,
    finished TIMESTAMP,
    status VARCHAR,                    -- running | done | interrupted | failed
    counts JSON
);
CREATE TABLE IF NOT EXISTS scan_issues (
    scan_id BIGINT,
    path VARCHAR,
    severity VARCHAR,                  -- error | warning
    message VARCHAR,
    time TIMESTAMP
);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables, migrate an older index; refuse one from a newer voxcat."""
    con.execute(DDL)
    row = con.execute("SELECT value FROM settings WHERE key = 'schema_version'").fetchone()
    if row is None:
        con.execute(
            "INSERT INTO settings VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
            [str(SCHEMA_VERSION)],
        )
        return
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise IndexVersionError(
            f"the index was written by a newer voxcat (schema {version} > {SCHEMA_VERSION}); "
            "upgrade voxcat to open it"
        )
    if version < 5:  # 2: search_text column; 3: tags column; 4, 5: terms table and num
        from .search_text import refresh_search_text

        con.execute("ALTER TABLE datasets ADD COLUMN IF NOT EXISTS search_text VARCHAR")
        con.execute("ALTER TABLE datasets ADD COLUMN IF NOT EXISTS tags VARCHAR[]")
        con.execute("ALTER TABLE datasets ADD COLUMN IF NOT EXISTS num BIGINT")
        con.execute("UPDATE datasets SET num = nextval('dataset_num_seq') WHERE num IS NULL")
        con.execute("ALTER TABLE datasets ALTER COLUMN num SET DEFAULT nextval('dataset_num_seq')")
        con.execute("DROP TABLE IF EXISTS terms")
        con.execute("CREATE TABLE terms (token VARCHAR, num BIGINT)")
        refresh_search_text(con)
    if version < 6:  # 6: the hash-chained audit log
        from .audit import rechain

        con.execute("ALTER TABLE audit ADD COLUMN IF NOT EXISTS prev_hash VARCHAR")
        con.execute("ALTER TABLE audit ADD COLUMN IF NOT EXISTS hash VARCHAR")
        rechain(con)
    if version < 7:  # 7: provenance of lineage links
        con.execute("ALTER TABLE lineage ADD COLUMN IF NOT EXISTS provenance JSON")
    if version < SCHEMA_VERSION:
        con.execute(
            "UPDATE settings SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
        )
