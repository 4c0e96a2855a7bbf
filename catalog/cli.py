"""The ``voxcat`` command line; it mirrors the Python API.

    voxcat scan /media/old_drive --index lab.duckdb --jobs 4
    voxcat summary --index lab.duckdb
    voxcat search sandstone --modality CT --voxel-size "<5um"
    voxcat show ID; voxcat tag ID --tag porosity
    voxcat readers
    voxcat demo

The index defaults to ``$VOXCAT_INDEX``, else ``./voxcat.duckdb``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from .errors import AnnotationError, CatalogError, InputLimitError, NotAnIndexError, QueryError

#: exit status of a command given input it cannot use (a bad value, not an index)
USAGE = 2
#: exit status of a command stopped by Ctrl-C or SIGTERM (its finished work is saved)
INTERRUPTED = 130
#: exit status when the reader of our output went away (``voxcat summary | head -1``),
#: as for a program ended by SIGPIPE
BROKEN_PIPE = 141


def _add_index(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--index",
        "-i",
        default=None,
        help="the DuckDB index file (default: $VOXCAT_INDEX, else ./voxcat.duckdb)",
    )


def _cmd_scan(args: argparse.Namespace) -> int:
    from .scanner import scan

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
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report)
    return 3 if args.strict and report.counts["failed"] else 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from .summary import summary_text

    print(summary_text(args.index, failed=args.failed))
    return 0


def _cmd_readers(args: argparse.Namespace) -> int:
    from .readers import BUILTIN_READERS, get_reader, list_readers

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


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import how_to_open, install_demo_notebook, open_lab, run_demo

    index = run_demo(Path(args.dir), index=args.index, force=args.force)
    notebook = install_demo_notebook(Path(args.dir), force=args.force)
    lab = args.lab if args.lab is not None else sys.stdin.isatty()
    if not lab:
        print(f"\nDemo notebook: {notebook}   (open it: {how_to_open(notebook, index)})")
        return 0
    print(f"\nOpening {notebook} in JupyterLab (press Ctrl-C twice to stop it) ...", flush=True)
    return open_lab(notebook, index)


def _add_import_table(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-table", help="register the rows of a CSV/TSV/Parquet catalogue as datasets"
    )
    p.add_argument(
        "table",
        help="the table file (.csv, .csv.gz, .tsv, .parquet) or an intake-esm collection "
        "spec (.json) naming one",
    )
    _add_index(p)
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


def _cmd_import_table(args: argparse.Namespace) -> int:
    from .errors import ImportTableError, ImportTableWarning
    from .importer import import_table

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxcat", description="A data catalogue for large imaging data."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("scan", help="index every dataset under a folder (incremental)")
    p.add_argument("path", help="folder (or single file) to scan")
    _add_index(p)
    p.add_argument(
        "--jobs", "-j", type=int, default=None, help="worker processes (default: cores)"
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
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--strict", action="store_true", help="exit with status 3 if any dataset failed"
    )
    p.set_defaults(func=_cmd_scan)

    p = sub.add_parser("summary", help="what the index holds: counts, formats, failures")
    _add_index(p)
    p.add_argument(
        "--failed", action="store_true", help="list every failed dataset and scan issue"
    )
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("readers", help="list the format readers (built in and plugins)")
    p.set_defaults(func=_cmd_readers)

    p = sub.add_parser(
        "demo",
        help="write a sample lab drive, scan it and open the demo notebook in JupyterLab",
        description="Write a sample lab drive to DIR/drive, scan it into DIR/voxcat.duckdb, "
        "print a summary, copy the demo notebook to DIR/demo.ipynb and open it in "
        "JupyterLab with VOXCAT_INDEX set to the index. JupyterLab is opened only when "
        "stdin is a terminal (or with --lab); otherwise, as in CI, the command prints how "
        "to open it and exits.",
    )
    p.add_argument(
        "--dir", default="voxcat-demo", help="where to put the demo (default ./voxcat-demo)"
    )
    _add_index(p)
    p.add_argument(
        "--force", action="store_true", help="rewrite the sample drive and the notebook"
    )
    p.add_argument(
        "--lab",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="open JupyterLab afterwards (default: only if stdin is a terminal); "
        "--no-lab stops after the summary and prints how to open the notebook",
    )
    p.set_defaults(func=_cmd_demo)
    _add_import_table(sub)
    from .cli_catalogue import add_commands

    add_commands(sub, _add_index)
    from .cli_integrity import add_commands as add_integrity

    add_integrity(sub, _add_index)
    from .cli_export import add_commands as add_export

    add_export(sub, _add_index)
    from .cli_preview import add_commands as add_preview

    add_preview(sub, _add_index)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voxcat`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"voxcat {__version__}")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with _terminate_like_ctrl_c() as stopped:
        return _run(args, stopped)


class _Stopped:
    """The signal a command was stopped with (set by :func:`_terminate_like_ctrl_c`)."""

    signum: int | None = None


@contextlib.contextmanager
def _terminate_like_ctrl_c() -> Iterator[_Stopped]:
    """SIGTERM stops a command as Ctrl-C does: ``KeyboardInterrupt`` where it runs, so a
    scan saves its finished datasets and is marked interrupted. A second SIGTERM while
    that happens is ignored (SIGKILL is not)."""
    stopped = _Stopped()

    def on_term(signum: int, _frame: FrameType | None) -> None:
        if stopped.signum is None:
            stopped.signum = signum
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield stopped
        return
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace, stopped: _Stopped) -> int:
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # the reader stopped (`voxcat summary | head -1`): nothing more to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE
    except (QueryError, AnnotationError, InputLimitError, NotAnIndexError) as exc:
        print(f"voxcat: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return USAGE
    except (CatalogError, FileNotFoundError) as exc:
        print(f"voxcat: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(stopped)
    except Exception as exc:
        if stopped.signum is not None:  # DuckDB turns an interrupt in a query into its own
            return _interrupted(stopped)
        from .index.connection import disk_full, disk_full_cause

        if not disk_full(exc):
            raise
        where = getattr(exc, "filename", None) or "a file"
        print(f"voxcat: error: {disk_full_cause(exc, where)}", file=sys.stderr)
        return 1


def _interrupted(stopped: _Stopped) -> int:
    how = "terminated (SIGTERM)" if stopped.signum == signal.SIGTERM else "interrupted"
    print(
        f"voxcat: {how}; finished work is saved, run the same command to resume",
        file=sys.stderr,
    )
    return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
