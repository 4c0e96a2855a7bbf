"""``voxcat import-table``: register the rows of an existing catalogue as datasets.

voxcat import-table old_catalogue.csv --map "File Name=path" --map Scanner=instrument
voxcat import-table pangeo-cmip6.json          # an intake-esm collection spec
"""

from __future__ import annotations

import argparse
import warnings

from .arguments import add_index


def _cmd_import_table(args: argparse.Namespace) -> int:
    from ..errors import ImportTableError, ImportTableWarning
    from ..importer import import_table

    mapping: dict[str, str | None] = {}
    for pair in args.map:
        col, eq, field = pair.rpartition("=")
        if not eq or not col:
            raise ImportTableError(f"--map {pair!r}: expected COLUMN=FIELD (COLUMN= drops it)")
        mapping[col] = field.strip() or None
    with warnings.catch_warnings():  # the report below says the same
        warnings.simplefilter("ignore", ImportTableWarning)
        report = import_table(
            args.table,
            args.index,
            mapping=mapping,
            root=args.root,
            sep=args.sep,
            tags_sep=args.tags_sep,
            columns_with_iterables=args.list_column,
        )
    print(report)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``import-table`` on the main parser."""
    p = sub.add_parser(
        "import-table", help="register the rows of a CSV/TSV/Parquet catalogue as datasets"
    )
    p.add_argument(
        "table",
        help="the table file (.csv, .csv.gz, .tsv, .parquet) or an intake-esm collection "
        "spec (.json) naming one",
    )
    add_index(p)
    p.add_argument(
        "--map",
        "-m",
        action="append",
        default=[],
        metavar="COL=FIELD",
        help="map a column to a field, e.g. --map 'Datei=path'; 'COL=' drops the column",
    )
    p.add_argument(
        "--root", default=None, help="folder relative paths are under (default: the table's)"
    )
    p.add_argument("--sep", default=None, help="CSV separator (default: detected)")
    p.add_argument("--tags-sep", default=",", help="separator inside the tags column (default ,)")
    p.add_argument(
        "--list-column",
        action="append",
        default=[],
        metavar="COL",
        help="a column holding lists as Python literals, e.g. \"['TLON', 'TLAT']\" "
        "(intake-esm's columns_with_iterables; repeatable; found without it when every "
        "cell is such a list)",
    )
    p.set_defaults(func=_cmd_import_table)
