"""The examples in docstrings run: every module of the three packages is imported and
its doctests (those not marked ``+SKIP``, which need an index or data) are executed."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import catalog
import jupyter_ext
import widgets


def _modules() -> list[str]:
    names = []
    for pkg in (catalog, widgets, jupyter_ext):
        names.append(pkg.__name__)
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if ".frontend" not in info.name and not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, (
        f"{result.failed} docstring example(s) of {name} failed (output above)"
    )
