"""The ``voxcat`` command line; it mirrors the Python API.

    voxcat scan /media/old_drive --index lab.duckdb --jobs 4
    voxcat summary --index lab.duckdb
    voxcat search sandstone --modality CT --voxel-size "<5um"
    voxcat show ID; voxcat tag ID --tag porosity
    voxcat drives --only-here
    voxcat readers
    voxcat demo

The index defaults to ``$VOXCAT_INDEX``, else ``./voxcat.duckdb``.

One module per kind of command: :mod:`.scanning` (scan, readers), :mod:`.importing`
(import-table), :mod:`.searching` (search, show, summary), :mod:`.annotate` (tag,
note, set), :mod:`.integrity` (verify, audit), :mod:`.drives`, :mod:`.risk` (risk,
policy), :mod:`.export`, :mod:`.migrate`, :mod:`.preview`
(preview, thumbnails), :mod:`.users` (user accounts) and :mod:`.demo`;
:mod:`.arguments` holds the options they share and :mod:`.running` how a command ends (exit statuses, errors, signals).

>>> build_parser().parse_args(["search", "--modality", "CT"]).modality
'CT'
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import (
    annotate,
    demo,
    drives,
    export,
    importing,
    integrity,
    migrate,
    preview,
    risk,
    scanning,
    searching,
    serve,
    users,
)
from .running import BROKEN_PIPE, INTERRUPTED, USAGE, run, terminate_like_ctrl_c


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``voxcat`` and all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="voxcat", description="A data catalogue for large imaging data."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    scanning.add_scan(sub)
    searching.add_summary(sub)
    scanning.add_readers(sub)
    demo.add_commands(sub)
    importing.add_commands(sub)
    searching.add_commands(sub)
    annotate.add_commands(sub)
    integrity.add_commands(sub)
    drives.add_commands(sub)
    risk.add_commands(sub)
    export.add_commands(sub)
    migrate.add_commands(sub)
    preview.add_commands(sub)
    users.add_commands(sub)
    serve.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voxcat`` console script (and ``python -m catalog.cli``).

    >>> main(["--version"])
    voxcat 0.1.0
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .. import __version__

        print(f"voxcat {__version__}")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return USAGE
    with terminate_like_ctrl_c() as stopped:
        return run(args, stopped)


__all__ = ["BROKEN_PIPE", "INTERRUPTED", "USAGE", "build_parser", "main"]
