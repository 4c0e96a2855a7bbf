"""Every warning voxcat gives is a :class:`~catalog.errors.VoxcatWarning`, so a user
can silence or escalate them all with one filter."""

from __future__ import annotations

import ast
from pathlib import Path

import catalog
from catalog import errors

PACKAGES = [Path(catalog.__file__).parent]
PACKAGES += [PACKAGES[0].parent / "widgets", PACKAGES[0].parent / "jupyter_ext"]


def _warn_categories() -> list[tuple[str, int, str | None]]:
    """(file, line, category name) of every ``warnings.warn`` call in the packages."""
    found = []
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                if not (isinstance(f, ast.Attribute) and f.attr == "warn"):
                    continue
                if not (isinstance(f.value, ast.Name) and f.value.id == "warnings"):
                    continue
                cat = node.args[1] if len(node.args) > 1 else None
                cat = cat or next((k.value for k in node.keywords if k.arg == "category"), None)
                name = cat.id if isinstance(cat, ast.Name) else None
                found.append((str(path), node.lineno, name))
    return found


def test_every_warning_voxcat_gives_is_a_voxcat_warning() -> None:
    calls = _warn_categories()
    assert len(calls) >= 6  # the walk sees the calls
    for path, line, name in calls:
        assert name is not None, f"{path}:{line}: warnings.warn without a category"
        category = getattr(errors, name, None)
        assert isinstance(category, type) and issubclass(category, errors.VoxcatWarning), (
            f"{path}:{line}: {name} is not a catalog.errors.VoxcatWarning"
        )


def test_warning_classes_keep_their_old_bases() -> None:
    # code that filtered RuntimeWarning before keeps working
    for name in ("ReaderPluginWarning", "IndexNotRecordedWarning", "CleanupWarning"):
        assert issubclass(getattr(errors, name), RuntimeWarning)
    assert issubclass(errors.VoxcatWarning, UserWarning)
