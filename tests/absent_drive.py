"""Record an index's datasets on a drive that is not mounted here: the rows a scan of
a real drive writes, under a UUID no mounted volume has. It lets the offline paths run
on machines that cannot loop-mount a filesystem (tests/test_drives.py mounts real
ones where it can).

>>> on_absent_drive(index, "/media/lab/WD-2019")                   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from catalog.index import connect

#: a UUID no volume here has
ABSENT = "0badc0de-0000-4000-8000-000000000001"


def on_absent_drive(
    index: Path, mount_point: Path | str, label: str = "WD-2019", uuid: str = ABSENT
) -> None:
    """Every root, dataset and location of ``index`` under ``mount_point`` now lives on drive
    ``label`` (``uuid``), last seen mounted there."""
    top = str(mount_point)
    under = "(path = ? OR starts_with(path, ?))"
    inside = [top, top.rstrip("/") + "/"]
    with connect(index) as con:
        con.execute(
            "INSERT INTO drives (id, uuid, label, mount_point, online) VALUES (?, ?, ?, ?, true)",
            [uuid, uuid, label, top],
        )
        for (path,) in con.execute(f"SELECT path FROM roots WHERE {under}", inside).fetchall():
            rel = Path(path).relative_to(top).as_posix()
            con.execute(
                "UPDATE roots SET drive_id = ?, rel = ? WHERE path = ?",
                [uuid, "" if rel == "." else rel, path],
            )
        con.execute(f"UPDATE datasets SET drive = ? WHERE {under}", [uuid, *inside])
        con.execute(f"UPDATE locations SET drive = ? WHERE {under}", [uuid, *inside])
        con.execute(  # the drive they were on before, if nothing else is on it
            "DELETE FROM drives WHERE id <> ? AND id NOT IN (SELECT drive_id FROM roots) "
            "AND id NOT IN (SELECT drive FROM datasets WHERE drive IS NOT NULL)",
            [uuid],
        )
