"""Integrity commands of the ``voxcat`` CLI: ``verify`` and ``audit``.

voxcat verify                          # re-hash every dataset; exit 4 if any changed
voxcat verify sandstone --modality CT  # a selection, like voxcat search
voxcat verify --scheduler tcp://head:8786  # hash on a Dask cluster ($VOXCAT_DASK_SCHEDULER)
voxcat audit --dataset k2x9q4m1abcd    # who changed what, newest first
voxcat audit verify [--expect HEAD]    # prove the log was not edited
voxcat audit head                      # the hash to write down somewhere safe
"""

from __future__ import annotations

import argparse
import json

from .arguments import add_index, add_selection, filters
from .running import TAMPERED


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog
    from ..integrity import verify

    selection = None
    selected = filters(args)
    if args.text or selected:
        cat = open_catalog(args.index, files=True)
        selection = list(cat.search(" ".join(args.text) or None, **selected))
    report = verify(
        args.index,
        selection,
        jobs=args.jobs,
        progress=not args.json and None,
        scheduler=args.scheduler,
    )
    if args.json:
        print(json.dumps({"counts": report.counts, "results": report.results}, indent=2))
    else:
        print(report)
    return 0 if report.ok else TAMPERED


def _cmd_audit(args: argparse.Namespace) -> int:
    from ..index.audit import list_audit

    rows = list_audit(
        args.index,
        dataset=args.dataset,
        user=args.user,
        action=args.action,
        since=args.since,
        until=args.until,
        limit=args.limit or None,
    )
    if args.json:
        print(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
        return 0
    for r in rows:
        detail = json.dumps(r["detail"], ensure_ascii=False, default=str)
        print(
            f"#{r['seq']:<7} {str(r['time'])[:19]}  {r['user'] or '-':12} {r['action']:16} "
            f"{r['dataset'] or '-':13} {detail[:100]}"
        )
    return 0


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from ..index.audit import verify_chain

    report = verify_chain(args.index, expect_head=args.expect)
    print(report)
    return 0 if report.ok else TAMPERED


def _cmd_audit_head(args: argparse.Namespace) -> int:
    from ..index import connect
    from ..index.audit import head

    with connect(args.index, read_only=True) as con:
        seq, h = head(con)
    print(f"{h}  (row #{seq}; keep it to check later: voxcat audit verify --expect {h})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``verify`` and ``audit`` on the main parser."""
    p = sub.add_parser("verify", help="re-hash datasets and report modified or missing files")
    add_selection(p)
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel readers")
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        default=None,
        help="read and hash on the Dask cluster of this scheduler, e.g. tcp://head:8786 "
        "(default: $VOXCAT_DASK_SCHEDULER, else Dask's scheduler-address configuration; "
        "none: local threads); its workers must "
        "see the files at the same paths",
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("audit", help="the audit log: list it, verify its hash chain")
    add_index(p)
    p.add_argument("--dataset", help="only this dataset id")
    p.add_argument("--user", help="only this user")
    p.add_argument("--action", help="only this action, or a prefix like 'scan.'")
    p.add_argument("--since", help="from this time (ISO, e.g. 2025-03)")
    p.add_argument("--until", help="up to this time (ISO)")
    p.add_argument("--limit", type=int, default=100, help="rows (0: all; default 100)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_cmd_audit)
    asub = p.add_subparsers(dest="audit_command", metavar="{verify,head}")
    v = asub.add_parser("verify", help="recompute the hash chain; exit 4 if tampered")
    add_index(v)
    v.add_argument("--expect", help="a head hash recorded earlier that must still be there")
    v.set_defaults(func=_cmd_audit_verify)
    h = asub.add_parser("head", help="print the newest hash of the chain")
    add_index(h)
    h.set_defaults(func=_cmd_audit_head)
