"""Policies: how many copies each data level needs, kept in the index (``policies``).

A policy names a data level (``datasets.data_level``, compared case-insensitively) and
its rules, each optional:

- ``copies``: verified copies needed (a copy counts once a ``verify`` found it intact;
  see :mod:`catalog.risk`);
- ``offsite``: of them, how many off the lab's drives: in object storage, or on a drive
  marked offsite (:func:`mark_offsite`, ``voxcat drives --mark-offsite LABEL``);
- ``keep``: the data must never be lost: at least one copy known (verified or not),
  and nothing may retire its last copies;
- ``verify_days``: every copy verified within this many days.

:func:`policy_check` lists every violation (dataset, data level, rule, have, need,
bytes). Setting, removing a policy and marking a drive offsite are audited
(``policy.set``, ``policy.remove``, ``drive.offsite``).

>>> set_policy("lab.duckdb", "raw", copies=2, offsite=1)            # doctest: +SKIP
>>> set_policy("lab.duckdb", "reports", keep=True)                  # doctest: +SKIP
>>> [v.rule for v in policy_check("lab.duckdb").violations]          # doctest: +SKIP
['copies', 'offsite']
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable
from typing import Any

from .errors import PolicyError
from .index import connect, resolve_index, transaction
from .index.store import append_audit, current_user, now
from .risk import OFFSITE_COPIES_SQL, PRESENT, UNVERIFIED_DAYS_SQL, VERIFIED_COPIES_SQL

#: the rules a policy can have, in the order they are checked and listed
RULES = ("copies", "offsite", "keep", "verify_days")


@dataclasses.dataclass
class Policy:
    """The rules of one data level (``None``: no such rule).

    >>> str(Policy("raw", copies=2, offsite=1))
    'raw: 2 verified copies, 1 of them offsite'
    """

    data_level: str
    copies: int | None = None
    offsite: int | None = None
    keep: bool = False
    verify_days: int | None = None
    user: str | None = None
    updated: dt.datetime | None = None

    def rules(self) -> dict[str, Any]:
        """The rules set: ``{"copies": 2, "offsite": 1}``."""
        out: dict[str, Any] = {
            "copies": self.copies,
            "offsite": self.offsite,
            "keep": self.keep or None,
            "verify_days": self.verify_days,
        }
        return {k: v for k, v in out.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``updated`` as ISO text)."""
        out = dataclasses.asdict(self)
        out["updated"] = self.updated.isoformat() if self.updated else None
        return out

    def __str__(self) -> str:
        parts = []
        if self.copies is not None:
            parts.append(f"{self.copies} verified {'copy' if self.copies == 1 else 'copies'}")
        if self.offsite is not None:
            parts.append(f"{self.offsite} of them offsite" if parts else f"{self.offsite} offsite")
        if self.keep:
            parts.append("keep (never lost, never retired)")
        if self.verify_days is not None:
            parts.append(f"verified within {self.verify_days} days")
        return f"{self.data_level}: {', '.join(parts) or 'no rules'}"


@dataclasses.dataclass
class Violation:
    """One dataset breaking one rule of its data level's policy."""

    id: str
    name: str
    data_level: str
    rule: str  # one of RULES
    have: float
    need: float
    bytes: int
    project: str | None = None

    def __str__(self) -> str:
        if self.rule == "verify_days":
            what = f"a copy unverified for {self.have:.0f} days (at most {self.need:.0f})"
        elif self.rule == "keep":
            what = "no copy left (keep)"
        else:
            what = f"{self.have:.0f} {self.rule} of {self.need:.0f}"
        return f"{self.id}  {self.name[:32]:32} {self.data_level:14} {what}"


@dataclasses.dataclass
class PolicyReport:
    """What :func:`policy_check` found: the policies and their violations."""

    policies: list[Policy]
    violations: list[Violation]
    checked: int  # datasets with a policy

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def datasets(self) -> list[str]:
        """Ids of the violating datasets, each once, in order."""
        return list(dict.fromkeys(v.id for v in self.violations))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "policies": [p.to_dict() for p in self.policies],
            "violations": [dataclasses.asdict(v) for v in self.violations],
        }

    def __str__(self) -> str:
        from .formatting import human_bytes

        if not self.policies:
            return "no policies set (voxcat policy set raw --copies 2 --offsite 1)"
        if self.ok:
            return f"all {self.checked} datasets with a policy comply"
        total = sum(v.bytes for v in {v.id: v for v in self.violations}.values())
        head = (
            f"{len(self.violations)} violations by {len(self.datasets)} of {self.checked} "
            f"datasets with a policy ({human_bytes(total)}):"
        )
        return "\n".join([head, *(f"  {v}  {human_bytes(v.bytes)}" for v in self.violations)])


def _level(data_level: str) -> str:
    level = str(data_level).strip().lower()
    if not level:
        raise PolicyError("a policy needs a data level, e.g. 'raw'")
    return level


def _count(value: Any, name: str, lowest: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise PolicyError(f"{name} is a whole number >= {lowest}, not {value!r:.40}")
    return value


def _rows(con: Any) -> list[Policy]:
    rows = con.execute(
        "SELECT data_level, copies, offsite, coalesce(keep, false), verify_days, user_name, "
        "updated FROM policies ORDER BY data_level"
    ).fetchall()
    return [Policy(*r) for r in rows]


def list_policies(index: str | os.PathLike[str] | None = None) -> list[Policy]:
    """Every policy of the index, by data level.

    >>> [str(p) for p in list_policies("lab.duckdb")]                # doctest: +SKIP
    ['intermediate: 1 verified copy', 'raw: 2 verified copies, 1 of them offsite']
    """
    with connect(resolve_index(index), read_only=True) as con:
        return _rows(con)


def level_counts(index: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """``data level -> datasets`` (levels lower-cased, datasets without one left out).

    >>> level_counts("lab.duckdb")                                    # doctest: +SKIP
    {'processed': 310, 'raw': 1204}
    """
    with connect(resolve_index(index), read_only=True) as con:
        rows = con.execute(
            "SELECT lower(data_level), count(*) FROM datasets WHERE data_level IS NOT NULL "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return {level: int(n) for level, n in rows}


def set_policy(
    index: str | os.PathLike[str] | None,
    data_level: str,
    *,
    copies: int | None = None,
    offsite: int | None = None,
    keep: bool | None = None,
    verify_days: int | None = None,
) -> Policy:
    """Set the rules of ``data_level`` (rules not given keep their value; a new policy
    starts with none); audited ``policy.set`` with the rules before and after.

    >>> set_policy("lab.duckdb", "raw", copies=2, offsite=1)          # doctest: +SKIP
    Policy(data_level='raw', copies=2, offsite=1, keep=False, ...)
    """
    level = _level(data_level)
    copies = _count(copies, "copies", 1)
    offsite = _count(offsite, "offsite")
    verify_days = _count(verify_days, "verify_days", 1)
    if keep is not None and not isinstance(keep, bool):
        raise PolicyError(f"keep is True or False, not {keep!r:.40}")
    user = current_user()
    with transaction(resolve_index(index)) as con:
        old = next((p for p in _rows(con) if p.data_level == level), None)
        new = dataclasses.replace(old) if old else Policy(level)
        for name, value in (
            ("copies", copies),
            ("offsite", offsite),
            ("keep", keep),
            ("verify_days", verify_days),
        ):
            if value is not None:
                setattr(new, name, value)
        if new.copies is not None and new.offsite is not None and new.offsite > new.copies:
            raise PolicyError(
                f"{level}: offsite {new.offsite} is more than copies {new.copies}; "
                "offsite copies are some of the copies"
            )
        if not new.rules():
            raise PolicyError(
                f"{level}: give at least one rule (--copies, --offsite, --keep, --verify-days)"
            )
        new.user, new.updated = user, now()
        con.execute(
            "INSERT OR REPLACE INTO policies VALUES (?, ?, ?, ?, ?, ?, ?)",
            [level, new.copies, new.offsite, new.keep, new.verify_days, user, new.updated],
        )
        detail = {
            "data_level": level,
            "before": old.rules() if old else None,
            "after": new.rules(),
        }
        append_audit(con, [("policy.set", None, detail)], user)
    return new


def remove_policy(index: str | os.PathLike[str] | None, data_level: str) -> bool:
    """Remove the policy of ``data_level`` (audited); ``False`` when there was none.

    >>> remove_policy("lab.duckdb", "intermediate")                   # doctest: +SKIP
    True
    """
    level = _level(data_level)
    user = current_user()
    with transaction(resolve_index(index)) as con:
        old = next((p for p in _rows(con) if p.data_level == level), None)
        if old is None:
            return False
        con.execute("DELETE FROM policies WHERE data_level = ?", [level])
        detail = {"data_level": level, "before": old.rules(), "after": None}
        append_audit(con, [("policy.remove", None, detail)], user)
    return True


def mark_offsite(index: str | os.PathLike[str] | None, drive: str, offsite: bool = True) -> str:
    """Mark the drive named ``drive`` (its label, id or UUID, or the start of one) as
    kept offsite (or, with ``offsite=False``, back on the lab's premises): its copies
    count as ``offsite_copies``. Audited ``drive.offsite``. Returns the drive's id.

    >>> mark_offsite("lab.duckdb", "VAULT-2024")                       # doctest: +SKIP
    '9b1c66f0-...'
    """
    name = str(drive).strip()
    user = current_user()
    with transaction(resolve_index(index)) as con:
        rows = con.execute(
            "SELECT id, label, offsite FROM drives WHERE label = ? OR id = ? OR uuid = ? "
            "OR (length(?) >= 4 AND starts_with(id, lower(?)))",
            [name, name, name, name, name],
        ).fetchall()
        exact = [r for r in rows if name in (r[0], r[1])]
        rows = exact or rows
        if len(rows) != 1:
            known = [
                label or i for i, label in con.execute("SELECT id, label FROM drives").fetchall()
            ]
            why = "several drives match" if rows else "no drive matches"
            raise PolicyError(
                f"{why} {name!r}; drives: {', '.join(map(str, known)) or 'none yet'} "
                "(see voxcat drives)"
            )
        ident, label, before = rows[0]
        con.execute("UPDATE drives SET offsite = ? WHERE id = ?", [offsite, ident])
        detail = {"drive": ident, "label": label, "before": bool(before), "after": offsite}
        append_audit(con, [("drive.offsite", None, detail)], user)
    return str(ident)


_CHECK = f"""
SELECT d.id, d.name, lower(d.data_level) AS level, coalesce(d.size, 0), d.project,
    {VERIFIED_COPIES_SQL}, {OFFSITE_COPIES_SQL}, {UNVERIFIED_DAYS_SQL},
    (SELECT count(*) FROM locations l WHERE l.dataset_id = d.id AND {PRESENT})
FROM datasets d JOIN policies p ON p.data_level = lower(d.data_level)
WHERE d.status <> 'registered' {{selected}}
ORDER BY d.data_level, d.path
"""


def policy_check(
    index: str | os.PathLike[str] | None = None, selection: Iterable[str] | Any = None
) -> PolicyReport:
    """Check every dataset of ``selection`` (ids or a catalogue; ``None``: all) whose
    data level has a policy, rule by rule: one :class:`Violation` per broken rule,
    with what it has and what it needs. A ``missing`` dataset breaks ``keep``.

    >>> report = policy_check("lab.duckdb")                          # doctest: +SKIP
    >>> report.ok, [(v.id, v.rule, v.have, v.need) for v in report.violations]  # doctest: +SKIP
    (False, [('k2x9q4m1abcd', 'copies', 1, 2)])
    """
    ids = None if selection is None else list(selection)
    with connect(resolve_index(index), read_only=True) as con:
        policies = _rows(con)
        sql = _CHECK.replace("{selected}", "" if ids is None else "AND d.id IN (SELECT unnest(?))")
        rows = con.execute(sql, [] if ids is None else [ids]).fetchall() if policies else []
    by_level = {p.data_level: p for p in policies}
    out: list[Violation] = []
    for ident, name, level, size, project, verified, offsite, unverified, present in rows:
        p = by_level[level]

        broken: list[tuple[str, float, float]] = []
        if p.copies is not None and verified < p.copies:
            broken.append(("copies", verified, p.copies))
        if p.offsite is not None and offsite < p.offsite:
            broken.append(("offsite", offsite, p.offsite))
        if p.keep and present < 1:
            broken.append(("keep", present, 1))
        if p.verify_days is not None and unverified is not None and unverified > p.verify_days:
            broken.append(("verify_days", round(unverified, 1), p.verify_days))
        out.extend(
            Violation(ident, name, level, rule, have, need, int(size), project)
            for rule, have, need in broken
        )
    return PolicyReport(policies, out, len(rows))
