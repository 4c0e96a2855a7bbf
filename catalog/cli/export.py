"""``voxcat export``: write a selection as a self-contained folder.

    voxcat export sandstone --modality CT /media/usb/sandstone
    voxcat export --tag paper-2025 out/ --mode zarr --include-ancestors
    voxcat export --where access=open out/ --mode link --license CC-BY-4.0
    voxcat export --project rocks out/ --skip-unreadable   # leave out what cannot be read
    voxcat export --project rocks /share/rocks --mode zarr --scheduler tcp://head:8786
    voxcat export --project rocks s3://lab-share/rocks --storage-option endpoint_url=https://s3.example.org

The selection options are those of ``voxcat search``; the last word is the folder (or
a URL in object storage, with ``--storage-option`` as ``voxcat scan`` takes them).
Rerunning an interrupted export finishes it.
"""

from __future__ import annotations

import argparse
import json
import shlex

from .arguments import add_filters, add_index, filters


def _cmd_export(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog
    from ..errors import ExportError
    from ..export import export_catalog
    from ..remote import is_remote, parse_storage_options

    if not args.words:
        raise ExportError("voxcat export needs a destination folder: voxcat export [TEXT...] DEST")
    *text, dest = args.words
    try:
        options = parse_storage_options(args.storage_option) if args.storage_option else None
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if options and not is_remote(dest):
        raise ExportError("--storage-option is for URLs (s3://bucket/prefix), not folders")
    selected = filters(args)
    cat = open_catalog(args.index, files=args.files)
    sub = cat.search(" ".join(text) or None, **selected)
    shown = list(text)
    for key, value in selected.items():
        shown += [f"--{key.replace('_', '-')}", str(value)]
    report = export_catalog(
        sub,
        dest,
        mode=args.mode,
        include_ancestors=args.include_ancestors,
        allow_restricted=args.allow_restricted,
        deep_verify=args.deep_verify,
        skip_unreadable=args.skip_unreadable,
        organization=args.organization,
        progress=False if args.json or args.quiet else None,
        license=args.license,
        query="voxcat export " + " ".join(shlex.quote(s) for s in shown) if shown else None,
        scheduler=args.scheduler,
        storage_options=options,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str, ensure_ascii=False))
    else:
        print(report)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``export`` on the main parser."""
    p = sub.add_parser(
        "export",
        help="write a selection as a self-contained folder (data, intake catalogue, index, "
        "BagIt, RO-Crate)",
        description="Select datasets like `voxcat search` and write them to DEST with an "
        "intake catalogue that opens without voxcat.",
    )
    p.add_argument(
        "words", nargs="*", metavar="[TEXT ...] DEST", help="search words, then the folder"
    )
    add_index(p)
    add_filters(p, where_help="any field")
    p.add_argument("--files", action="store_true", help="include non-image files")
    p.add_argument(
        "--mode",
        choices=("copy", "link", "zarr"),
        default="copy",
        help="copy the files (default), hard/symbolic links, or convert to Zarr",
    )
    p.add_argument(
        "--include-ancestors", action="store_true", help="also export what they derive from"
    )
    p.add_argument(
        "--allow-restricted", action="store_true", help="export datasets with access=restricted"
    )
    p.add_argument(
        "--deep-verify",
        action="store_true",
        help="re-read every written file from the device and compare its hashes",
    )
    p.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="export the datasets that can be read and list the others in the README "
        "(default: refuse, listing them)",
    )
    p.add_argument("--license", default=None, help="licence of the subset, e.g. CC-BY-4.0")
    p.add_argument(
        "--organization",
        default=None,
        help="who publishes it (a name or a ROR/web URL): the RO-Crate publisher and the "
        "exporter's affiliation (default: $VOXCAT_ORGANIZATION)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --mode zarr, convert on the Dask cluster of this scheduler, e.g. "
        "tcp://head:8786 (default: $VOXCAT_DASK_SCHEDULER, else here); its workers must "
        "see the data and DEST at the same paths",
    )
    p.add_argument(
        "--storage-option",
        action="append",
        metavar="NAME=VALUE",
        help="an fsspec storage option of a DEST URL (repeatable; or one JSON object), e.g. "
        "endpoint_url=http://127.0.0.1:9000; credentials come from the environment or AWS "
        "profiles and are never written into the export",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_export)
