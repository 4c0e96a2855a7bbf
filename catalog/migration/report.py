"""What a migration did, dataset by dataset (:class:`MigrationReport`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..paths import display


@dataclasses.dataclass
class MigrationReport:
    """What :func:`migrate` did (or, ``dry_run``, would do), dataset by dataset."""

    to: Path
    index: Path
    dry_run: bool
    #: id -> name, how ("copied", "converted"), path (the new location), files, bytes,
    #: resumed (files an earlier, interrupted run had copied), derived (converted: the id)
    datasets: dict[str, dict[str, Any]]
    refused: dict[str, dict[str, str]]  # id -> name, path, cause (nothing recorded)
    retired: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    retire_refused: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> cause
    seconds: float = 0.0
    bytes_written: int = 0
    #: dry run: the read rate measured on the sources (bytes/s) and the time estimated
    rate: float | None = None
    estimated_seconds: float | None = None

    @property
    def files(self) -> int:
        return sum(d["files"] for d in self.datasets.values())

    @property
    def bytes(self) -> int:
        return sum(d["bytes"] for d in self.datasets.values())

    @property
    def resumed_files(self) -> int:
        return sum(d.get("resumed", 0) for d in self.datasets.values())

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(to=str(self.to), index=str(self.index), files=self.files, bytes=self.bytes)
        return out

    def __str__(self) -> str:
        if self.dry_run:
            lines = [
                f"Dry run: would migrate {len(self.datasets)} datasets ({self.files} files, "
                f"{self.bytes / 1e9:.3f} GB) to {display(self.to)}; nothing was written"
            ]
            if self.estimated_seconds is not None and self.rate:
                lines.append(
                    f"Estimated time: {_duration(self.estimated_seconds)} (sources read at "
                    f"{self.rate / 1e6:.0f} MB/s, measured now; the target assumed as fast; "
                    "copy plus read-back verification)"
                )
        else:
            rate = self.bytes_written / 1e6 / self.seconds if self.seconds else 0.0
            lines = [
                f"Migrated {len(self.datasets)} datasets ({self.files} files, "
                f"{self.bytes / 1e9:.3f} GB) to {display(self.to)} in {self.seconds:.1f} s "
                f"({rate:.0f} MB/s written)"
                + (
                    f"; {self.resumed_files} files copied by an earlier run were kept"
                    if self.resumed_files
                    else ""
                )
            ]
        for ident, d in self.datasets.items():
            extra = f" -> derived {d['derived']}" if d.get("derived") else ""
            lines.append(f"  {ident}  {d['name'][:40]:40}  {d['how']}{extra}  {d['path']}")
        if self.refused:
            lines.append(f"Refused {len(self.refused)} datasets (nothing recorded for them):")
            for ident, r in self.refused.items():
                lines.append(f"  {ident}  {r['cause']}")
        if self.retired:
            lines.append(f"Retired the source of {len(self.retired)} datasets:")
            for ident, r in self.retired.items():
                lines.append(f"  {ident}  deleted {r['from']}; now read from {r['primary']}")
        if self.retire_refused:
            lines.append(f"Kept the source of {len(self.retire_refused)} datasets:")
            for ident, cause in self.retire_refused.items():
                lines.append(f"  {ident}  {cause}")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
