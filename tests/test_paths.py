"""File names that are not UTF-8 (and names holding the private-use characters the
index uses for them) come back from every public output as paths ``open()`` takes:
``cat.df`` (DuckDB and listing snapshot), entry metadata and arguments, search,
verify, the CLI's JSON, and exported catalogues."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import intake
import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan
from catalog.cli import main
from catalog.index import listing, readcache
from catalog.paths import ESCAPE, display, from_db, json_text, storable, to_db
from catalog.summary import summary_text

#: name (bytes, as on disk) -> what it is
NAMES = {
    b"scan_\xe9t\xe9.tif": "Latin-1, not UTF-8",
    "pua_\uf7e9.tif".encode(): "valid UTF-8 holding U+F7E9, a code point the index uses",
    "esc_\uf77f\uf7e9.tif".encode(): "valid UTF-8 holding the escape U+F77F",
    "both_\uf7e9".encode() + b"_\xe9.tif": "a real U+F7E9 and an undecodable byte",
    b"plain.tif": "ASCII",
    b"fifty_50%.tif": "ASCII with a percent sign (BagIt manifests must encode it)",
}
STACK = b"stack_\xff\xfe"  # a folder of slices whose name is not UTF-8


def write_tiff(path: bytes, data: np.ndarray) -> bytes:
    """Write ``data`` with tifffile and create the file through its bytes path."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, data, photometric="minisblack")
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return buf.getvalue()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("names")
    drive = os.fsencode(base / "drive")
    os.mkdir(drive)
    rng = np.random.default_rng(20261122)
    content: dict[str, bytes] = {}
    for name in NAMES:
        raw = drive + b"/" + name
        content[os.fsdecode(raw)] = write_tiff(raw, rng.integers(0, 900, (3, 24, 20), np.uint16))
    os.mkdir(drive + b"/" + STACK)
    for i in range(4):
        write_tiff(drive + b"/" + STACK + b"/slice_%03d.tif" % i, rng.integers(0, 255, (24, 20)))
    with open(drive + b"/broken_\xe9.tif", "wb") as fh:
        fh.write(b"II*\x00" + b"\xff" * 60)  # a TIFF header pointing nowhere
    index = base / "lab.duckdb"
    report = scan(os.fsdecode(drive), index, jobs=1, progress=False, thumbnails=False)
    assert report["added"] == len(NAMES) + 1 and report["failed"] == 1
    cat = open_catalog(index)
    ids = {p: i for i, p in cat.df["path"].items()}
    return {
        "index": index,
        "drive": os.fsdecode(drive),
        "content": content,
        "stack": os.fsdecode(drive + b"/" + STACK),
        "ids": ids,
    }


def opens_as(path: str, expected: bytes) -> bool:
    """Whether ``path``, encoded with ``os.fsencode``, opens the file with ``expected``."""
    with open(os.fsencode(path), "rb") as fh:
        return fh.read() == expected


# -- the mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [*NAMES, STACK, ESCAPE.encode() * 2 + b"\x80\xff"])
def test_mapping_is_exact_and_valid_utf8(raw: bytes) -> None:
    path = os.fsdecode(b"/data/" + raw)
    stored = to_db(path)
    stored.encode("utf-8")  # DuckDB and Arrow take it
    assert from_db(stored) == path and os.fsencode(from_db(stored)) == b"/data/" + raw
    assert to_db(os.fsdecode(b"/a/") + path[6:]) == "/a/" + stored[6:]  # works per part
    assert storable(storable(path)) == storable(path)
    assert storable(path).encode("utf-8")


def test_json_text_escapes_only_surrogates() -> None:
    path = os.fsdecode(b"/d/\xe9t\xc3\xa9_\xef\x9f\xa9.tif")  # \xe9, é, U+F7E9
    text = json_text({"path": path})
    text.encode("utf-8")
    assert "\\udce9" in text and "é" in text and "\uf7e9" in text
    assert json.loads(text)["path"] == path


# -- every output ---------------------------------------------------------------------------


def test_df_paths_open_the_files_from_duckdb_and_the_snapshot(lab: dict, monkeypatch) -> None:
    index = lab["index"]
    monkeypatch.setattr(listing, "ENABLED", False)
    slow = open_catalog(index).df
    monkeypatch.undo()
    assert listing.refresh(index, force=True)
    cat = open_catalog(index)
    with cat._connect() as con:
        assert cat._listed(con) is not None  # the snapshot answers
    fast = cat.df
    assert list(fast["path"]) == list(slow["path"])
    paths = set(fast["path"])
    assert set(lab["content"]) | {lab["stack"]} <= paths
    for path, data in lab["content"].items():
        assert opens_as(path, data), display(path)
    assert sorted(os.listdir(os.fsencode(lab["stack"])))[0] == b"slice_000.tif"
    # a search by a path taken from the table finds that dataset
    for ident, path in fast["path"].items():
        assert list(cat.search(path=path)) == [ident]
    assert set(cat.unique("path")) == paths and cat.unique("root") == [lab["drive"]]
    lo, hi = cat.range("path")
    assert lo in paths and hi in paths
    readcache.close_all()


def test_metadata_entry_arguments_and_reading(lab: dict) -> None:
    cat = open_catalog(lab["index"], files=True)
    for path, data in lab["content"].items():
        ident = lab["ids"][path]
        meta = cat[ident].metadata
        assert meta["path"] == path and opens_as(meta["path"], data)
        assert os.path.isdir(os.fsencode(meta["root"])) and meta["root"] == lab["drive"]
        entry = cat.entry(ident)
        assert entry.kwargs["path"] == path
        expected = tifffile.imread(io.BytesIO(data))
        np.testing.assert_array_equal(cat[ident].read().values, expected)
    stack = cat.entry(lab["ids"][lab["stack"]])
    files = stack.kwargs["files"]
    assert len(files) == 4 and all(os.path.isfile(os.fsencode(f)) for f in files)
    assert files[0] == os.fsdecode(os.fsencode(lab["stack"]) + b"/slice_000.tif")
    assert cat[lab["ids"][lab["stack"]]].read().shape == (4, 24, 20)


def test_verify_report_paths_open(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    report = cat.verify(jobs=1, progress=False)
    assert report.ok
    paths = {f["path"] for r in report.results.values() for f in r["files"]}
    assert set(lab["content"]) <= paths and all(os.path.exists(os.fsencode(p)) for p in paths)
    str(report).encode("utf-8")  # printable


def test_cli_json_gives_paths_and_text_shows_them(lab: dict, capsys) -> None:
    index = str(lab["index"])
    bad = os.fsdecode(os.fsencode(lab["drive"]) + b"/scan_\xe9t\xe9.tif")
    ident = lab["ids"][bad]
    assert main(["show", ident, "--json", "--index", index]) == 0
    out = capsys.readouterr().out
    out.encode("utf-8")  # prints on any UTF-8 terminal
    shown = json.loads(out)
    assert shown["path"] == bad and opens_as(shown["path"], lab["content"][bad])
    assert main(["search", "--json", "--limit", "0", "--index", index]) == 0
    found = {r["path"] for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert set(lab["content"]) <= found
    assert main(["show", ident, "--index", index]) == 0
    assert display(bad) in capsys.readouterr().out  # text: the byte as \xe9
    assert "broken_\\xe9.tif" in summary_text(index, failed=True)


@pytest.mark.parametrize("mode", ["copy", "link", "zarr"])
def test_exported_catalogue_names_the_source_paths(lab: dict, tmp_path: Path, mode: str) -> None:
    """Every mode exports such names: the copies get UTF-8 names (undecodable bytes and
    ``%`` as ``=XX``), the bag validates, stock intake and voxcat read them, and each
    entry names its source path as ``open()`` takes it."""
    from .validators import assert_bag_valid, assert_ro_crate

    cat = open_catalog(lab["index"])
    ids = [lab["ids"][p] for p in lab["content"]] + [lab["ids"][lab["stack"]]]
    dest = tmp_path / "out"
    cat.search(id=ids).export(dest, mode=mode)
    assert_bag_valid(dest)
    assert_ro_crate(dest)
    for f in (dest / "data").rglob("*"):
        os.fsencode(f).decode("utf-8")  # every exported name is UTF-8
    exported_index = open_catalog(dest / "voxcat.duckdb")
    assert sorted(exported_index) == sorted(ids)
    for ident in ids:
        assert exported_index[ident].read().size
    (dest / "catalog.yaml").read_text(encoding="utf-8")  # UTF-8 text
    exported = intake.from_yaml_file(str(dest / "catalog.yaml"))
    sources = {exported[i].metadata["source_path"]: i for i in ids}
    assert set(sources) == {*lab["content"], lab["stack"]}
    for path, data in lab["content"].items():
        assert opens_as(path, data)
        np.testing.assert_array_equal(
            exported[sources[path]].read(), tifffile.imread(io.BytesIO(data))
        )
    readcache.close_all()


def test_portable_names() -> None:
    from catalog.paths import portable

    assert portable("plain_été.tif") == "plain_été.tif"  # valid UTF-8 stays
    assert portable(os.fsdecode(b"a\xe9\xff.tif")) == "a=E9=FF.tif"
    assert portable("50%\r\n.tif") == "50=25=0D=0A.tif"
