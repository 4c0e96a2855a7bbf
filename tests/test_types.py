"""The three packages type-check: ``python -m mypy`` with the project's own
configuration (``[tool.mypy]`` in ``pyproject.toml``: ``catalog``, ``widgets`` and
``jupyter_ext``) finds no error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import catalog

ROOT = Path(catalog.__file__).resolve().parent.parent


@pytest.mark.slow
def test_mypy_passes(tmp_path: Path) -> None:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip(f"{ROOT} is not a source checkout (no pyproject.toml)")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,  # under pytest-timeout's 300 s, so the output is shown
    )
    assert done.returncode == 0, f"mypy found errors:\n{done.stdout}{done.stderr}"
