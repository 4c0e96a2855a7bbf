"""``voxcat migrate``: copy datasets to a new folder as verified replicas.

    voxcat migrate --project rocks --to /srv/lab-data --dry-run
    voxcat migrate --project rocks --to /srv/lab-data
    voxcat migrate --id k2x9q4m1abcd --to /srv/lab-data --retire-source --min-copies 2
    voxcat migrate sandstone --level raw --to /srv/lab-data --convert ome-zarr

The selection options are those of ``voxcat search`` (words, ``--project``,
``--where KEY=VALUE``...) plus ``--id``. Rerunning an interrupted migration finishes it.
"""

from __future__ import annotations

import argparse
import json

from .arguments import add_selection, filters


def _cmd_migrate(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog
    from ..migration import migrate

    cat = open_catalog(args.index)
    selected = filters(args)
    text = " ".join(args.text) or None
    sub = cat.search(text, **selected) if (text or selected) else cat
    report = migrate(
        sub,
        args.to,
        args.id,
        convert=args.convert,
        dry_run=args.dry_run,
        retire_source=args.retire_source,
        min_copies=args.min_copies,
        deep_verify=not args.no_read_back,
        progress=False if args.json or args.quiet else None,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str, ensure_ascii=False))
    else:
        print(report)
    return 1 if report.refused else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``migrate`` on the main parser."""
    p = sub.add_parser(
        "migrate",
        help="copy datasets to a new folder as verified replicas (resumable; optionally "
        "convert to OME-Zarr or retire the sources)",
        description="Select datasets like `voxcat search` and copy them into --to with the "
        "export copy engine; each copy is recorded as a replica of its dataset.",
    )
    add_selection(p)
    p.add_argument("--to", required=True, metavar="DIR", help="the folder to copy into")
    p.add_argument(
        "--id",
        action="append",
        metavar="ID",
        help="this dataset (repeatable; with words and filters: those of them that match)",
    )
    p.add_argument(
        "--convert",
        choices=("ome-zarr",),
        default=None,
        help="write OME-Zarr, recorded as new datasets derived from the sources (lineage)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print datasets, files, bytes and an estimated time; write nothing",
    )
    p.add_argument(
        "--retire-source",
        action="store_true",
        help="delete each source once --min-copies verified copies remain without it",
    )
    p.add_argument(
        "--min-copies",
        type=int,
        default=2,
        metavar="N",
        help="verified copies that must remain for --retire-source to delete (default 2)",
    )
    p.add_argument(
        "--no-read-back",
        action="store_true",
        help="trust fsync and the hashes of the bytes written; do not read each copy back "
        "from the device (faster, weaker)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_migrate)
