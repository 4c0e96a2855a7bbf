"""The contract every reader plugin must honour; each format's test module subclasses
:class:`ReaderContract` and provides the fixtures below (like zarr's ``StoreTests``).

Fixtures a subclass provides:

- ``reader``: the reader instance under test;
- ``sample``: a ``Sample`` written by the format's own library, with the array the
  library wrote (in ``tczyx`` axis order) and the metadata the reader must extract.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import dask.array as da
import duckdb
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from catalog.errors import ReaderError
from catalog.readers import ImageInfo, Reader, Source


@dataclasses.dataclass
class Sample:
    source: Source
    expected: np.ndarray | None  # level 0 pixels in info.axes order (None: do not compare)
    axes: str
    spacing: dict[str, float] = dataclasses.field(default_factory=dict)  # metres
    levels: int = 1
    modality: str | None = None
    kind: str = "image"
    data_var: str | None = None  # for containers: the variable holding ``expected``


class ReaderContract:
    """Tests every reader passes. Subclasses define ``reader`` and ``sample`` fixtures."""

    def test_is_reader(self, reader: Reader) -> None:
        assert isinstance(reader, Reader)
        assert reader.name and reader.description and reader.url

    def test_detects_its_files(self, reader: Reader, sample: Sample) -> None:
        if sample.source.path.is_file():
            assert reader.guess_can_open(sample.source.path)

    def test_rejects_garbage(self, reader: Reader, tmp_path: Path) -> None:
        junk = tmp_path / "junk.bin"
        junk.write_bytes(np.random.default_rng(0).bytes(4096))
        assert not reader.guess_can_open(junk)
        assert not reader.guess_can_open(tmp_path / "does-not-exist.xyz")

    def test_describe(self, reader: Reader, sample: Sample) -> None:
        info = reader.describe(sample.source)
        assert isinstance(info, ImageInfo)
        assert info.kind == sample.kind
        if sample.expected is not None:
            assert info.shape == sample.expected.shape
            assert np.dtype(info.dtype) == sample.expected.dtype
        assert info.axes == sample.axes
        assert len(info.levels) == sample.levels
        for axis, metres in sample.spacing.items():
            assert info.spacing[axis] == pytest.approx(metres, rel=1e-6), axis
            assert info.units[axis]
        if sample.modality:
            assert info.modality == sample.modality

    def test_open_is_lazy_and_correct(self, reader: Reader, sample: Sample) -> None:
        obj = reader.open(sample.source)
        if sample.kind == "container":
            assert isinstance(obj, xr.Dataset)
            arr = obj[sample.data_var] if sample.data_var else None
        else:
            assert isinstance(obj, xr.DataArray)
            arr = obj
        if arr is None:
            return
        assert isinstance(arr.data, da.Array), "open() must return dask-backed data"
        assert "".join(arr.dims) == sample.axes
        if sample.expected is not None:
            np.testing.assert_array_equal(arr.values, sample.expected)
        for axis, metres in sample.spacing.items():
            coord = arr.coords[axis]
            assert coord.attrs.get("units"), f"coordinate {axis} has no unit"
            if arr.sizes[axis] > 1:
                from catalog.units import to_metres

                step = float(coord[1] - coord[0])
                assert to_metres(step, coord.attrs["units"]) == pytest.approx(metres, rel=1e-6)

    def test_every_level_opens(self, reader: Reader, sample: Sample) -> None:
        info = reader.describe(sample.source)
        for k, shape in enumerate(info.levels):
            obj = reader.open(sample.source, level=k)
            arr = obj[sample.data_var] if isinstance(obj, xr.Dataset) and sample.data_var else obj
            if isinstance(arr, xr.DataArray):
                assert arr.shape == tuple(shape)
                # reading one corner element works at every level
                assert np.asarray(arr[(0,) * arr.ndim].values).size == 1
        with pytest.raises(ReaderError):
            reader.open(sample.source, level=len(info.levels))

    def test_truncated_file_fails_clearly(
        self, reader: Reader, sample: Sample, tmp_path: Path
    ) -> None:
        """A damaged copy gives a ReaderError naming the file, at describe or compute."""
        src = sample.source
        if not src.path.is_file():
            pytest.skip("multi-file dataset: truncation is covered by the scan tests")
        broken = tmp_path / ("trunc_" + src.path.name)
        data = src.path.read_bytes()
        broken.write_bytes(data[: max(16, len(data) // 3)])
        bad = Source.single(broken)
        try:
            reader.describe(bad)
            obj = reader.open(bad)
            if isinstance(obj, xr.Dataset):
                obj = (
                    obj[sample.data_var] if sample.data_var else next(iter(obj.data_vars.values()))
                )
            obj.values  # noqa: B018
        except ReaderError as exc:
            assert str(broken) in str(exc)
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} instead of ReaderError: {exc}")
        else:
            pytest.fail(f"reading a truncated copy of {src.path.name} raised nothing")

    def test_empty_file_fails_clearly(
        self, reader: Reader, sample: Sample, tmp_path: Path
    ) -> None:
        if not sample.source.path.is_file():
            pytest.skip("folder dataset")
        empty = tmp_path / ("empty_" + sample.source.path.name)
        empty.write_bytes(b"")
        with pytest.raises(ReaderError, match=re.escape(str(empty))):
            reader.describe(Source.single(empty))


def files_in(path: Path) -> list[Path]:
    return sorted(Path(p) for p in (os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs))


def index_rows(index: Path) -> pd.DataFrame:
    """Every row of an index's datasets table, read on a connection of its own."""

    con = duckdb.connect(str(index), read_only=True)
    try:
        return con.execute("SELECT * FROM datasets").fetch_df()
    finally:
        con.close()
