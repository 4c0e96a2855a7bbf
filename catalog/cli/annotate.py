"""Commands that annotate datasets: ``voxcat tag``, ``note`` and ``set``.

voxcat tag k2x9q4m1abcd m3p0... --tag porosity --tag paper-2025
voxcat tag k2x9q4m1abcd --tag porosity --remove
voxcat note k2x9q4m1abcd "ring artefacts in the top slices"
voxcat set k2x9q4m1abcd sample=S01 data_level=segmentation
"""

from __future__ import annotations

import argparse

from ..errors import QueryError
from .arguments import add_index


def _cmd_tag(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog

    cat = open_catalog(args.index, files=True)
    if args.remove:
        n = cat.untag(args.ids, *args.tag)
        print(f"removed {n} tag(s)")
    else:
        n = cat.tag(args.ids, *args.tag)
        print(f"added {n} tag(s)")
    return 0


def _cmd_note(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog

    open_catalog(args.index, files=True).note(args.id, args.text)
    print("note added")
    return 0


def _cmd_set(args: argparse.Namespace) -> int:
    from ..catalogue import open_catalog

    fields = {}
    for item in args.fields:
        key, sep, value = item.partition("=")
        if not sep:
            raise QueryError(f"set wants FIELD=VALUE, got {item!r}")
        fields[key] = value or None
    n = open_catalog(args.index, files=True).set(args.ids.split(","), **fields)
    print(f"updated {n} dataset(s)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``tag``, ``note`` and ``set`` on the main parser."""
    p = sub.add_parser("tag", help="add (or --remove) tags on datasets")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--tag", "-t", action="append", required=True, help="a tag (repeatable)")
    p.add_argument("--remove", action="store_true", help="remove the tags instead")
    add_index(p)
    p.set_defaults(func=_cmd_tag)

    p = sub.add_parser("note", help="attach a note to a dataset")
    p.add_argument("id")
    p.add_argument("text")
    add_index(p)
    p.set_defaults(func=_cmd_note)

    p = sub.add_parser("set", help="set user fields: sample, project, data_level, ...")
    p.add_argument("ids", metavar="ID[,ID...]")
    p.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    add_index(p)
    p.set_defaults(func=_cmd_set)
