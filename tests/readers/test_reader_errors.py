"""catalog.readers.reader_errors: the one place a library's exception becomes voxcat's
named ReaderError (file name and cause)."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

import pytest

from catalog.errors import ReaderError
from catalog.readers import reader_errors


def test_a_library_error_becomes_a_reader_error_naming_file_and_cause() -> None:
    with pytest.raises(ReaderError) as caught, reader_errors("/data/a.mha", "cannot inflate"):
        zlib.decompress(b"not zlib")
    err = caught.value
    assert err.path == "/data/a.mha"
    assert err.cause.startswith("cannot inflate: Error -3")
    assert str(err).startswith("/data/a.mha: cannot inflate: ")
    assert isinstance(err.__cause__, zlib.error)
    again = pickle.loads(pickle.dumps(err))  # crosses the scan's worker processes
    assert (again.path, again.cause) == (err.path, err.cause)


def test_the_class_name_on_request() -> None:
    with (
        pytest.raises(ReaderError, match=r"a\.nrrd: invalid NRRD header: KeyError: 'sizes'$"),
        reader_errors(Path("/d/a.nrrd"), "invalid NRRD header", with_type=True),
    ):
        {}["sizes"]


def test_a_reader_error_passes_unchanged() -> None:
    inner = ReaderError("/d/data.raw", "truncated file")
    with pytest.raises(ReaderError) as caught, reader_errors("/d/a.mhd", "invalid header"):
        raise inner
    assert caught.value is inner


def test_only_what_it_is_told_to_catch() -> None:
    with pytest.raises(KeyError), reader_errors("/d/a", "bad", catch=(OSError, ValueError)):
        raise KeyError("x")
    with pytest.raises(KeyboardInterrupt), reader_errors("/d/a", "bad"):
        raise KeyboardInterrupt
