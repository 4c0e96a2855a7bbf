"""The ``voxcat risk`` and ``voxcat policy`` commands: what could be lost, and the
copies each data level needs.

voxcat risk                              # datasets with fewer than 2 verified copies
voxcat risk --copies 3 --unverified-days 90 --drive-age 5y --project rocks
voxcat risk --json                       # datasets, bytes per project and per drive
voxcat policy set raw --copies 2 --offsite 1
voxcat policy set reports --keep
voxcat policy list
voxcat policy check [--json]             # violations; exit 5 when there are some
voxcat policy remove intermediate
"""

from __future__ import annotations

import argparse
import json

from .arguments import add_index, add_selection, filters
from .running import VIOLATIONS


def _selection(args: argparse.Namespace) -> list[str] | None:
    selected = filters(args)
    if not (args.text or selected):
        return None
    from ..catalogue import open_catalog

    cat = open_catalog(args.index, files=True)
    return list(cat.search(" ".join(args.text) or None, **selected))


def _cmd_risk(args: argparse.Namespace) -> int:
    from ..risk import risk

    report = risk(
        args.index,
        _selection(args),
        copies=args.copies or None,
        unverified_days=args.unverified_days,
        drive_age=args.drive_age,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(report)
    return 0


def _cmd_policy_set(args: argparse.Namespace) -> int:
    from ..policies import set_policy

    policy = set_policy(
        args.index,
        args.level,
        copies=args.copies,
        offsite=args.offsite,
        keep=args.keep,
        verify_days=args.verify_days,
    )
    print(policy)
    from ..policies import level_counts

    counts = level_counts(args.index)
    if policy.data_level not in counts:
        used = ", ".join(counts) or "none yet"
        print(f"note: no dataset has data level {policy.data_level!r} (levels in use: {used})")
    return 0


def _cmd_policy_list(args: argparse.Namespace) -> int:
    from ..policies import list_policies

    policies = list_policies(args.index)
    if args.json:
        print(json.dumps([p.to_dict() for p in policies], indent=2, ensure_ascii=False))
    elif not policies:
        print("no policies set (voxcat policy set raw --copies 2 --offsite 1)")
    for p in [] if args.json else policies:
        print(f"{p}  (set by {p.user or '?'}, {str(p.updated)[:16]})")
    return 0


def _cmd_policy_remove(args: argparse.Namespace) -> int:
    from ..policies import remove_policy

    if remove_policy(args.index, args.level):
        print(f"removed the policy of {args.level.strip().lower()}")
        return 0
    print(f"no policy for {args.level.strip().lower()}")
    return 1


def _cmd_policy_check(args: argparse.Namespace) -> int:
    from ..policies import policy_check

    report = policy_check(args.index, _selection(args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(report)
    return 0 if report.ok else VIOLATIONS


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``risk`` and ``policy`` on the main parser."""
    p = sub.add_parser(
        "risk",
        help="datasets at risk: too few verified copies, copies unverified for long, "
        "only on old drives; bytes per project and drive",
    )
    add_selection(p)
    p.add_argument(
        "--copies",
        type=int,
        default=2,
        metavar="N",
        help="at risk with fewer than N verified copies (default 2; 0: leave this test out)",
    )
    p.add_argument(
        "--unverified-days",
        metavar="AGE",
        default=None,
        help="at risk when a copy was not verified for this long: days, or e.g. 90d, 6mo",
    )
    p.add_argument(
        "--drive-age",
        metavar="AGE",
        default=None,
        help="at risk when every copy is on a drive at least this old, e.g. 5y "
        "(a drive's age: its filesystem's creation time where the OS tells it, "
        "else when voxcat first saw it)",
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_cmd_risk)

    p = sub.add_parser("policy", help="copies each data level needs: set, list, check")
    psub = p.add_subparsers(dest="policy_command", metavar="{set,list,check,remove}")
    p.set_defaults(func=lambda _args: p.print_help() or 2)
    s = psub.add_parser("set", help="set the rules of a data level (audited)")
    s.add_argument("level", help="the data level, e.g. raw, intermediate, reports")
    add_index(s)
    s.add_argument("--copies", type=int, metavar="N", help="verified copies needed")
    s.add_argument(
        "--offsite",
        type=int,
        metavar="N",
        help="of them off the lab's drives: in object storage or on a drive marked "
        "offsite (voxcat drives --mark-offsite LABEL)",
    )
    s.add_argument(
        "--keep",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="never lost: at least one copy, never retired",
    )
    s.add_argument(
        "--verify-days", type=int, metavar="N", help="every copy verified within N days"
    )
    s.set_defaults(func=_cmd_policy_set)
    s = psub.add_parser("list", help="the policies of the index")
    add_index(s)
    s.add_argument("--json", action="store_true", help="JSON output")
    s.set_defaults(func=_cmd_policy_list)
    s = psub.add_parser("remove", help="remove the policy of a data level (audited)")
    s.add_argument("level")
    add_index(s)
    s.set_defaults(func=_cmd_policy_remove)
    s = psub.add_parser("check", help="datasets breaking their data level's policy; exit 5 if any")
    add_selection(s)
    s.add_argument("--json", action="store_true", help="JSON output")
    s.set_defaults(func=_cmd_policy_check)
