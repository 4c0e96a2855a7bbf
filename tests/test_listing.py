"""The listing snapshot (catalog.index.listing) answers exactly as DuckDB does.

A seeded random catalogue with awkward values (mixed case, non-ASCII, NULLs, huge
sizes) plus the hand-made rows of the search tests goes into a real index; every
query below runs once with the snapshot and once on DuckDB alone, and the ids, order,
lengths and frames must be identical. Then freshness: a snapshot is never used for
an index state it was not built from, broken snapshot files are ignored, bulk writers
rebuild it and other writes refresh it in the background.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog import import_table, open_catalog
from catalog.catalogue import DuckDBCatalog
from catalog.catalogue import evaluate as evaluate_mod
from catalog.index import listing, transaction
from catalog.summary import summary_text

from .catalogue_rows import write_rows

MODALITIES = ["CT", "ct", "MR", "EM", "Ünï", None]
SAMPLES = ["S01", "s01", "Straße", "İstanbul", "sand*", None, "100%", "a_b"]


def random_table(rng: np.random.Generator, n: int) -> pd.DataFrame:
    year = rng.integers(2015, 2026, n)
    acquired = pd.to_datetime(year.astype(str)) + pd.to_timedelta(
        rng.integers(0, 365 * 86400, n), unit="s"
    )
    acquired = acquired.where(rng.random(n) > 0.1)  # some unknown
    voxel = np.exp(rng.uniform(np.log(1e-7), np.log(1e-3), n))
    voxel[rng.random(n) < 0.1] = np.nan  # unknown (NULL in the index)
    names = [f"{w}_{i:05d}" for i, w in enumerate(rng.choice(["Sand", "sand", "bone", "Öl"], n))]
    return pd.DataFrame(
        {
            "path": [
                f"/arch/{y}/p{p}/{nm}.tif" for y, p, nm in zip(year, rng.integers(0, 9, n), names)
            ],
            "name": names,
            "modality": rng.choice(np.array(MODALITIES, dtype=object), n),
            "format": rng.choice(["tiff", "zarr", "slices", None], n),
            "voxel_size": voxel,
            "size": rng.choice([1, 10**6, 2 * 10**9, 5 * 10**12, 2**62], n),
            "acquired": acquired,
            "project": rng.choice(["rocks", "Rocks", "bones", None], n),
            "sample": rng.choice(np.array(SAMPLES, dtype=object), n),
            "instrument": rng.choice(["SkyScan1272", "LSM 980"], n),
            "data_level": rng.choice(["raw", "reconstructed", "segmentation"], n),
            "tags": [
                ",".join(rng.choice(["qc-ok", "porosity", "Paper-2025"], 2)) for _ in range(n)
            ],
            "exposure": np.round(rng.uniform(0.1, 5, n), 2),
            # words longer than the word index keeps (24 bytes), some sharing a prefix
            "operator": rng.choice(
                [
                    "supercalifragilisticexpialidocious",
                    "supercalifragilisticexpiali_x",
                    "äöüäöüäöüäöüäöü_long",
                ],
                n,
            ),
        }
    )


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("listing") / "lab.duckdb"
    write_rows(path)  # hand-made rows: metadata, notes, tags, a plain file
    import_table(random_table(np.random.default_rng(11), 3000), path)
    listing.build(path)
    return path


@pytest.fixture
def cat(index: Path) -> DuckDBCatalog:
    assert listing.current(index) is not None, "the module's snapshot went stale"
    return open_catalog(index)


def both(cat: DuckDBCatalog, monkeypatch: pytest.MonkeyPatch, use) -> tuple:
    """``use(cat)`` with the snapshot, then on DuckDB alone."""
    with cat._connect() as con:
        assert cat._listed(con) is not None  # the fast path really runs
    fast = use(cat)
    with monkeypatch.context() as m:
        m.setattr(listing, "ENABLED", False)
        slow = use(cat)
    return fast, slow


FACETS = ("modality", "sample", "project", "format", "tags", "kind")


def same(cat: DuckDBCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = both(
        cat,
        monkeypatch,
        lambda c: (len(c), list(c), c.df, c.facets(*FACETS), c.facets(*FACETS[:3], limit=2)),
    )
    assert fast[0] == slow[0] == len(fast[1])
    assert fast[1] == slow[1]
    pd.testing.assert_frame_equal(fast[2], slow[2])
    for a, b in zip(fast[3:], slow[3:], strict=True):  # counts and their order
        assert {k: list(v.items()) for k, v in a.items()} == {
            k: list(v.items()) for k, v in b.items()
        }


QUERIES = [
    {},
    {"modality": "CT"},  # case-insensitive: CT and ct
    {"modality": "ünï"},  # non-ASCII: left to DuckDB's lower
    {"modality": ["MR", "em"]},
    {"modality": None},
    {"modality": "!=CT"},
    {"modality": "C*"},  # glob: DuckDB
    {"sample": "straße"},
    {"sample": "İstanbul"},
    {"sample": "sand*"},  # a glob that matches the literal too
    {"sample": "100%"},
    {"sample": ("S", "t")},  # text range, byte order
    {"sample": None, "project": "rocks"},
    {"project": ["rocks", None]},
    {"format": "!=zarr"},
    {"voxel_size": "<5um"},
    {"voxel_size": (None, 5e-6)},
    {"voxel_size": ("1 um", "10 um")},
    {"voxel_size": None},
    {"voxel_size": "!=0.0001"},
    {"size": "2 GB"},
    {"size": ">1GiB"},
    {"size": (None, 10**6)},
    {"size": 2**62},
    {"acquired": "2020"},
    {"acquired": ("2019-03", None)},
    {"acquired": ">2021-05-01"},
    {"acquired": "<=2018"},
    {"acquired": "!=2020"},
    {"acquired": None},
    {"acquired": dt.datetime(2023, 5, 12, 10, 0)},
    {"levels": None},
    {"name": "sand_0000*"},
    {"tags": "porosity"},  # list column: DuckDB
    {"notes": "*anna*"},
    {"meta.exposure": (1, 2)},
    {"shape": "100x512x512"},
    {"ndim": 3},
    {"modality": "CT", "project": "rocks", "voxel_size": (None, 5e-6), "data_level": "raw"},
    {"text": "sand"},
    {"text": "sand 2020"},
    {"text": '"sand_0001" -2020'},
    {"text": "sandstone porosity"},
    {"text": "öl"},
    {"text": "nothingmatchesthis"},
    {"text": "supercalifragilisticexpialidocious"},  # longer than 24 bytes: DuckDB
    {"text": "supercalifragilistic"},  # a prefix of two words cut at 24 bytes
    {"text": "äöüäöüäöüäöü"},  # 24 bytes of UTF-8
    {"text": "äöüäöüäöüäöüä"},  # 26 bytes
    {"text": "s sa san"},  # several short prefixes, many words each
]


@pytest.mark.parametrize("query", QUERIES, ids=[repr(q) for q in QUERIES])
def test_every_filter_form_answers_as_duckdb(cat, monkeypatch, query) -> None:
    query = dict(query)
    same(cat.search(query.pop("text", None), **query), monkeypatch)


@pytest.mark.parametrize(
    "order",
    [("name",), ("-size",), ("sample", "-acquired"), ("voxel_size",), ("shape",), ("-modality",)],
)
def test_sort_orders_answer_as_duckdb(cat, monkeypatch, order) -> None:
    same(cat.search(modality=["CT", "MR", None]).sort_by(*order), monkeypatch)


def test_combinations_heads_and_pages_answer_as_duckdb(cat, monkeypatch, index) -> None:
    ct, raw = cat.search(modality="CT"), cat.search(data_level="raw")
    rocks = cat.search("sand", project="rocks")
    for combined in (
        ct | raw,
        ct & raw,
        ct - raw,
        (ct | rocks) - raw,
        ct.head(7),
        rocks.page(2, 5),
    ):
        same(combined, monkeypatch)
    same(open_catalog(index, files=True).search(format=None), monkeypatch)  # the plain file too
    same(ct.sort_by("-size").head(20).search(voxel_size="<10um"), monkeypatch)


@pytest.mark.parametrize("order", [("name",), ("-size",), ("sample", "-acquired"), ("shape",)])
def test_windows_are_cut_on_the_snapshot_as_duckdb_cuts_them(cat, monkeypatch, order) -> None:
    """``page``/``window`` in the catalogue's own order are sorted and cut on the
    snapshot (no DuckDB sort of the whole selection), with the same rows."""
    base = cat.search(modality=["CT", "MR", None]).sort_by(*order)
    n = len(base)
    for offset, limit in ((0, 5), (5, 5), (n - 3, 10), (n + 2, 5), (0, n)):
        same(base.window(offset, limit), monkeypatch)
    same(base.page(1, 4).search(voxel_size="<10um"), monkeypatch)


def test_windows_for_an_account_hold_only_what_it_may_see(cat, monkeypatch, index) -> None:
    from catalog.users import add_user

    ids = list(cat)
    cat.set(ids[::3], access="restricted")
    try:
        listing.refresh(index, force=True)
        add_user(index, "vera", role="viewer")
        vera = open_catalog(index, user="vera").sort_by("-size")
        listing.refresh(index, force=True)
        for page in range(4):
            same(vera.page(page, 6), monkeypatch)
        shown = [i for p in range(len(ids) // 100 + 1) for i in vera.page(p, 100)]
        assert len(shown) == len(ids) - len(ids[::3]) and not set(shown) & set(ids[::3])
    finally:
        cat.set(ids[::3], access=None)
        listing.refresh(index, force=True)


def test_random_combinations_answer_as_duckdb(cat, monkeypatch) -> None:
    rng = np.random.default_rng(5)
    pool = [q for q in QUERIES if "text" not in q]
    for _ in range(25):
        picks = rng.choice(len(pool), 3, replace=False)
        a, b, c = (cat.search(**pool[i]) for i in picks)
        same({0: a | b, 1: (a & b) | c, 2: a - (b | c)}[int(rng.integers(3))], monkeypatch)


def test_only_the_state_it_was_built_from(tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "lab.duckdb"
    import_table(random_table(np.random.default_rng(3), 200), index)
    assert not listing.path_for(index).exists()  # small: bulk writers build none
    assert listing.refresh(index, force=True) and listing.current(index) is not None
    cat = open_catalog(index)
    first = next(iter(cat))
    monkeypatch.setattr(listing, "_spawn_refresh", lambda source: None)  # no refresher
    assert "listing snapshot" in summary_text(index) and ": current" in summary_text(index)
    cat.tag(first, "fresh-tag")
    assert listing.current(index) is None  # stale: DuckDB answers
    assert "out of date" in summary_text(index)
    assert list(cat.search(tags="fresh-tag")) == [first]
    assert listing.refresh(index) and listing.current(index) is not None
    assert list(cat.search(tags="fresh-tag")) == [first]
    with cat._connect() as con:
        assert cat._listed(con) is not None


def test_the_word_index_finds_what_the_terms_table_finds(cat, index: Path) -> None:
    snap = listing.current(index)
    assert snap is not None and snap.terms is not None
    with cat._connect() as con:
        for pieces in (
            ["sand"],
            ["s"],
            ["sand", "2020"],
            ["öl"],
            ["supercalifragilistic"],
            ["zz"],
        ):
            sql = " INTERSECT ".join(
                "SELECT num FROM terms WHERE token >= ? AND token < ?" for _ in pieces
            )
            params = [v for p in pieces for v in (p, p + chr(0x10FFFF))]
            nums = {n for (n,) in con.execute(sql, params).fetchall()}
            expected = snap.positions(sorted(nums), strict=False)
            assert snap.word_rows(pieces).tolist() == expected.tolist(), pieces
    assert snap.word_rows(["supercalifragilisticexpialidocious"]) is None  # > 24 bytes


@pytest.mark.parametrize(
    "damage", ["truncate", "empty", "garbage", "foreign", "bad-stamp", "words"]
)
def test_a_broken_snapshot_is_ignored_and_rebuilt(tmp_path: Path, damage: str) -> None:
    index = tmp_path / "lab.duckdb"
    import_table(random_table(np.random.default_rng(4), 300), index)
    expected = open_catalog(index).search(modality="CT").df
    listing.build(index)
    snap = listing.path_for(index)
    data = snap.read_bytes()
    if damage == "truncate":
        snap.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        snap.write_bytes(b"")
    elif damage == "garbage":
        snap.write_bytes(os.urandom(4096))
    elif damage == "words":  # only the word index is broken: text words go to DuckDB
        words = snap.with_name(listing.TERMS_FILE)
        words.write_bytes(words.read_bytes()[:1000])
        listing._loaded.clear()
        snap_now = listing.current(index)
        assert snap_now is not None and snap_now.terms is None
        fast = open_catalog(index).search("sand 2020").df
        with pytest.MonkeyPatch.context() as m:
            m.setattr(listing, "ENABLED", False)
            pd.testing.assert_frame_equal(fast, open_catalog(index).search("sand 2020").df)
        return
    elif damage == "bad-stamp":  # a well-formed Arrow file whose stamp is nonsense
        import pyarrow as pa
        import pyarrow.ipc as ipc

        table = ipc.open_file(pa.py_buffer(data)).read_all()
        meta = {**table.schema.metadata, b"voxcat.stamp": b'{"not": "a stamp"}'}
        with ipc.new_file(str(snap), table.schema.with_metadata(meta)) as writer:
            writer.write_table(table.replace_schema_metadata(meta))
    else:  # a valid snapshot of another index
        other = tmp_path / "other.duckdb"
        import_table(random_table(np.random.default_rng(9), 50), other)
        listing.build(other)
        snap.write_bytes(listing.path_for(other).read_bytes())
    listing._loaded.clear()
    assert listing.current(index) is None
    pd.testing.assert_frame_equal(open_catalog(index).search(modality="CT").df, expected)
    assert listing.refresh(index) and listing.current(index) is not None
    pd.testing.assert_frame_equal(open_catalog(index).search(modality="CT").df, expected)


def test_bulk_writers_build_it_and_other_writes_refresh_it_in_the_background(
    tmp_path: Path, monkeypatch
) -> None:
    index = tmp_path / "lab.duckdb"
    monkeypatch.setattr(listing, "MIN_ROWS", 100)
    import_table(random_table(np.random.default_rng(6), 150), index)
    assert listing.current(index) is not None  # built at the end of the import
    cat = open_catalog(index)
    some = list(cat.search(modality="MR"))[:3]
    cat.tag(some, "checked")  # starts `python -m catalog.index.listing` detached
    for i, one in enumerate(some):  # a burst of writes while it waits for quiet
        cat.note(one, f"note {i}")
    deadline = time.monotonic() + 60
    while listing.current(index) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listing.current(index) is not None, "the background refresh did not finish"
    assert not listing.path_for(index).with_name("listing.arrow.lock").exists()
    with cat._connect() as con:
        assert cat._listed(con) is not None
    assert sorted(cat.search(tags="checked")) == sorted(some)
    assert sorted(cat.search("note")) == sorted(some)


def test_stale_positions_are_detected(index: Path) -> None:
    snap = listing.current(index)
    assert snap is not None
    with pytest.raises(listing.Stale):
        snap.positions([int(snap.num.max()) + 1])
    assert snap.positions(snap.num[[5, 2, 2]]).tolist() == [2, 5]


def test_turned_off(index: Path, monkeypatch) -> None:
    monkeypatch.setattr(listing, "ENABLED", False)
    assert listing.current(index) is None
    assert len(open_catalog(index)) > 3000


def test_a_snapshot_that_cannot_be_written_does_not_fail_the_import(
    tmp_path: Path, monkeypatch
) -> None:
    index = tmp_path / "lab.duckdb"
    monkeypatch.setattr(listing, "MIN_ROWS", 10)

    def full(_index):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(listing, "build", full)
    with pytest.warns(UserWarning, match="listing snapshot not written.*No space left"):
        report = import_table(random_table(np.random.default_rng(8), 40), index)
    assert report.added == 40 and len(open_catalog(index)) == 40
    assert listing.current(index) is None


def test_an_idle_process_lets_go_of_the_mapping(index: Path, monkeypatch) -> None:
    from catalog.index import readcache

    monkeypatch.setattr(readcache, "IDLE", 0.2)
    assert listing.current(index) is not None
    source = index.resolve()
    deadline = time.monotonic() + 5
    while source in listing._loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert source not in listing._loaded
    time.sleep(0.2)  # the background pass that maps its pages may still hold it
    maps = Path("/proc/self/maps")
    if maps.exists():  # unmapped at once (no reference cycle keeps it for the GC)
        assert str(listing.path_for(index).resolve()) not in maps.read_text()
    assert listing.current(index) is not None  # and mapped again on the next use


def test_words_of_rewritten_rows_do_not_push_text_search_off_the_snapshot(
    tmp_path: Path, monkeypatch
) -> None:
    index = tmp_path / "lab.duckdb"
    import_table(random_table(np.random.default_rng(12), 300), index)
    with transaction(index) as con:  # what a rescan leaves until the terms rebuild
        con.execute("INSERT INTO terms VALUES ('sand', 987654321), ('bone', 987654322)")
    listing.build(index)
    cat = open_catalog(index)
    calls = []
    real = evaluate_mod._Evaluation._duckdb
    monkeypatch.setattr(
        evaluate_mod._Evaluation, "_duckdb", lambda *a: calls.append(a) or real(*a)
    )
    same(cat.search("sand"), monkeypatch)
    same(cat.search("bone sand"), monkeypatch)
    assert not calls  # answered on the snapshot, without asking DuckDB


def test_an_empty_index_gets_an_empty_snapshot(tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    import_table(random_table(np.random.default_rng(2), 5), index)
    open_catalog(index).tag(list(open_catalog(index)), "x")
    with transaction(index) as con:  # every dataset gone, words too
        for table in ("tags", "metadata", "files", "terms", "datasets"):
            con.execute(f"DELETE FROM {table}")
    assert listing.refresh(index, force=True)
    snap = listing.current(index)
    assert snap is not None and snap.rows == 0 and snap.word_rows(["x"]).tolist() == []
    cat = open_catalog(index)
    assert (
        len(cat) == 0 and cat.search("x").df.empty and cat.facets("modality") == {"modality": {}}
    )
