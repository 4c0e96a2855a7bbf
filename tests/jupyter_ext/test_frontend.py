"""The JupyterLab front end: installed with the package, and its TypeScript unit tests
(``jlpm test`` in ``jupyter_ext/frontend``: paging, windowing, query strings,
formatting, inserted code, job notifications)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "jupyter_ext" / "frontend"


def test_labextension_is_installed_and_enabled() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = out.stdout + out.stderr
    line = next((ln for ln in text.splitlines() if "@voxcat/jupyterlab" in ln), None)
    assert line is not None, text
    assert "enabled" in line and "OK" in line, line


def test_built_assets_are_not_in_git() -> None:
    ignored = (FRONTEND.parents[1] / ".gitignore").read_text().splitlines()
    assert "jupyter_ext/labextension/" in ignored
    assert "node_modules/" in ignored
    package = json.loads((FRONTEND / "package.json").read_text())
    assert package["jupyterlab"]["outputDir"] == "../labextension"


@pytest.mark.slow
def test_typescript_unit_tests() -> None:
    if not (FRONTEND / "node_modules").is_dir():
        pytest.fail(
            f"{FRONTEND}/node_modules is missing: `pip install .` from this checkout "
            "installs it while building the front end (or run `jlpm install` there)"
        )
    jlpm = shutil.which("jlpm")
    assert jlpm, "jlpm (from the jupyterlab package) is not on PATH"
    out = subprocess.run([jlpm, "test"], cwd=FRONTEND, capture_output=True, text=True, timeout=240)
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-40:])
    assert out.returncode == 0, tail
    assert "# fail 0" in out.stdout, tail
    passed = int(next(ln for ln in out.stdout.splitlines() if ln.startswith("# pass")).split()[2])
    assert passed >= 20, tail
