"""The ``voxcat drives`` command: the drives scanned roots live on.

voxcat drives                    # label, mount point or offline, used/capacity, datasets ...
voxcat drives --only-here        # also the datasets that exist only on each drive
voxcat drives --json             # everything, as JSON
voxcat drives --no-check         # as the index last saw them (nothing written)
voxcat drives --mark-offsite VAULT-2024   # its copies count as offsite (voxcat policy)
voxcat drives --mark-onsite VAULT-2024    # back on the lab's premises
"""

from __future__ import annotations

import argparse
import json

from .arguments import add_index


def _when(value: object) -> str:
    return str(value)[:16] if value else "never"


def _cmd_drives(args: argparse.Namespace) -> int:
    from ..drives import list_drives
    from ..formatting import human_bytes

    if args.mark_offsite or args.mark_onsite:
        from ..policies import mark_offsite

        for name in args.mark_offsite or []:
            mark_offsite(args.index, name, True)
            print(f"{name}: offsite (its copies count as off the lab's drives)")
        for name in args.mark_onsite or []:
            mark_offsite(args.index, name, False)
            print(f"{name}: on the lab's premises")
        return 0
    found = list_drives(args.index, check=not args.no_check)
    if args.json:
        print(json.dumps([d.to_dict() for d in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no drives recorded yet (voxcat scan a folder on one first)")
        return 0
    for d in found:
        used = f"{human_bytes(d.used)} of {human_bytes(d.capacity)} used"
        away = "  offsite" if d.offsite else ""
        print(f"{d.name:16} {d.where:32} {used}  [{d.uuid or d.id}]{away}")
        print(
            f"  {d.datasets} datasets, {human_bytes(d.bytes)}; "
            f"{d.only_here} only here ({human_bytes(d.only_here_bytes)}); "
            f"last seen {_when(d.last_seen)}, last verified {_when(d.last_verified)}"
        )
        if args.only_here:
            for ident in d.only_here_ids:
                print(f"    only here: {ident}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``drives`` on the main parser."""
    p = sub.add_parser(
        "drives",
        help="the drives scanned roots live on: online or offline, datasets only there",
    )
    add_index(p)
    p.add_argument(
        "--no-check",
        action="store_true",
        help="list as the index last saw them, without looking which drives are mounted",
    )
    p.add_argument(
        "--only-here", action="store_true", help="list the datasets that exist only on each drive"
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument(
        "--mark-offsite",
        action="append",
        metavar="LABEL",
        help="mark a drive (label, id or UUID) as kept offsite: its copies count for "
        "policies' --offsite (audited; repeatable)",
    )
    p.add_argument(
        "--mark-onsite",
        action="append",
        metavar="LABEL",
        help="mark a drive as back on the lab's premises (audited; repeatable)",
    )
    p.set_defaults(func=_cmd_drives)
