"""The ``voxcat preview`` command: build preview pyramids for big datasets; and
``voxcat thumbnails``: draw thumbnails again.

voxcat preview                          # every big dataset without a pyramid
voxcat preview --modality CT --dry-run  # a selection, like voxcat search; only list
voxcat preview --min-size 1GB --prune   # bigger ones only; drop previews of old data
voxcat preview --scheduler tcp://head:8786  # built on a Dask cluster ($VOXCAT_DASK_SCHEDULER)
voxcat preview --to s3://lab/previews --storage-option endpoint_url=http://s3.lab:9000
                                        # keep this index's previews in object storage
voxcat preview --to cache               # back to the index's cache folder
voxcat thumbnails --missing             # those a full disk kept from being written
"""

from __future__ import annotations

import argparse
import json

from .arguments import add_selection, filters


def _cmd_preview(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog
    from ..catalogue.values import parse_bytes
    from ..errors import PreviewError
    from ..paths import display
    from ..preview import prune_previews
    from ..preview.batch import build_previews
    from ..preview.place import set_preview_location
    from ..remote import parse_storage_options

    try:
        options = parse_storage_options(args.storage_option) if args.storage_option else None
    except ValueError as exc:
        raise PreviewError(str(exc)) from None
    if args.to is not None:  # remembered by the index (without credentials)
        place = set_preview_location(
            args.index, args.to, storage_options=options, dry_run=args.dry_run
        )
        if args.dry_run:  # the place is checked, not kept; nothing is built
            if args.json:
                print(json.dumps({"where": place.where, "kept": False}))
            else:
                print(f"previews of this index would live in {place.where} (--dry-run)")
            return 0
        if not args.json:
            print(f"previews of this index live in {place.where}")
    ids = None
    selected = filters(args)
    if args.text or selected:
        ids = list(open_catalog(args.index).search(" ".join(args.text) or None, **selected))
    min_bytes = int(parse_bytes(args.min_size))
    report = build_previews(
        args.index,
        ids,
        min_bytes=min_bytes,
        progress=not args.json and None,
        dry_run=args.dry_run,
        scheduler=args.scheduler,
        storage_options=options,
    )
    pruned = (
        prune_previews(args.index, storage_options=options)
        if args.prune and not args.dry_run
        else []
    )
    if args.json:
        out = {
            "counts": report.counts,
            "built": [{"id": i, "path": display(p), "seconds": s} for i, p, s in report.built],
            "failed": [{"dataset": d, "error": e} for d, e in report.failed],
            "pruned": [display(p) for p in pruned],
            "removed": [display(p) for p in report.removed],
            "bytes_on_disk": report.bytes_on_disk,
            "where": report.where,
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0 if report.ok else 1
    verb = "would build" if args.dry_run else "built"
    for ident, path, seconds in report.built:
        took = "" if args.dry_run else f" in {seconds:.1f} s"
        print(f"{verb} {ident}{took}: {display(path)}")
    for path in pruned:
        print(f"pruned {display(path)}")
    print(report)
    return 0 if report.ok else 1


def _cmd_thumbnails(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog
    from ..scanner.redraw import draw_thumbnails

    ids = None
    selected = filters(args)
    if args.text or selected:
        ids = list(open_catalog(args.index).search(" ".join(args.text) or None, **selected))
    report = draw_thumbnails(args.index, ids, missing_only=args.missing, jobs=args.jobs)
    if args.json:
        out = {
            "considered": report.considered,
            "drawn": report.drawn,
            "failed": [{"dataset": d, "error": e} for d, e in report.failed],
            "seconds": round(report.seconds, 2),
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(report)
    return 0 if report.ok else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``preview`` and ``thumbnails`` on the main parser."""
    from ..preview import PREVIEW_MIN_BYTES

    p = sub.add_parser(
        "preview",
        help="build preview pyramids (fast browsing) for big datasets without their own",
    )
    add_selection(p)
    p.add_argument(
        "--min-size",
        default=f"{PREVIEW_MIN_BYTES >> 20} MiB",
        help="only datasets at least this big uncompressed (default: %(default)s)",
    )
    p.add_argument("--dry-run", action="store_true", help="only list what would be built")
    p.add_argument(
        "--prune", action="store_true", help="then delete previews of data no longer indexed"
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="build on the Dask cluster of this scheduler, e.g. tcp://head:8786 "
        "(default: $VOXCAT_DASK_SCHEDULER, else here); workers must see the data and "
        "the index's cache folder at the same paths",
    )
    p.add_argument(
        "--to",
        metavar="URL",
        help="keep this index's previews at URL from now on (s3://bucket/prefix, any "
        "fsspec protocol; 'cache' for the index's cache folder, the default); remembered "
        "by the index, without credentials",
    )
    p.add_argument(
        "--storage-option",
        action="append",
        metavar="NAME=VALUE",
        help="an fsspec storage option of the object storage previews live in "
        "(repeatable; or one JSON object), e.g. endpoint_url=http://127.0.0.1:9000; "
        "stored with --to without credentials; credentials come from the environment "
        "or AWS profiles",
    )
    p.set_defaults(func=_cmd_preview)

    p = sub.add_parser(
        "thumbnails",
        help="draw thumbnails again: --missing for those not written (a full disk), deleted "
        "or outdated",
        description="Draw the thumbnails of the selected datasets (default: all) again, or "
        "with --missing only those the cache lacks: thumbnails a full disk kept from being "
        "written, deleted ones, outdated ones (drawn by an older version, or before the "
        "dataset was marked a segmentation) and ones that could not be drawn before "
        "(tried again).",
    )
    add_selection(p)
    p.add_argument(
        "--missing",
        action="store_true",
        help="only datasets whose thumbnail file is missing or outdated",
    )
    p.add_argument(
        "--jobs", "-j", type=int, default=None, help="worker processes (default: cores)"
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_cmd_thumbnails)
