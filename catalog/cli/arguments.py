"""Arguments several ``voxcat`` commands share: ``--index``, and the selection of
datasets as ``voxcat search`` makes it (words, field shortcuts, ``--tag``, ``--where``).

Filter values are read by :func:`catalog.querytext.read_value`, as REST reads them:
``lo..hi`` a range, ``a,b`` a list (any of), ``\\,`` and ``\\..`` literal.

>>> p = argparse.ArgumentParser()
>>> add_selection(p)
>>> filters(p.parse_args(["--modality", "CT,MR", "--where", "meta.Note=a\\\\,b"]))
{'modality': ['CT', 'MR'], 'meta.Note': 'a,b'}
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import QueryError
from ..querytext import read_value

#: the field options of a selection: ``--modality CT`` is ``--where modality=CT``
SHORTCUTS = (
    ("modality", "modality, e.g. CT, MR, EM, LM"),
    ("format", "reader or file type, e.g. tiff, zarr, dicom"),
    ("level", "data level: raw, reconstructed, processed, segmentation, analysis"),
    ("sample", "sample name (globs allowed)"),
    ("project", "project name (globs allowed)"),
    ("voxel-size", "voxel size, e.g. '<5um' or '1um..10um'"),
    ("size", "size on disk, e.g. '>1GB'"),
    ("acquired", "acquisition time, e.g. 2024, 2024-03..2024-06"),
    ("status", "ok, failed, missing, offline or registered"),
)


def add_index(p: argparse.ArgumentParser) -> None:
    """The ``--index``/``-i`` option (the DuckDB index file)."""
    p.add_argument(
        "--index",
        "-i",
        default=None,
        help="the DuckDB index file (default: $VOXCAT_INDEX, else ./voxcat.duckdb)",
    )


def add_filters(p: argparse.ArgumentParser, where_help: str | None = None) -> None:
    """The field shortcuts, ``--tag`` and ``--where`` (read them back with :func:`filters`)."""
    for name, help_text in SHORTCUTS:
        p.add_argument(f"--{name}", default=None, help=help_text)
    p.add_argument("--tag", action="append", help="has this tag (repeat: any of)")
    p.add_argument(
        "--where",
        action="append",
        metavar="KEY=VALUE",
        help=where_help or "any field or metadata key, e.g. meta.ExposureTime=0.1..1 (repeatable)",
    )


def add_selection(
    p: argparse.ArgumentParser, text_help: str = "words selecting datasets (default: all)"
) -> None:
    """The arguments that select datasets as ``voxcat search`` does (read them back
    with :func:`filters`): words, ``--index``, the field shortcuts, ``--tag``, ``--where``."""
    p.add_argument("text", nargs="*", help=text_help)
    add_index(p)
    add_filters(p)


def filters(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword filters of ``cat.search`` that a selection's options name."""
    out: dict[str, Any] = {}
    for name, _ in SHORTCUTS:
        value = getattr(args, name.replace("-", "_"))
        if value is not None:
            out[name.replace("-", "_")] = read_value(value)
    if args.tag:
        out["tags"] = args.tag if len(args.tag) > 1 else args.tag[0]
    for item in args.where or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise QueryError(f"--where wants KEY=VALUE, got {item!r}")
        out[key.strip()] = read_value(value)
    return out
