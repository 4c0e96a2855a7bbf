"""The reader contract, shipped so a plugin author runs voxcat's own suite on a reader.

Like ``zarr.testing``: subclass :class:`ReaderContract` in a pytest module, say which
reader it tests, and write one sample with your format's own library. Every built-in
reader passes the same tests: it is detected and grouped into exactly its dataset, the
reader and its sources pickle (the scan sends them to worker processes), ``describe``
reads headers and no pixels (proven by counting the bytes the thread reads, with
:class:`ReadSpy`), ``open`` is lazy (dask-backed, reading nothing until computed) with
physical coordinates, and damaged, empty or missing files raise
:class:`~catalog.errors.ReaderError` naming the file. Needs pytest.

Example (``tests/test_myformat.py`` of a plugin)::

    import numpy as np
    from catalog.readers import Source
    from catalog.testing import ReaderContract, Sample
    from my_plugin import MyReader, write_my

    class TestMyReader(ReaderContract):
        reader_class = MyReader

        def make_sample(self, tmp_path):
            data = np.arange(4 * 64 * 64, dtype="uint16").reshape(4, 64, 64)
            path = tmp_path / "scan.my"
            write_my(path, data, voxel_size_um=2.0)  # with the format's own library
            return Sample(Source.single(path), data, "zyx", spacing=dict.fromkeys("zyx", 2e-6))

``pytest tests/test_myformat.py`` then runs every test of the contract on ``MyReader``.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("catalog.testing.contract")

from .contract import ReaderContract, Sample, dataset_files  # noqa: E402
from .spy import ReadSpy, spy_available  # noqa: E402

__all__ = ["ReadSpy", "ReaderContract", "Sample", "dataset_files", "spy_available"]
