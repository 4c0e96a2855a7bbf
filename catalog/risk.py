"""Risk: which datasets could be lost, and how many bytes that is per project and drive.

Every copy of a dataset is a row of ``locations`` (:mod:`catalog.replicas`); ``verify``
reads every copy and records ``last_verified`` on the intact ones and ``corrupt`` on the
others (:mod:`catalog.integrity`). From those, each dataset has (as search fields too):

- ``verified_copies``: its copies (``ok`` or ``offline``) whose last verify found them
  intact; a copy never verified, or found corrupt or missing, does not count;
- ``offsite_copies``: of those, the ones off the lab's drives: in object storage, or on
  a drive marked offsite (``voxcat drives --mark-offsite LABEL``);
- ``unverified_days``: the longest any of its copies has gone without a verify that
  found it intact (a copy never verified: since it was first seen);
- ``drive_age``: the age of the youngest drive holding a copy, in days (a copy in
  object storage has age 0). A drive's age runs from its filesystem's creation time
  where the OS tells it cheaply (ext2/3/4: ``tune2fs -l``, "Filesystem created", read
  when voxcat first records the drive, as root or in the ``disk`` group), else from
  the first time voxcat saw the drive. ``drive_age=">5y"`` is "copies only on drives
  older than five years".

Ages take days or units: ``90``, ``"90d"``, ``"2w"``, ``"6mo"``, ``"5y"``.

>>> cat.search(verified_copies="<2")                                # doctest: +SKIP
>>> cat.search(unverified_days=">90", drive_age=">=5y")             # doctest: +SKIP
>>> report = risk("lab.duckdb", copies=2, unverified_days=90, drive_age="5y")  # doctest: +SKIP
>>> report.by_project                                               # doctest: +SKIP
         project  datasets        bytes
0          rocks        12  48318382080
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: a copy that counts: its place was there when last looked at (plugged in or not)
PRESENT = "l.status IN ('ok', 'offline')"
#: SQL over the dataset row ``d``: its verified copies
VERIFIED_COPIES_SQL = (
    "(SELECT count(*) FROM locations l WHERE l.dataset_id = d.id AND "
    f"{PRESENT} AND l.last_verified IS NOT NULL)"
)
#: its verified copies off the lab's drives (object storage, or a drive marked offsite)
OFFSITE_COPIES_SQL = (
    "(SELECT count(*) FROM locations l LEFT JOIN drives r ON r.id = l.drive "
    f"WHERE l.dataset_id = d.id AND {PRESENT} AND l.last_verified IS NOT NULL "
    "AND (contains(l.path, '://') OR coalesce(r.offsite, false)))"
)
#: days the least recently verified copy has gone without a verify (never: since seen)
UNVERIFIED_DAYS_SQL = (
    "(SELECT max(epoch(current_localtimestamp() - coalesce(l.last_verified, l.first_seen)))"
    f" / 86400.0 FROM locations l WHERE l.dataset_id = d.id AND {PRESENT})"
)
#: days since the youngest drive holding a copy was made (or first seen)
DRIVE_AGE_SQL = (
    "(SELECT min(CASE WHEN contains(l.path, '://') THEN 0.0 ELSE "
    "epoch(current_localtimestamp() - coalesce(r.created, r.first_seen)) / 86400.0 END) "
    f"FROM locations l LEFT JOIN drives r ON r.id = l.drive WHERE l.dataset_id = d.id "
    f"AND {PRESENT})"
)

_DATASETS = f"""
SELECT d.id, d.name, d.project, d.data_level, coalesce(d.size, 0) AS size, d.status,
    coalesce(d.copies, 0) AS copies, {VERIFIED_COPIES_SQL} AS verified_copies,
    {OFFSITE_COPIES_SQL} AS offsite_copies, {UNVERIFIED_DAYS_SQL} AS unverified_days,
    {DRIVE_AGE_SQL} AS drive_age
FROM datasets d WHERE d.status <> 'missing' {{selected}}
ORDER BY d.project NULLS LAST, d.path
"""
_COPIES = f"""
SELECT l.dataset_id, l.path, l.drive, r.label, r.uuid, r.mount_point, r.online,
    coalesce(r.offsite, false)
FROM locations l LEFT JOIN drives r ON r.id = l.drive
WHERE {PRESENT} AND l.dataset_id IN (SELECT unnest(?))
ORDER BY l.dataset_id, l.path
"""

#: columns of :attr:`RiskReport.datasets`
COLUMNS = (
    "name",
    "project",
    "data_level",
    "size",
    "copies",
    "verified_copies",
    "offsite_copies",
    "unverified_days",
    "drive_age",
    "drives",
    "reasons",
)


def copy_place(
    path: str, drive: str | None, label: str | None, uuid: str | None, mount: str | None
) -> str:
    """The name of where a copy is: its drive's name, ``object storage (s3)``, or
    ``unknown drive``.

    >>> copy_place("s3://lab/a.tif", None, None, None, None)
    'object storage (s3)'
    >>> copy_place("/media/WD/a.tif", "u1", "WD-2019", "u1", "/media/WD")
    'WD-2019'
    """
    from .drives import _name

    if "://" in path:
        return f"object storage ({path.split('://', 1)[0]})"
    if drive is None:
        return "unknown drive"
    return _name(label, uuid, mount)


def _years(days: float) -> str:
    return f"{days / 365.25:.1f} years" if days >= 365.25 else f"{days:.0f} days"


@dataclasses.dataclass
class RiskReport:
    """What :func:`risk` found: the datasets at risk (a DataFrame indexed by id, with
    the ``reasons`` each is at risk for) and the bytes at risk per project and per
    drive (a dataset's bytes count on every drive that holds one of its copies)."""

    datasets: pd.DataFrame
    by_project: pd.DataFrame
    by_drive: pd.DataFrame
    criteria: dict[str, Any]

    def __len__(self) -> int:
        return len(self.datasets)

    @property
    def bytes(self) -> int:
        """Bytes of the datasets at risk."""
        return int(self.datasets["size"].sum()) if len(self.datasets) else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``criteria``, ``datasets`` (a list of dicts with ``id``),
        ``by_project``, ``by_drive``, ``bytes``."""
        import math

        def clean(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            if hasattr(v, "item"):  # numpy scalars
                return v.item()
            return v

        rows = [
            {"id": i, **{k: clean(v) for k, v in row.items()}}
            for i, row in self.datasets.to_dict("index").items()
        ]
        return {
            "criteria": self.criteria,
            "datasets": rows,
            "by_project": [
                {k: clean(v) for k, v in r.items()} for r in self.by_project.to_dict("records")
            ],
            "by_drive": [
                {k: clean(v) for k, v in r.items()} for r in self.by_drive.to_dict("records")
            ],
            "bytes": self.bytes,
        }

    def __str__(self) -> str:
        from .formatting import human_bytes

        asked = ", ".join(f"{k} {v}" for k, v in self.criteria.items() if v is not None)
        if not len(self):
            return f"no dataset at risk ({asked})"
        lines = [
            f"{len(self)} datasets at risk, {human_bytes(self.bytes)} ({asked}):",
        ]
        for ident, r in self.datasets.iterrows():
            lines.append(
                f"  {ident}  {str(r['name'])[:32]:32} {human_bytes(r['size']):>9}  "
                f"{'; '.join(r['reasons'])}"
            )
        lines.append("bytes at risk per project:")
        for r in self.by_project.itertuples():
            lines.append(f"  {r.project:24} {r.datasets:6} datasets {human_bytes(r.bytes):>10}")
        lines.append("bytes at risk per drive:")
        for r in self.by_drive.itertuples():
            lines.append(f"  {r.drive:24} {r.datasets:6} datasets {human_bytes(r.bytes):>10}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return str(self.datasets._repr_html_())


def _positive(value: Any, name: str) -> int | None:
    from .errors import QueryError

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QueryError(f"{name} is a whole number of copies >= 1, not {value!r:.40}")
    return value


def risk(
    index: str | os.PathLike[str] | None = None,
    selection: Iterable[str] | Any = None,
    *,
    copies: int | None = 2,
    unverified_days: float | str | None = None,
    drive_age: float | str | None = None,
) -> RiskReport:
    """The datasets of ``selection`` (ids or a catalogue; ``None``: every dataset not
    ``missing``) at risk by any of: fewer than ``copies`` verified copies; a copy not
    verified for ``unverified_days`` (days, or ``"90d"``, ``"6mo"``); copies only on
    drives at least ``drive_age`` old (``"5y"``). ``None`` leaves a test out.

    >>> r = risk("lab.duckdb", copies=2, unverified_days=90, drive_age="5y")  # doctest: +SKIP
    >>> r.datasets[["name", "verified_copies", "reasons"]]          # doctest: +SKIP
    >>> r.by_drive                                                  # doctest: +SKIP
          drive                              drive_id  datasets       bytes  offsite
    0   WD-2019  a4dedeb5-04ef-4c6e-9ab1-38603078d81e        12  4831838208    False
    """
    import pandas as pd

    from .catalogue.values import parse_days
    from .errors import QueryError
    from .index import connect, resolve_index

    need = _positive(copies, "copies")
    days = None if unverified_days is None else parse_days(unverified_days)
    age = None if drive_age is None else parse_days(drive_age)
    if need is None and days is None and age is None:
        raise QueryError("risk needs at least one of copies, unverified_days, drive_age")
    criteria = {"copies": need, "unverified_days": unverified_days, "drive_age": drive_age}
    ids = None if selection is None else list(selection)
    path = resolve_index(index)
    with connect(path, read_only=True) as con:
        sql = _DATASETS.replace(
            "{selected}", "" if ids is None else "AND d.id IN (SELECT unnest($ids))"
        )
        frame = con.execute(sql, {} if ids is None else {"ids": ids}).df()
        reasons: list[list[str]] = []
        for r in frame.itertuples():
            why = []
            if need is not None and r.verified_copies < need:
                why.append(
                    f"{r.verified_copies} verified of {need} copies needed ({r.copies} known)"
                )
            if days is not None and pd.notna(r.unverified_days) and r.unverified_days >= days:
                why.append(f"a copy not verified for {r.unverified_days:.0f} days")
            if age is not None and pd.notna(r.drive_age) and r.drive_age >= age:
                why.append(f"only on drives {_years(r.drive_age)} old or older")
            reasons.append(why)
        frame["reasons"] = reasons
        frame = frame[[bool(w) for w in reasons]]
        at_risk = frame["id"].tolist()
        copies_rows = con.execute(_COPIES, [at_risk]).fetchall() if at_risk else []
    sizes = dict(zip(frame["id"], frame["size"], strict=True))
    drives_of: dict[str, list[str]] = {}
    per_drive: dict[tuple[str, str | None], dict[str, Any]] = {}
    for ident, loc, drive, label, uuid, mount, _online, offsite in copies_rows:
        place = copy_place(loc, drive, label, uuid, mount)
        if place not in drives_of.setdefault(ident, []):
            drives_of[ident].append(place)
            slot = per_drive.setdefault(
                (place, drive),
                {
                    "drive": place,
                    "drive_id": drive,
                    "datasets": 0,
                    "bytes": 0,
                    "offsite": bool(offsite) or "://" in loc,
                },
            )
            slot["datasets"] += 1
            slot["bytes"] += int(sizes[ident])
    frame = frame.assign(drives=[drives_of.get(i, []) for i in frame["id"]])
    datasets = frame.set_index("id")[list(COLUMNS)]
    by_project = (
        frame.assign(project=frame["project"].fillna("(no project)"))
        .groupby("project", sort=True)
        .agg(datasets=("id", "count"), bytes=("size", "sum"))
        .reset_index()
    )
    by_drive = pd.DataFrame(
        sorted(per_drive.values(), key=lambda s: (-s["bytes"], s["drive"])),
        columns=["drive", "drive_id", "datasets", "bytes", "offsite"],
    )
    return RiskReport(datasets, by_project, by_drive, criteria)
