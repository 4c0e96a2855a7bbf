"""Every built-in reader runs the reader contract (:mod:`catalog.testing`): adding a
reader to ``BUILTIN_READERS`` without a ``ReaderContract`` subclass fails here."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import tests.readers
from catalog.readers import BUILTIN_READERS, ImageInfo, Reader, Source, get_reader
from catalog.testing import ReaderContract, ReadSpy, spy_available


def _contract_classes() -> list[type[ReaderContract]]:
    for info in pkgutil.iter_modules(tests.readers.__path__):
        if info.name.startswith("test_"):
            importlib.import_module(f"tests.readers.{info.name}")
    found: list[type[ReaderContract]] = []
    todo = list(ReaderContract.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__module__.startswith("tests.readers.")]


def _uncovered() -> list[str]:
    covered = {cls.reader_class for cls in _contract_classes() if cls.reader_class}
    return [name for name in BUILTIN_READERS if type(get_reader(name)) not in covered]


def test_every_builtin_reader_runs_the_contract() -> None:
    missing = _uncovered()
    assert not missing, f"built-in readers without a ReaderContract test class: {missing}"


class UncoveredReader(Reader):
    """A built-in added without a contract test class."""

    name = "uncovered"

    def describe(self, source: Source) -> ImageInfo:
        return ImageInfo(shape=(1,), dtype="uint8", axes="x")

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        return xr.DataArray(np.zeros(1, np.uint8), dims=("x",))


def test_a_builtin_reader_without_the_contract_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    target = (__name__, "UncoveredReader")
    monkeypatch.setitem(BUILTIN_READERS, "uncovered", target)
    try:
        assert _uncovered() == ["uncovered"]
    finally:
        get_reader.cache_clear()


def test_a_reader_is_an_abstract_base_class() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Reader()  # type: ignore[abstract]

    class HalfReader(Reader):  # describe without open
        name = "half"

        def describe(self, source: Source):
            raise NotImplementedError

    with pytest.raises(TypeError, match="open"):
        HalfReader()  # type: ignore[abstract]


def test_builtin_readers_pickle() -> None:
    for name in BUILTIN_READERS:
        again = pickle.loads(pickle.dumps(get_reader(name)))
        assert type(again) is type(get_reader(name))


@pytest.mark.skipif(not spy_available(), reason="Linux only")
def test_the_spy_counts_bytes_read(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(np.arange(100_000, dtype=np.uint8).tobytes())
    with ReadSpy() as spy, open(path, "rb", buffering=0) as fh:
        fh.seek(10_000)
        fh.read(5000)
    assert spy.bytes_read == 5000
    with ReadSpy() as spy:
        path.read_bytes()
    assert spy.bytes_read == 100_000
