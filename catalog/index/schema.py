"""The DuckDB schema of a voxcat index; the only place state lives.

Tables: ``datasets`` (one row per dataset, normalised columns: one row each in
:mod:`.columns`), ``files`` (every file seen, with the dataset it belongs to),
``metadata`` (flattened nested metadata, one row per dotted key, for search), ``tags``, ``notes``, ``lineage``, ``audit`` (append-only),
``scans`` and ``scan_issues`` (errors and warnings of each scan), ``settings``,
``users`` and ``tokens`` (lab accounts and the hashes of their API tokens:
:mod:`catalog.users`), ``drives`` and ``roots`` (the volume each scanned root lives
on: :mod:`catalog.drives`), ``locations`` (every place a dataset's content lives, its
replicas: :mod:`catalog.replicas`), ``policies`` (copies each data level needs:
:mod:`catalog.policies`).
"""

from __future__ import annotations

import duckdb

from ..errors import IndexVersionError
from . import columns

SCHEMA_VERSION = 12

_DDL = """
CREATE TABLE IF NOT EXISTS settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
CREATE SEQUENCE IF NOT EXISTS dataset_num_seq START 1;
{datasets}
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
    position INTEGER,                 -- order inside the dataset (slices)
    etag VARCHAR                      -- an object's ETag (object storage), else NULL
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
CREATE TABLE IF NOT EXISTS users (    -- lab accounts (catalog/users.py)
    name VARCHAR PRIMARY KEY,
    role VARCHAR,                      -- viewer | curator | admin
    groups VARCHAR[],                  -- for collaborator:GROUP access; 'restricted'
    password VARCHAR,                  -- scrypt$N$r$p$salt$hash, never the password
    created TIMESTAMP,
    disabled TIMESTAMP                 -- NULL while the account is active
);
CREATE TABLE IF NOT EXISTS drives (   -- volumes scanned roots live on (catalog/drives.py)
    id VARCHAR PRIMARY KEY,            -- filesystem UUID, else net:SOURCE or mount:PATH
    uuid VARCHAR,
    label VARCHAR,
    serial VARCHAR,                    -- device serial, where the OS exposes it
    fstype VARCHAR,
    device VARCHAR,                    -- /dev/sdb1 when last seen
    mount_point VARCHAR,               -- where it was last seen mounted (db path)
    capacity BIGINT,                   -- bytes
    used BIGINT,                       -- bytes, when last seen
    online BOOLEAN,                    -- mounted at the last scan or check
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,               -- last scan or check that found it mounted
    offsite BOOLEAN DEFAULT false,     -- kept off the lab's premises (policies.py)
    created TIMESTAMP                  -- the filesystem's creation time, where the OS
);                                     -- tells it (ext2/3/4: tune2fs), else NULL
CREATE TABLE IF NOT EXISTS roots (    -- every scanned folder and the drive it is on
    path VARCHAR PRIMARY KEY,          -- db path (rewritten when its drive moves)
    drive_id VARCHAR,                  -- drives.id
    rel VARCHAR,                       -- the path inside the drive ('' at its top)
    last_scanned TIMESTAMP
);
CREATE TABLE IF NOT EXISTS locations ( -- every place a dataset's content lives (replicas.py)
    dataset_id VARCHAR,
    path VARCHAR,                      -- db path; datasets.path is the primary one
    drive VARCHAR,                     -- drives.id; NULL: object storage or unknown
    status VARCHAR,                    -- ok | missing | offline | corrupt (verify)
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,
    last_verified TIMESTAMP,
    signature VARCHAR                  -- a replica's files (names, sizes, mtimes), as
);                                     -- datasets.signature: unchanged ones are not read
CREATE TABLE IF NOT EXISTS policies ( -- per data level: copies to keep (policies.py)
    data_level VARCHAR PRIMARY KEY,    -- lower-cased datasets.data_level
    copies INTEGER,                    -- verified copies needed
    offsite INTEGER,                   -- of them off the lab's drives (object storage
                                       -- or a drive marked offsite)
    keep BOOLEAN,                      -- must never be lost (at least one copy)
    verify_days INTEGER,               -- every copy verified within this many days
    user_name VARCHAR,
    updated TIMESTAMP
);
CREATE TABLE IF NOT EXISTS tokens (   -- API tokens: only a hash of each is stored
    hash VARCHAR PRIMARY KEY,          -- sha256 hex of the token
    user_name VARCHAR,
    created TIMESTAMP
);
"""
#: the whole schema; the ``datasets`` table comes from the column registry
DDL = _DDL.replace("{datasets}", columns.ddl())


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
    # 8: users and tokens tables; new tables only, made above by DDL (IF NOT EXISTS)
    if version < 9:  # 9: the ETag of each file in object storage
        con.execute("ALTER TABLE files ADD COLUMN IF NOT EXISTS etag VARCHAR")
    if version < 10:  # 10: the drive of each dataset (drives, roots: new tables)
        con.execute("ALTER TABLE datasets ADD COLUMN IF NOT EXISTS drive VARCHAR")
    if version < 11:  # 11: locations (replicas) and datasets.copies
        con.execute("ALTER TABLE datasets ADD COLUMN IF NOT EXISTS copies INTEGER DEFAULT 1")
        con.execute(
            "INSERT INTO locations SELECT id, path, drive, CASE status WHEN 'missing' THEN "
            "'missing' WHEN 'offline' THEN 'offline' ELSE 'ok' END, first_seen, last_seen, "
            "NULL, signature FROM datasets WHERE id NOT IN (SELECT dataset_id FROM locations)"
        )
    if version < 12:  # 12: policies (a new table, made above), drives.offsite, created
        con.execute("ALTER TABLE drives ADD COLUMN IF NOT EXISTS offsite BOOLEAN DEFAULT false")
        con.execute("ALTER TABLE drives ADD COLUMN IF NOT EXISTS created TIMESTAMP")
    if version < SCHEMA_VERSION:
        con.execute(
            "UPDATE settings SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
        )
