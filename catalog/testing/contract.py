"""The contract every reader plugin honours, as a test class to subclass.

See :mod:`catalog.testing` for how a plugin author uses it.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
from pathlib import Path
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from ..errors import ReaderError
from ..readers.base import ImageInfo, Reader, Source
from .spy import ReadSpy, spy_available


@dataclasses.dataclass
class Sample:
    """A dataset written by the format's own library, and what the reader must find.

    ``expected`` holds the level-0 pixels in ``axes`` order (``None``: do not compare),
    ``spacing`` the voxel sizes in metres the reader must report, ``kind`` is
    ``"image"`` or ``"container"`` (then ``data_var`` names the variable holding
    ``expected``).

    >>> Sample(Source.single("/data/a.tif"), None, "yx").levels
    1
    """

    source: Source
    expected: np.ndarray | None
    axes: str
    spacing: dict[str, float] = dataclasses.field(default_factory=dict)
    levels: int = 1
    modality: str | None = None
    kind: str = "image"
    data_var: str | None = None


def dataset_files(source: Source) -> list[Path]:
    """Every regular file of ``source`` (the files below a folder it lists).

    >>> dataset_files(Source.single("/nonexistent/a.tif"))
    []
    """
    found: list[Path] = []
    for f in source.files:
        p = Path(f)
        if p.is_dir():
            found.extend(Path(d, name) for d, _, names in os.walk(p) for name in sorted(names))
        elif p.is_file():
            found.append(p)
    return sorted({Path(os.path.normpath(os.path.abspath(f))) for f in found})


def _array_of(obj: xr.DataArray | xr.Dataset, sample: Sample) -> xr.DataArray | None:
    if isinstance(obj, xr.Dataset):
        return obj[sample.data_var] if sample.data_var else None
    return obj


class ReaderContract:
    """Tests every reader passes; subclass it in a test module (like zarr's ``StoreTests``).

    Set ``reader_class`` (or override :meth:`make_reader`) and implement
    :meth:`make_sample`; or, for several samples, override the ``sample`` fixture with
    a parametrised one. Override a test to adapt it to a format (a folder dataset
    cannot be truncated like a file), never to skip what the format can do.

    >>> class TestMyFormat(ReaderContract):        # doctest: +SKIP
    ...     reader_class = MyReader
    ...     def make_sample(self, tmp_path):
    ...         path = tmp_path / "a.my"
    ...         data = write_with_my_library(path)
    ...         return Sample(Source.single(path), data, "zyx", spacing={"x": 1e-6})
    """

    #: The reader under test (an instance is made per test by :meth:`make_reader`).
    reader_class: ClassVar[type[Reader] | None] = None
    #: Bytes ``describe`` and ``open`` may read per file of the dataset (headers,
    #: and the buffers libraries read them with); pixels are what lies beyond.
    header_bytes: ClassVar[int] = 64 * 1024
    #: Breaches the format forces, ``{"test_name[sample-id]": "why it cannot be fixed"}``
    #: (or a bare test name for every sample): those tests are strict xfails, so an entry
    #: that starts to pass fails the run and is removed. Fix what a reader can fix (read
    #: headers unbuffered, parse what was read once) rather than list it here.
    expected_failures: ClassVar[dict[str, str]] = {}

    # -- hooks ---------------------------------------------------------------------
    def make_reader(self) -> Reader:
        """The reader under test: ``reader_class()`` by default."""
        if self.reader_class is None:
            raise NotImplementedError(f"{type(self).__name__}: set reader_class")
        return self.reader_class()

    def make_sample(self, tmp_path: Path) -> Sample:
        """Write one dataset below ``tmp_path`` with the format's own library."""
        raise NotImplementedError(f"{type(self).__name__}: implement make_sample(tmp_path)")

    @pytest.fixture(autouse=True)
    def _expected_failure(self, request: pytest.FixtureRequest) -> None:
        why = self.expected_failures.get(request.node.name)
        if why is None:
            why = self.expected_failures.get(request.node.originalname)
        if why is not None:
            request.node.add_marker(pytest.mark.xfail(reason=why, strict=True))

    @pytest.fixture
    def reader(self) -> Reader:
        return self.make_reader()

    @pytest.fixture
    def sample(self, tmp_path: Path) -> Sample:
        return self.make_sample(tmp_path)

    # -- the plugin ----------------------------------------------------------------
    def test_is_reader(self, reader: Reader) -> None:
        assert isinstance(reader, Reader)
        assert reader.name and reader.description and reader.url
        # names are matched in lower case (has_suffix)
        assert all(s and s == s.lower() for s in reader.suffixes), reader.suffixes

    def test_reader_pickles(self, reader: Reader, sample: Sample) -> None:
        """The scan sends readers and sources to worker processes."""
        again = pickle.loads(pickle.dumps(reader))
        assert type(again) is type(reader) and again.name == reader.name
        source = pickle.loads(pickle.dumps(sample.source))
        assert source == sample.source
        info = again.describe(source)
        assert info.shape == reader.describe(sample.source).shape

    # -- detection and grouping ----------------------------------------------------
    def test_detects_its_files(self, reader: Reader, sample: Sample) -> None:
        if sample.source.path.is_file():
            assert reader.guess_can_open(sample.source.path)

    def test_rejects_garbage(self, reader: Reader, tmp_path: Path) -> None:
        junk = tmp_path / "junk.bin"
        junk.write_bytes(np.random.default_rng(0).bytes(4096))
        assert not reader.guess_can_open(junk)
        assert not reader.guess_can_open(tmp_path / "does-not-exist.xyz")

    def test_groups_its_files(self, reader: Reader, sample: Sample) -> None:
        """The scanner, given only this reader, finds the sample as one dataset made of
        exactly its files, and puts none of them in another dataset."""
        from ..scanner.walk import Candidate, walk

        path = Path(sample.source.path)
        root = path if path.is_dir() else path.parent
        issues: list[tuple[str, str, str]] = []
        found: list[Candidate] = []
        for c in walk(root, [reader], issue=lambda *a: issues.append(a)):
            assert isinstance(c, Candidate), "a walk without a known tree found a known one"
            found.append(c)
        mine = {f: c for c in found for f in dataset_files(c.source)}
        want = dataset_files(sample.source)
        assert want, "the sample has no files"
        owners = {id(mine[f]) for f in want if f in mine}
        missing = [f.name for f in want if f not in mine]
        assert not missing, f"files of the sample in no dataset: {missing}; issues {issues}"
        assert len(owners) == 1, "the sample's files were split over several datasets"
        candidate = mine[want[0]]
        assert candidate.reader == reader.name
        assert dataset_files(candidate.source) == want, "the dataset holds other files too"

    # -- describe ------------------------------------------------------------------
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

    def read_budget(self, sample: Sample) -> int:
        """Bytes ``describe`` or ``open`` may read: ``header_bytes`` per file."""
        return self.header_bytes * max(1, len(dataset_files(sample.source)))

    def _reads(self, action: Any) -> int:
        if not spy_available():
            pytest.skip("no per-thread I/O counts on this system (Linux only)")
        action()  # imports and one-time set-up are not the reader's reading
        with dask.config.set(scheduler="sync"), ReadSpy() as spy:
            action()
        return spy.bytes_read

    def test_describe_reads_no_pixels(self, reader: Reader, sample: Sample) -> None:
        """Proven with an I/O spy: ``describe`` reads headers, not the pixel data."""
        files = dataset_files(sample.source)
        size = sum(f.stat().st_size for f in files)
        read = self._reads(lambda: reader.describe(sample.source))
        budget = self.read_budget(sample)
        assert read <= budget, f"describe read {read} bytes of {size} (allowed {budget})"
        if size > 2 * budget:  # big enough to tell headers from pixels
            assert read < size / 2, f"describe read {read} of the sample's {size} bytes"

    # -- open ----------------------------------------------------------------------
    def test_open_is_lazy_and_correct(self, reader: Reader, sample: Sample) -> None:
        obj = reader.open(sample.source)
        if sample.kind == "container":
            assert isinstance(obj, xr.Dataset)
        else:
            assert isinstance(obj, xr.DataArray)
        arr = _array_of(obj, sample)
        if arr is None:
            return
        assert isinstance(arr.data, da.Array), "open() must return dask-backed data"
        assert "".join(str(d) for d in arr.dims) == sample.axes
        if sample.expected is not None:
            np.testing.assert_array_equal(arr.values, sample.expected)
        for axis, metres in sample.spacing.items():
            coord = arr.coords[axis]
            assert coord.attrs.get("units"), f"coordinate {axis} has no unit"
            if arr.sizes[axis] > 1:
                from ..units import to_metres

                step = float(coord[1] - coord[0])
                assert to_metres(step, coord.attrs["units"]) == pytest.approx(metres, rel=1e-6)

    def test_open_reads_nothing_until_computed(self, reader: Reader, sample: Sample) -> None:
        """``open`` reads headers only; the pixels are read when computed."""
        read = self._reads(lambda: reader.open(sample.source))
        budget = self.read_budget(sample)
        assert read <= budget, f"open read {read} bytes before compute (allowed {budget})"
        files = dataset_files(sample.source)
        size = sum(f.stat().st_size for f in files)
        if size > 2 * budget:
            assert read < size / 2, f"open read {read} of the sample's {size} bytes"

    def test_physical_coordinates(self, reader: Reader, sample: Sample) -> None:
        """Spatial coordinates step by the voxel size ``describe`` reports, in a unit."""
        from ..units import to_metres

        info = reader.describe(sample.source)
        arr = _array_of(reader.open(sample.source), sample)
        if arr is None:
            pytest.skip("a container without a named data variable")
        assert "".join(map(str, arr.dims)) == sample.axes
        for axis in arr.dims:
            if sample.kind == "image":
                assert axis in arr.coords, f"axis {axis} has no coordinate"
            if axis not in info.spacing:
                continue
            assert axis in arr.coords, f"axis {axis} has a voxel size but no coordinate"
            coord = arr.coords[axis]
            unit = coord.attrs.get("units")
            assert unit, f"coordinate {axis} has no unit"
            if arr.sizes[axis] > 1:
                steps = np.diff(np.asarray(coord.values, dtype=float))
                assert np.allclose(steps, steps[0]), f"coordinate {axis} is not evenly spaced"
                step = to_metres(float(steps[0]), unit)
                assert step == pytest.approx(info.spacing[axis], rel=1e-6), axis

    def test_opened_data_pickles(self, reader: Reader, sample: Sample) -> None:
        """What ``open`` returns survives pickling (dask sends it to workers)."""
        obj = reader.open(sample.source)
        again = pickle.loads(pickle.dumps(obj))
        arr, back = _array_of(obj, sample), _array_of(again, sample)
        if arr is None or back is None:
            return
        np.testing.assert_array_equal(back.values, arr.values)
        assert back.attrs == arr.attrs

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

    # -- errors named ----------------------------------------------------------------
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

    def test_missing_file_fails_clearly(
        self, reader: Reader, sample: Sample, tmp_path: Path
    ) -> None:
        """A dataset whose file has gone gives a ReaderError naming it."""
        gone = tmp_path / ("gone_" + sample.source.path.name)
        with pytest.raises(ReaderError, match=re.escape(str(gone))):
            reader.describe(Source.single(gone))
