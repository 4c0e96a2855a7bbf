"""Drives: the volume every scanned root lives on, and what happens when it is unplugged.

A scan records the drive of its root (``drives`` and ``roots`` tables; the ``drive``
column of each dataset): filesystem UUID, label, device serial where the OS exposes
it, mount point, capacity and used bytes (:mod:`catalog.volumes`). Later:

- a rescan of a root whose drive is not mounted, or :func:`check_drives` (``voxcat
  drives``),
  marks its datasets ``offline`` on that drive, not ``missing``: they stay searchable
  with their thumbnails, previews and metadata, and reading one says which drive to
  plug in (:func:`offline_message`);
- a drive mounted at another path is recognised by its UUID: its datasets keep their
  ids, their stored paths are rewritten to the new mount point (audited, ``drive.moved``);
- when it is back, its datasets are ``ok`` again.

A drive the OS names by no UUID (a filesystem without one, or an OS voxcat cannot ask)
is known by its mount point (``mount:/mnt/x``): it still goes offline when unmounted,
but mounted elsewhere it is another drive.

>>> from catalog.drives import list_drives
>>> for d in list_drives("lab.duckdb"):                            # doctest: +SKIP
...     print(d.name, d.where, d.datasets, d.only_here)
WD-2019 offline 1832 12
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any

import duckdb

from . import replicas
from .errors import DriveConflict
from .index import connect, resolve_index, transaction
from .index.connection import Connection
from .index.store import append_audit, current_user, now
from .index.writer import DatasetWriter
from .paths import display, from_db, to_db
from .volumes import Volume, filesystem_created, find_mounted, mounted_volumes, volume_of

OFFLINE = "offline"


def offline_message(label: str | None, mount_point: str | None) -> str:
    """What a dataset on an unplugged drive says when it is read.

    >>> offline_message("WD-2019", "/media/lab/WD-2019")
    'on drive WD-2019 (offline): plug it in; last seen at /media/lab/WD-2019'
    """
    where = f"; last seen at {display(from_db(mount_point))}" if mount_point else ""
    return f"on drive {label or '?'} (offline): plug it in{where}"


def _name(label: str | None, uuid: str | None, mount_point: str | None) -> str:
    return label or (uuid or "")[:8] or (Path(mount_point or "/").name or "/")


@dataclasses.dataclass
class Drive:
    """One drive as ``voxcat drives`` lists it.

    >>> Drive("a4de", "WD-2019", None, None, "/media/WD-2019", False).where
    'offline'
    """

    id: str
    label: str | None
    uuid: str | None
    serial: str | None
    mount_point: str | None  # where it was last seen
    online: bool
    fstype: str | None = None
    capacity: int | None = None
    used: int | None = None
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    last_verified: dt.datetime | None = None
    datasets: int = 0
    bytes: int = 0
    #: datasets (and their bytes) with no other copy of the same checksum in the index
    only_here: int = 0
    only_here_bytes: int = 0
    only_here_ids: list[str] = dataclasses.field(default_factory=list)
    roots: list[str] = dataclasses.field(default_factory=list)
    #: kept off the lab's premises (catalog/policies.py), and its filesystem's creation
    #: time where the OS told it (its age: catalog/risk.py)
    offsite: bool = False
    created: dt.datetime | None = None

    @property
    def name(self) -> str:
        """The label, else the UUID's start, else the mount point's folder."""
        return _name(self.label, self.uuid, self.mount_point)

    @property
    def where(self) -> str:
        """The mount point when mounted, else ``"offline"``."""
        return display(from_db(self.mount_point)) if self.online and self.mount_point else OFFLINE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO text)."""
        out = dataclasses.asdict(self)
        for key in ("first_seen", "last_seen", "last_verified", "created"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        out.update(name=self.name, where=self.where)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Drive:
        """The drive :meth:`to_dict` gave (a server's ``drives`` route).

        >>> d = Drive("a4de", "WD-2019", None, None, "/media/WD-2019", False)
        >>> Drive.from_dict(d.to_dict()) == d
        True
        """
        known = {f.name for f in dataclasses.fields(cls)}
        args = {k: v for k, v in data.items() if k in known}
        for key in ("first_seen", "last_seen", "last_verified"):
            if args.get(key) is not None:
                args[key] = dt.datetime.fromisoformat(args[key])
        return cls(**args)


# -- writes (inside the caller's transaction) -------------------------------------------


def record(con: Connection, root_db: str, vol: Volume, scan_id: int | None = None) -> None:
    """Record that the root ``root_db`` is on ``vol`` (mounted now), and, with
    ``scan_id``, that the datasets that scan saw are on it."""
    t = now()
    con.execute(
        """INSERT INTO drives (id, uuid, label, serial, fstype, device, mount_point,
            capacity, used, online, first_seen, last_seen)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, true, ?, ?)
        ON CONFLICT (id) DO UPDATE SET uuid = excluded.uuid,
            label = excluded.label, serial = coalesce(excluded.serial, drives.serial),
            fstype = excluded.fstype, device = excluded.device,
            mount_point = excluded.mount_point, capacity = excluded.capacity,
            used = excluded.used, online = true, last_seen = excluded.last_seen""",
        [
            vol.id,
            vol.uuid,
            vol.label,
            vol.serial,
            vol.fstype,
            vol.device,
            to_db(vol.mount_point),
            vol.capacity,
            vol.used,
            t,
            t,
        ],
    )
    made = con.execute("SELECT created FROM drives WHERE id = ?", [vol.id]).fetchone()
    if made is not None and made[0] is None:  # its age (catalog/risk.py), asked once
        created = filesystem_created(vol)
        if created is not None:
            con.execute("UPDATE drives SET created = ? WHERE id = ?", [created, vol.id])
    rel = os.path.relpath(from_db(root_db), vol.mount_point)
    con.execute(
        """INSERT INTO roots VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET
            drive_id = excluded.drive_id, rel = excluded.rel,
            last_scanned = excluded.last_scanned""",
        [root_db, vol.id, "" if rel == "." else to_db(rel), t],
    )
    if scan_id is not None:
        con.execute(
            "UPDATE datasets SET drive = ? WHERE scan_id = ? AND drive IS DISTINCT FROM ?",
            [vol.id, scan_id, vol.id],
        )


def _under(column: str) -> str:
    return f"({column} = ? OR starts_with({column}, ?))"


def _prefix(path: str) -> list[str]:
    return [path, path.rstrip("/") + "/"]


def relocate(con: Connection, drive_id: str, new_mount: str, user: str | None = None) -> int:
    """The drive ``drive_id`` is now mounted at ``new_mount`` (a filesystem path):
    rewrite the stored paths of its datasets, files and roots from its old mount point
    to the new one (ids, tags and notes stay); audited. Returns how many datasets
    moved."""
    row = con.execute("SELECT mount_point FROM drives WHERE id = ?", [drive_id]).fetchone()
    new = to_db(new_mount)
    if row is None or row[0] is None or row[0] == new:
        return 0
    old = row[0]
    cut = len(old.rstrip("/")) + 1  # 1-based position after the old mount point
    base = new.rstrip("/")

    def moved(column: str) -> str:
        return f"? || substr({column}, {cut})"

    ids = [
        i
        for (i,) in con.execute(
            f"SELECT id FROM datasets WHERE drive = ? AND {_under('path')}",
            [drive_id, *_prefix(old)],
        ).fetchall()
    ]
    if ids:
        clash = con.execute(
            f"SELECT o.path, o.status FROM datasets d JOIN datasets o "
            f"ON o.path = {moved('d.path')} WHERE d.id IN (SELECT unnest(?)) "
            "AND o.id NOT IN (SELECT unnest(?)) LIMIT 1",
            [base, ids, ids],
        ).fetchone()
        if clash is not None:
            raise DriveConflict(
                f"drive {drive_id} is now mounted at {display(new_mount)}, but the index "
                f"holds {display(from_db(clash[0]))} for another dataset ({clash[1]}, from "
                "a drive once mounted there); unmount the drive and mount it at another "
                "place, or at its old one"
            )
        con.execute(
            f"UPDATE datasets SET path = CASE WHEN path = ? THEN ? ELSE {moved('path')} END, "
            f"root = CASE WHEN root = ? THEN ? WHEN {_under('root')} THEN {moved('root')} "
            "ELSE root END WHERE id IN (SELECT unnest(?))",
            [old, new, base, old, new, *_prefix(old), base, ids],
        )
        con.execute(
            f"UPDATE files SET path = {moved('path')} "
            f"WHERE dataset_id IN (SELECT unnest(?)) AND {_under('path')}",
            [base, ids, *_prefix(old)],
        )
    con.execute(  # every location on the drive, replicas too
        f"UPDATE locations SET path = {moved('path')} WHERE drive = ? AND {_under('path')}",
        [base, drive_id, *_prefix(old)],
    )
    for (path,) in con.execute("SELECT path FROM roots WHERE drive_id = ?", [drive_id]).fetchall():
        if path == old or path.startswith(old.rstrip("/") + "/"):
            target = new if path == old else base + path[cut - 1 :]
            con.execute("UPDATE roots SET path = ? WHERE path = ?", [target, path])
            con.execute(
                "UPDATE settings SET key = ? WHERE key = ?",
                ["pattern:" + target, "pattern:" + path],
            )
    con.execute("UPDATE drives SET mount_point = ? WHERE id = ?", [new, drive_id])
    out = DatasetWriter(con, user)
    out.written(ids)  # the search text holds the path
    detail = {"drive": drive_id, "from": old, "to": new}
    out.audit([("drive.moved", None, {**detail, "datasets": len(ids)})])
    out.audit(("drive.moved", i, detail) for i in ids)
    out.commit()
    return len(ids)


def go_offline(con: Connection, drive_id: str, user: str | None = None) -> int:
    """The drive is not mounted: its ``ok`` datasets become ``offline``, their error
    says which drive to plug in; audited once per drive. Returns how many changed."""
    row = con.execute(
        "SELECT label, uuid, mount_point FROM drives WHERE id = ?", [drive_id]
    ).fetchone()
    if row is None:
        return 0
    label, uuid, mount_point = row
    message = offline_message(_name(label, uuid, mount_point), mount_point)
    con.execute("UPDATE drives SET online = false WHERE id = ?", [drive_id])
    went = [
        i
        for (i,) in con.execute(
            "UPDATE datasets SET status = 'offline', error = ? WHERE drive = ? "
            "AND status = 'ok' RETURNING id",
            [message, drive_id],
        ).fetchall()
    ]
    away = con.execute(  # every location on it, replicas too (catalog/replicas.py)
        "UPDATE locations SET status = 'offline' WHERE drive = ? AND status = 'ok' "
        "RETURNING dataset_id",
        [drive_id],
    ).fetchall()
    replicas.settle(con, [i for (i,) in away])  # ok while a copy elsewhere is
    still = con.execute(
        "SELECT count(*) FROM datasets WHERE id IN (SELECT unnest(?)) AND status = 'offline'",
        [went],
    ).fetchone()
    count = int(still[0]) if still else 0
    if count:
        append_audit(
            con,
            [("drive.offline", None, {"drive": drive_id, "datasets": count})],
            user or current_user(),
        )
    return count


def come_online(con: Connection, vol: Volume) -> int:
    """The drive is mounted (where the index says, after :func:`relocate`): its
    ``offline`` datasets whose path is there are ``ok`` again. Returns how many."""
    con.execute(
        "UPDATE drives SET online = true, last_seen = ?, used = ?, capacity = ? WHERE id = ?",
        [now(), vol.used, vol.capacity, vol.id],
    )
    rows = con.execute(
        "SELECT id, path FROM datasets WHERE drive = ? AND status = 'offline'", [vol.id]
    ).fetchall()
    back = [i for i, p in rows if os.path.lexists(from_db(p))]
    if back:
        con.execute(
            "UPDATE datasets SET status = 'ok', error = NULL WHERE id IN (SELECT unnest(?))",
            [back],
        )
    places = con.execute(
        "SELECT dataset_id, path FROM locations WHERE drive = ? AND status = 'offline'", [vol.id]
    ).fetchall()
    there = [(i, p) for i, p in places if os.path.lexists(from_db(p))]
    if there:
        con.execute(
            "UPDATE locations SET status = 'ok', last_seen = ? WHERE drive = ? "
            "AND path IN (SELECT unnest(?))",
            [now(), vol.id, [p for _, p in there]],
        )
        replicas.settle(con, [i for i, _ in there])
    return len(back)


# -- what a scan does first -------------------------------------------------------------


@dataclasses.dataclass
class Placement:
    """Where a scan of a root goes: ``root`` (moved with its drive, maybe), the
    ``volume`` it is on, or the drive it is ``offline`` on (nothing to scan)."""

    root: Path
    volume: Volume | None = None
    offline: str | None = None  # the offline message
    offline_datasets: int = 0
    moved: int = 0  # datasets whose paths were rewritten to a new mount point


def _empty(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return True


def _inside_drive(con: Connection, root_db: str) -> tuple[str, str] | None:
    """``(drive id, path inside it)`` of the drive last mounted above ``root_db``."""
    row = con.execute(
        "SELECT id, mount_point FROM drives WHERE mount_point = ? "
        "OR starts_with(?, rtrim(mount_point, '/') || '/') "
        "ORDER BY length(mount_point) DESC LIMIT 1",
        [root_db, root_db],
    ).fetchone()
    if row is None:
        return None
    rel = os.path.relpath(from_db(root_db), from_db(row[1]))
    return row[0], "" if rel == "." else to_db(rel)


def recorded(index: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (which need not exist) is a scanned root of ``index`` or lies
    where a drive it knows was mounted and nothing is mounted now: a scan of it is
    worth starting (it marks the datasets there offline, or follows the drive).

    >>> recorded("lab.duckdb", "/media/lab/WD-2019/scans")          # doctest: +SKIP
    True
    """
    if not Path(index).exists():
        return False
    root_db = to_db(os.path.abspath(path))
    with connect(index, read_only=True) as con:
        try:
            if con.execute("SELECT 1 FROM roots WHERE path = ?", [root_db]).fetchone():
                return True
            inside = _inside_drive(con, root_db)
            mount = con.execute(
                "SELECT mount_point FROM drives WHERE id = ?", [inside[0] if inside else None]
            ).fetchone()
        except duckdb.CatalogException:  # an index older than drives, opened read-only
            return False
    return mount is not None and not os.path.ismount(from_db(mount[0]))


def place(index_path: Path, root: Path) -> Placement:
    """Before a scan of ``root``: follow its drive if it moved, or find it offline."""
    vol = volume_of(root) if os.path.lexists(root) else None
    if not index_path.exists():
        return Placement(root, vol)
    root_db = to_db(root)
    user = current_user()
    with transaction(index_path) as con:
        known = con.execute("SELECT drive_id, rel FROM roots WHERE path = ?", [root_db]).fetchone()
        if known is None:  # a folder never scanned as a root, on a drive the index knows
            inside = _inside_drive(con, root_db)
            if inside and (vol is None or (inside[0] != vol.id and _empty(root))):
                known = inside
        here = vol is not None and (known is None or known[0] == vol.id)
        if known is not None and not here and (vol is None or _empty(root)):
            # the root's drive is not where it was: elsewhere, or unplugged
            drive_id, rel = known
            elsewhere = find_mounted(drive_id)
            if elsewhere is None:
                go_offline(con, drive_id, user)
                row = con.execute(
                    "SELECT label, uuid, mount_point, (SELECT count(*) FROM datasets "
                    "WHERE drive = ? AND status = 'offline') FROM drives WHERE id = ?",
                    [drive_id, drive_id],
                ).fetchone()
                label, uuid, mount, n = row if row else (None, None, None, 0)
                message = offline_message(_name(label, uuid, mount), mount)
                return Placement(root, None, offline=message, offline_datasets=n)
            moved = relocate(con, drive_id, elsewhere.mount_point, user)
            come_online(con, elsewhere)
            new_root = (
                Path(elsewhere.mount_point, from_db(rel)) if rel else Path(elsewhere.mount_point)
            )
            return Placement(new_root, elsewhere, moved=moved)
        if vol is None:
            return Placement(root, None)
        moved = relocate(con, vol.id, vol.mount_point, user) if vol.uuid else 0
        if con.execute("SELECT 1 FROM drives WHERE id = ?", [vol.id]).fetchone():
            come_online(con, vol)
        return Placement(root, vol, moved=moved)


# -- status check and listing -----------------------------------------------------------


def check_drives(index: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Look for every known drive: a drive mounted at another path has its datasets'
    paths rewritten (ids kept), an unplugged one has its datasets ``offline``, one back
    has them ``ok`` again. Returns counts: ``online``, ``offline`` (drives), ``moved``,
    ``went_offline``, ``came_back`` (datasets).

    >>> check_drives("lab.duckdb")                                      # doctest: +SKIP
    {'online': 3, 'offline': 1, 'moved': 0, 'went_offline': 212, 'came_back': 0}
    """
    out = dict.fromkeys(("online", "offline", "moved", "went_offline", "came_back"), 0)
    path = resolve_index(index)
    if not Path(path).exists():
        return out
    user = current_user()
    mounted = {v.id: v for v in mounted_volumes()}
    with transaction(path) as con:
        for (drive_id,) in con.execute("SELECT id FROM drives ORDER BY id").fetchall():
            vol = mounted.get(drive_id)
            if vol is None and drive_id.startswith("mount:"):
                vol = find_mounted(drive_id)
            if vol is None:
                out["offline"] += 1
                out["went_offline"] += go_offline(con, drive_id, user)
                continue
            out["online"] += 1
            out["moved"] += relocate(con, drive_id, vol.mount_point, user)
            out["came_back"] += come_online(con, vol)
    return out


#: per drive: datasets with a location there, replicas too (catalog/replicas.py); last
#: verified: the newest verify that found a copy on it intact (catalog/integrity.py)
_PER = """per AS (
    SELECT l.drive, count(*) AS datasets, coalesce(sum(d.size), 0) AS bytes,
        max(l.t) AS last_verified
    FROM (SELECT dataset_id, drive, max(last_verified) AS t FROM locations
          WHERE drive IS NOT NULL AND status <> 'missing' GROUP BY dataset_id, drive) l
    JOIN datasets d ON d.id = l.dataset_id
    WHERE d.status <> 'missing'
    GROUP BY l.drive
)"""
#: the same for an index older than replicas (schema 10, opened read-only)
_OLD_PER = """per AS (
    SELECT d.drive, count(*) AS datasets, coalesce(sum(d.size), 0) AS bytes,
        max(v.t) AS last_verified
    FROM datasets d LEFT JOIN verified v ON v.dataset_id = d.id
    WHERE d.drive IS NOT NULL AND d.status <> 'missing'
    GROUP BY d.drive
)"""
_LISTING = """
WITH verified AS (
    SELECT dataset_id, max(time) AS t FROM audit
    WHERE action = 'verify.unchanged' AND dataset_id IS NOT NULL GROUP BY dataset_id
),
{per}
SELECT r.id, r.label, r.uuid, r.serial, r.mount_point, r.online, r.fstype, r.capacity,
    r.used, r.first_seen, r.last_seen, p.last_verified, coalesce(p.datasets, 0),
    coalesce(p.bytes, 0)
FROM drives r LEFT JOIN per p ON p.drive = r.id
ORDER BY coalesce(r.label, r.id)
"""
#: datasets with no copy anywhere but on their own drive: no location (ok or offline)
#: on another drive or in object storage, no other dataset of the same checksum there
_ONLY_HERE = """
SELECT d.drive, d.id, coalesce(d.size, 0) FROM datasets d
WHERE d.drive IS NOT NULL AND d.status <> 'missing'{by_location} AND (d.checksum IS NULL OR NOT EXISTS (
    SELECT 1 FROM datasets o WHERE o.checksum = d.checksum AND o.id <> d.id
    AND o.status <> 'missing' AND o.drive IS DISTINCT FROM d.drive))
ORDER BY d.drive, d.path
"""
_BY_LOCATION = """ AND NOT EXISTS (
    SELECT 1 FROM locations l WHERE l.dataset_id = d.id AND l.status IN ('ok', 'offline')
    AND l.drive IS DISTINCT FROM d.drive)"""
_ONLY_HERE = _ONLY_HERE.replace("{by_location}", _BY_LOCATION)


def list_drives(index: str | os.PathLike[str] | None = None, *, check: bool = True) -> list[Drive]:
    """Every drive the index knows: label, UUID, mount point or offline, used and
    capacity, datasets and bytes on it, last seen, last verified (the newest ``verify``
    that found one of its datasets unchanged), and the datasets that exist only there (no other dataset
    with the same checksum in the index). ``check`` first looks which drives are mounted
    (:func:`check_drives`; writes the index when something changed).

    >>> [(d.name, d.where, d.only_here) for d in list_drives("lab.duckdb")]  # doctest: +SKIP
    [('WD-2019', 'offline', 12)]
    """
    if check:
        check_drives(index)
    with connect(index, read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "drives" not in tables:  # an index older than drives (schema < 10)
            return []
        listing = _LISTING.replace("{per}", _PER if "locations" in tables else _OLD_PER)
        rows = con.execute(listing).fetchall()
        only_here = _ONLY_HERE
        if "locations" not in tables:  # schema 10, opened read-only: no replicas yet
            only_here = _ONLY_HERE.replace(_BY_LOCATION, "")
        only = con.execute(only_here).fetchall()
        roots = con.execute("SELECT drive_id, path FROM roots ORDER BY path").fetchall()
        marks: dict[str, tuple[Any, Any]] = {}
        if "policies" in tables:  # schema 12: offsite marks and creation times
            marks = {
                i: (o, c)
                for i, o, c in con.execute("SELECT id, offsite, created FROM drives").fetchall()
            }
    out = []
    for r in rows:
        names = [f.name for f in dataclasses.fields(Drive)][:14]
        drive = Drive(**dict(zip(names, r)))
        drive.online = bool(drive.online)
        mine = [(i, size) for d, i, size in only if d == drive.id]
        drive.only_here, drive.only_here_bytes = len(mine), sum(s for _, s in mine)
        drive.only_here_ids = [i for i, _ in mine]
        drive.roots = [display(from_db(p)) for d, p in roots if d == drive.id]
        offsite, drive.created = marks.get(drive.id, (False, None))
        drive.offsite = bool(offsite)
        out.append(drive)
    return out


def drive_of(con: Connection, drive_id: str | None) -> dict[str, Any] | None:
    """What a dataset's detail shows of its drive: ``id``, ``label``, ``uuid``,
    ``online``, ``mount_point``, ``last_seen`` and ``text`` (``on drive WD-2019
    (offline)``); ``None`` without one."""
    if not drive_id:
        return None
    try:
        row = con.execute(
            "SELECT label, uuid, online, mount_point, last_seen FROM drives WHERE id = ?",
            [drive_id],
        ).fetchone()
    except Exception:  # an index older than drives, opened read-only
        return None
    if row is None:
        return None
    label, uuid, online, mount_point, last_seen = row
    name = _name(label, uuid, mount_point)
    return {
        "id": drive_id,
        "label": label,
        "name": name,
        "uuid": uuid,
        "online": bool(online),
        "mount_point": display(from_db(mount_point)) if mount_point else None,
        "last_seen": last_seen.isoformat() if last_seen else None,
        "text": f"on drive {name} ({'online' if online else 'offline'})",
    }
