"""`import catalog` stays light: no Jupyter, panel or hvplot (like tiled's heavy-import test)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "jupyter_server",
    "jupyterlab",
    "ipywidgets",
    "panel",
    "hvplot",
    "bokeh",
    "holoviews",
    "IPython",
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}; import sys, json; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_catalog_is_light() -> None:
    mods = _modules_after("import catalog")
    assert not {m for m in mods if m.split(".")[0] in HEAVY}
    # not even the scientific stack until it is used
    assert not {m for m in mods if m.split(".")[0] in ("xarray", "dask", "duckdb", "tifffile")}


def test_import_widgets_leaves_plotting_out() -> None:
    """panel and hvplot take seconds to import: only ``widgets.dashboard(cat)`` does."""
    mods = _modules_after("import widgets, widgets.dashboard")
    assert not {m for m in mods if m.split(".")[0] in ("panel", "hvplot", "bokeh", "holoviews")}


def test_scanning_imports_no_jupyter_code() -> None:
    mods = _modules_after(
        "import catalog.scanner, catalog.readers, catalog.cli; catalog.readers.load_readers()"
    )
    assert not {m for m in mods if m.split(".")[0] in HEAVY}


def test_loading_readers_imports_no_format_library() -> None:
    """Readers import nibabel and astropy only when they read a file."""
    mods = _modules_after("import catalog.readers; catalog.readers.load_readers()")
    assert not {m for m in mods if m.split(".")[0] in ("astropy", "nibabel")}
