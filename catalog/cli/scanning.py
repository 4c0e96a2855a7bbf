"""Commands that fill the index: ``voxcat scan``, and ``voxcat readers`` (what a scan
can read).

    voxcat scan /media/old_drive --index lab.duckdb --jobs 4
    voxcat scan /media/old_drive --pattern '{year}/{project}/{sample}' --strict
    voxcat scan /lab/data --scheduler tcp://head:8786   # read on a Dask cluster
    voxcat scan s3://bucket/prefix --index lab.duckdb --storage-option endpoint_url=http://127.0.0.1:9000
    voxcat readers
"""

from __future__ import annotations

import argparse
import json

from .arguments import add_index
from .running import FAILED


def _cmd_scan(args: argparse.Namespace) -> int:
    from ..errors import ScanError
    from ..remote import is_remote, parse_storage_options
    from ..scanner import scan

    try:
        options = parse_storage_options(args.storage_option) if args.storage_option else None
    except ValueError as exc:
        raise ScanError(str(exc)) from None
    if options is not None and not is_remote(args.path):
        raise ScanError("--storage-option is for URLs (s3://bucket/prefix), not folders")
    report = scan(
        args.path,
        args.index,
        jobs=args.jobs,
        pattern=args.pattern,
        progress=False if args.quiet or args.json else None,
        thumbnails=not args.no_thumbnails,
        retry_failed=args.retry_failed,
        follow_links=args.follow_links,
        full_checksums=args.full_checksums,
        scheduler=args.scheduler,
        storage_options=options,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report)
    return FAILED if args.strict and report.counts["failed"] else 0


def _cmd_readers(args: argparse.Namespace) -> int:
    from ..readers import BUILTIN_READERS, get_reader, list_readers

    for name in list_readers():
        try:
            r = get_reader(name)
        except Exception as exc:
            print(f"{name:10s}  BROKEN: {exc}")
            continue
        origin = "built-in" if name in BUILTIN_READERS else "plugin"
        suffixes = " ".join(r.suffixes) or "(folders)"
        print(f"{name:10s}  {r.description}  [{suffixes}]  ({origin})")
    return 0


def add_scan(sub: argparse._SubParsersAction) -> None:
    """Register ``scan`` on the main parser."""
    p = sub.add_parser("scan", help="index every dataset under a folder (incremental)")
    p.add_argument(
        "path",
        help="folder (or single file) to scan, or a URL of object storage "
        "(s3://bucket/prefix, or any protocol fsspec has installed)",
    )
    add_index(p)
    p.add_argument(
        "--jobs", "-j", type=int, default=None, help="worker processes (default: cores)"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        default=None,
        help="describe, checksum and draw on the Dask cluster of this scheduler, e.g. "
        "tcp://head:8786 (default: $VOXCAT_DASK_SCHEDULER, else Dask's scheduler-address "
        "configuration; none: local worker processes); its workers must see the folder "
        "at the same path",
    )
    p.add_argument(
        "--pattern",
        default=None,
        help="folder convention below the root, e.g. '{year}/{project}/{sample}' (remembered)",
    )
    p.add_argument("--no-thumbnails", action="store_true", help="skip thumbnails")
    p.add_argument(
        "--retry-failed", action="store_true", help="re-read datasets that failed before"
    )
    p.add_argument(
        "--follow-links",
        action="store_true",
        help="follow symlinks that lead out of the folder (by default they are listed in "
        "the report and not followed)",
    )
    p.add_argument(
        "--full-checksums",
        action="store_true",
        help="hash every file in full, also non-image files over 64 MiB (which otherwise "
        "get a sampled checksum: size, mtime and a few blocks), and replace sampled ones",
    )
    p.add_argument(
        "--storage-option",
        action="append",
        metavar="NAME=VALUE",
        help="an fsspec storage option of a URL to scan (repeatable; or one JSON object), "
        "e.g. endpoint_url=http://127.0.0.1:9000; stored without credentials and reused "
        "by rescans; credentials come from the environment or AWS profiles",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--strict", action="store_true", help="exit with status 3 if any dataset failed"
    )
    p.set_defaults(func=_cmd_scan)


def add_readers(sub: argparse._SubParsersAction) -> None:
    """Register ``readers`` on the main parser."""
    p = sub.add_parser("readers", help="list the format readers (built in and plugins)")
    p.set_defaults(func=_cmd_readers)
