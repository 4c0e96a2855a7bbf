"""ARCHITECTURE.md names real modules: every ``catalog/...`` path it mentions exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_path_the_architecture_note_names_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    paths = set(re.findall(r"\b((?:catalog|widgets|jupyter_ext|docs)/[\w./-]*\w)", text))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_the_readme_points_to_it() -> None:
    assert "(ARCHITECTURE.md)" in (ROOT / "README.md").read_text()
