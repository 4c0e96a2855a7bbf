"""A third-party reader runs the shipped contract the way the catalog.testing docs say:
``reader_class`` and a ``make_sample(tmp_path)`` hook, no fixtures of its own. The
plugin reads NumPy's ``.npy`` files (written here by ``np.save``)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import xarray as xr

from catalog.confine import open_binary
from catalog.errors import ReaderError
from catalog.readers import ImageInfo, Reader, Source, read_magic, reader_errors
from catalog.readers.arrays import check_size, lazy_array
from catalog.readers.base import build_dataarray, level_of
from catalog.testing import ReaderContract, Sample, spy_available

MAGIC = b"\x93NUMPY"


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a C-order ``.npy`` file, from its header alone."""
    head = read_magic(path, 1024)
    if not head.startswith(MAGIC) or len(head) < 10:
        raise ValueError("not a .npy file")
    major = head[6]
    size_bytes = 2 if major == 1 else 4
    length = int.from_bytes(head[8 : 8 + size_bytes], "little")
    start = 8 + size_bytes
    meta = ast.literal_eval(head[start : start + length].decode("latin-1"))
    if meta["fortran_order"]:
        raise ValueError("Fortran-order arrays are not supported")
    return tuple(meta["shape"]), np.dtype(meta["descr"]), start + length


class NpyBlocks:
    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.offset, self.shape, self.ndim = path, offset, shape, len(shape)
        self.file_dtype, self.dtype = np.dtype(dtype), np.dtype(dtype).newbyteorder("=")

    def __getitem__(self, index: Any) -> np.ndarray:
        with reader_errors(self.path, "cannot read pixels"), open_binary(self.path) as fh:
            mm = np.memmap(fh, self.file_dtype, "r", offset=self.offset, shape=self.shape)
            return np.array(mm[index], dtype=self.dtype)


class NpyReader(Reader):
    name: ClassVar[str] = "npy"
    description: ClassVar[str] = "NumPy .npy arrays"
    url: ClassVar[str] = "https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html"
    suffixes: ClassVar[tuple[str, ...]] = (".npy",)

    def guess_can_open(self, path: Path) -> bool:
        return read_magic(Path(path), len(MAGIC)) == MAGIC

    def _header(self, path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
        size = check_size(path)
        with reader_errors(path, "invalid .npy header"):
            shape, dtype, offset = npy_header(path)
        needed = offset + int(np.prod(shape)) * dtype.itemsize
        if needed > size:
            raise ReaderError(path, f"truncated .npy file: {size} bytes of {needed}")
        return shape, dtype, offset

    def describe(self, source: Source) -> ImageInfo:
        path = Path(source.path)
        shape, dtype, _ = self._header(path)
        axes = "tczyx"[-len(shape) :]
        return ImageInfo(shape=shape, dtype=str(dtype.newbyteorder("=")), axes=axes)

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        path = Path(source.path)
        info = self.describe(source)
        level_of(info, level, path)
        shape, dtype, offset = self._header(path)
        data = lazy_array(NpyBlocks(path, offset, shape, dtype), shape, f"npy-{path}")
        return build_dataarray(data, info, name=source.display_name)


class TestNpyPlugin(ReaderContract):
    reader_class = NpyReader

    def make_sample(self, tmp_path: Path) -> Sample:
        data = np.arange(4 * 256 * 256, dtype=">u2").reshape(4, 256, 256)
        path = tmp_path / "scan.npy"
        np.save(path, data)
        return Sample(Source.single(path), data.astype("=u2"), "zyx")


class GreedyNpyReader(NpyReader):
    """Reads the whole file to describe it."""

    def describe(self, source: Source) -> ImageInfo:
        Path(source.path).read_bytes()
        return super().describe(source)


class EagerNpyReader(NpyReader):
    """Dask-backed, but loads every pixel when opened."""

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        import dask.array as da

        data = da.from_array(np.load(source.path), chunks=-1)
        return build_dataarray(data, self.describe(source), name=source.display_name)


@pytest.mark.skipif(not spy_available(), reason="counts reads on Linux only")
def test_the_contract_catches_reading_pixels(tmp_path: Path) -> None:
    """The I/O spy has teeth: a describe or open that reads the pixels fails."""
    contract = TestNpyPlugin()
    sample = contract.make_sample(tmp_path)
    with pytest.raises(AssertionError, match="describe read"):
        contract.test_describe_reads_no_pixels(GreedyNpyReader(), sample)
    with pytest.raises(AssertionError, match="open read"):
        contract.test_open_reads_nothing_until_computed(EagerNpyReader(), sample)
    contract.test_open_is_lazy_and_correct(EagerNpyReader(), sample)  # values are right
