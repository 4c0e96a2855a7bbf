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
    """Every root and dataset of ``index`` now lives on drive ``label`` (``uuid``),
    last seen mounted at ``mount_point``."""
    with connect(index) as con:
        con.execute("DELETE FROM drives")
        con.execute(
            "INSERT INTO drives (id, uuid, label, mount_point, online) VALUES (?, ?, ?, ?, true)",
            [uuid, uuid, label, str(mount_point)],
        )
        for (path,) in con.execute("SELECT path FROM roots").fetchall():
            rel = Path(path).relative_to(mount_point).as_posix()
            con.execute(
                "UPDATE roots SET drive_id = ?, rel = ? WHERE path = ?",
                [uuid, "" if rel == "." else rel, path],
            )
        con.execute("UPDATE datasets SET drive = ?", [uuid])
