"""The helpers written once for the whole project: human sizes and lengths
(catalog.formatting), the unit table (catalog.units) and the LRU cache (catalog.lru)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pandas as pd
import pytest

from catalog import formatting, units
from catalog.lru import LRUCache

# -- formatting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (1_250_000, "1.2 MB"),
        (4.1e9, "4.1 GB"),
        (2.5e12, "2.5 TB"),
        (7e15, "7.0 PB"),
        (7e18, "7000.0 PB"),
        (np.int64(2048), "2.0 KB"),
    ],
)
def test_human_bytes(n, text) -> None:
    assert formatting.human_bytes(n) == text


def test_human_bytes_missing_and_largest() -> None:
    for value in (None, math.nan, pd.NA, np.nan):
        assert formatting.human_bytes(value) == "–"
    assert formatting.human_bytes(None, missing="-") == "-"
    assert formatting.human_bytes(7e15, largest="TB") == "7000.0 TB"
    assert formatting.human_bytes(999, largest="B") == "999 B"
    assert formatting.human_bytes(5000, largest="B") == "5000 B"


@pytest.mark.parametrize(
    ("metres", "text"),
    [
        (6.5e-6, "6.5 µm"),
        (2.0, "2 m"),
        (0.002, "2 mm"),
        (1e-3, "1 mm"),
        (3.45e-9, "3.45 nm"),
        (2e-10, "2 Å"),
        (3e-11, "30 pm"),
        (1.23456e-6, "1.23 µm"),
    ],
)
def test_human_length(metres, text) -> None:
    assert formatting.human_length(metres) == text


def test_human_length_in_chosen_units_and_missing() -> None:
    voxel = formatting.VOXEL_UNITS
    assert formatting.human_length(2.0, units=voxel) == "2e+03 mm"  # no metres offered
    assert formatting.human_length(6.5e-6, units=voxel) == "6.5 µm"
    assert formatting.human_length(3e-11, units=voxel) == "0.3 Å"  # the smallest offered
    assert formatting.human_length(5e-6, units=("um",)) == "5 µm"  # any spelling
    for value in (None, 0, -1e-6, math.nan, math.inf, pd.NA):
        assert formatting.human_length(value) == "–"
    assert formatting.human_length(None, missing="-") == "-"


def test_byte_units() -> None:
    table = formatting.BYTE_UNITS
    assert table["b"] == table["bytes"] == table[""] == 1
    assert (table["kb"], table["k"], table["gb"], table["pb"]) == (1e3, 1e3, 1e9, 1e15)
    assert (table["kib"], table["gib"], table["pib"]) == (2**10, 2**30, 2**50)
    from catalog.tabular import parse_size

    assert parse_size("1.5 kB") == 1500 and parse_size("2 GiB") == 2 * 2**30


def test_every_copy_uses_the_helpers() -> None:
    from catalog.catalogue.html import _size
    from catalog.cli.searching import _fmt_size, _fmt_voxel
    from catalog.summary import _size as summary_size
    from catalog.summary import _voxel
    from widgets.format import human_bytes, human_length

    assert _size(1_250_000) == _fmt_size(1_250_000) == human_bytes(1_250_000) == "1.2 MB"
    assert summary_size(None) == _size(None) == "0 B"
    assert _fmt_size(None) == _fmt_voxel(None) == _voxel(None) == "-"
    assert human_bytes(None) == human_length(None) == "–"
    assert _voxel(6.5e-6) == _fmt_voxel(6.5e-6) == human_length(6.5e-6) == "6.5 µm"
    assert _voxel(0.5) == _fmt_voxel(0.5) == "500 mm"
    assert human_length(0.5) == "500 mm"
    assert _voxel(5e-11) == "0.5 Å"


# -- units ----------------------------------------------------------------------------


def test_one_unit_table() -> None:
    assert units.ngff_unit("um") == units.ngff_unit("µm") == units.ngff_unit("micron")
    assert units.ngff_unit("micrometer") == "micrometer"
    assert [units.ngff_unit(u) for u in ("km", "m", "cm", "mm", "nm", "Å", "pm", "in")] == [
        "kilometer",
        "meter",
        "centimeter",
        "millimeter",
        "nanometer",
        "angstrom",
        "picometer",
        "inch",
    ]
    assert units.ngff_unit("pixel") is None and units.ngff_unit(None) is None
    assert units.ngff_time_unit("ms") == "millisecond" and units.ngff_time_unit("s") == "second"
    assert units.ngff_time_unit("frame") is None and units.ngff_time_unit(None) is None
    # the NGFF names cover every canonical unit, and name units NGFF knows
    from ome_zarr.axes import KNOWN_SPATIAL_UNITS, KNOWN_TEMPORAL_UNITS

    assert set(units.NGFF_UNITS.values()) <= set(KNOWN_SPATIAL_UNITS)
    assert set(units.NGFF_TIME_UNITS.values()) <= set(KNOWN_TEMPORAL_UNITS)
    for unit in units.NGFF_UNITS:
        assert units.to_metres(1.0, unit) == pytest.approx(
            units.to_metres(1.0, units.NGFF_UNITS[unit])
        )


# -- LRU cache ------------------------------------------------------------------------


def test_lru_by_count() -> None:
    dropped = []
    cache: LRUCache[str, int] = LRUCache(2, on_evict=lambda k, v: dropped.append((k, v)))
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now the most recent
    cache.put("c", 3)
    assert cache.keys() == ["a", "c"] and dropped == [("b", 2)]
    assert "b" not in cache and cache.get("b") is None and cache.get("b", 0) == 0
    cache.put("a", 10)  # replacing is no eviction
    assert cache.keys() == ["c", "a"] and dropped == [("b", 2)] and len(cache) == 2
    assert cache.pop("c") == 3 and cache.pop("c") is None and dropped == [("b", 2)]
    cache.clear()
    assert len(cache) == 0


def test_lru_by_size_keeps_the_newest() -> None:
    cache: LRUCache[tuple, np.ndarray] = LRUCache(max_size=100, size=lambda a: a.nbytes)
    cache.put((1, 0), np.zeros(40, np.uint8))
    cache.put((1, 1), np.zeros(40, np.uint8))
    assert cache.total == 80
    cache.put((2, 0), np.zeros(40, np.uint8))
    assert cache.keys() == [(1, 1), (2, 0)] and cache.total == 80
    cache.put((3, 0), np.zeros(500, np.uint8))  # alone over the limit: kept, the rest go
    assert cache.keys() == [(3, 0)] and cache.total == 500
    cache.put((1, 5), np.zeros(10, np.uint8))
    assert cache.keys() == [(1, 5)]
    cache.put((2, 1), np.zeros(10, np.uint8))
    assert [len(v) for v in cache.pop_where(lambda k: k[0] == 1)] == [10]
    assert cache.keys() == [(2, 1)] and cache.total == 10
    with pytest.raises(ValueError, match="size"):
        LRUCache(max_size=10)


def test_lru_is_thread_safe() -> None:
    cache: LRUCache[int, int] = LRUCache(max_size=50, size=lambda v: v)

    def work(offset: int) -> None:
        for i in range(2000):
            cache.put((offset + i) % 97, 5)
            cache.get((offset + i * 7) % 97)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 10 and cache.total == 50


def test_layer_cache_uses_it() -> None:
    from catalog.preview.levels import LayerCache

    layers = LayerCache(100)
    layers.put((7, 0), np.zeros(60, np.uint8))
    layers.put((8, 0), np.zeros(60, np.uint8))
    assert layers.get((7, 0)) is None and layers.nbytes == 60
    layers.put((7, 1), np.zeros(30, np.uint8))
    layers.forget(8)
    assert layers.nbytes == 30 and layers.get((7, 1)) is not None
    layers.clear()
    assert layers.nbytes == 0
