"""``voxcat demo``: write a sample lab drive, scan it and open the demo notebook.

voxcat demo                  # ./voxcat-demo; JupyterLab when stdin is a terminal
voxcat demo --dir /tmp/d --no-lab
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import add_index


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import how_to_open, install_demo_notebook, open_lab, run_demo

    index = run_demo(Path(args.dir), index=args.index, force=args.force)
    notebook = install_demo_notebook(Path(args.dir), force=args.force)
    lab = args.lab if args.lab is not None else sys.stdin.isatty()
    if not lab:
        print(f"\nDemo notebook: {notebook}   (open it: {how_to_open(notebook, index)})")
        return 0
    print(f"\nOpening {notebook} in JupyterLab (press Ctrl-C twice to stop it) ...", flush=True)
    return open_lab(notebook, index)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``demo`` on the main parser."""
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
    add_index(p)
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
