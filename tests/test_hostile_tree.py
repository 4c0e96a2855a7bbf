"""Hostile trees: named pipes, sockets and links to devices never hang a scan; links
out of the scanned folder are recorded, not followed (unless asked); detached data
files outside the folder are refused and those inside it are part of the dataset.

Everything that could block runs the real CLI in a subprocess with a timeout, so a
hang fails the test instead of stopping the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from catalog import open_catalog, scan
from catalog.errors import DatasetUnavailable, ReaderError
from catalog.paths import from_db

from .conftest import q

LIMIT = 120  # seconds a CLI call may take before it counts as a hang


def voxcat(*args: str | Path, timeout: float = LIMIT) -> subprocess.CompletedProcess[str]:
    """The real ``voxcat`` command (this checkout's package) in a subprocess; a call
    that blocks is killed after ``timeout`` seconds and fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "catalog.cli", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"voxcat {' '.join(map(str, args))} hung for more than {exc.timeout} s")


def scan_cli(root: Path, index: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out = voxcat("scan", root, "--index", index, "--jobs", "1", "--quiet", *extra)
    assert out.returncode == 0, out.stderr
    return out


def write_zarr(path: Path, rng: np.random.Generator, fmt: int = 2) -> np.ndarray:
    """A small uncompressed Zarr array (chunks 4 x 8 x 8) with seeded data."""
    data = rng.integers(0, 1000, size=(8, 16, 16), dtype=np.uint16)
    arr = zarr.create_array(
        store=str(path),
        shape=data.shape,
        chunks=(4, 8, 8),
        dtype=data.dtype,
        zarr_format=fmt,
        compressors=None,
    )
    arr[:] = data
    return data


def issues(index: Path) -> dict[str, str]:
    """``file name -> message`` of every scan issue."""
    return {Path(from_db(p)).name: m for p, m in q(index, "SELECT path, message FROM scan_issues")}


def files_of(index: Path, name: str) -> list[str]:
    rows = q(
        index,
        "SELECT f.path FROM files f JOIN datasets d ON d.id = f.dataset_id "
        "WHERE d.name = ? ORDER BY f.path",
        [name],
    )
    return [from_db(p) for (p,) in rows]


def bind_socket(path: Path) -> None:
    """A real Unix socket file at ``path`` (the socket is closed, the file stays)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(str(path))
    finally:
        s.close()


# -- never hang: only regular files are opened ----------------------------------------------


def test_pipes_and_sockets_in_a_zarr_store_are_recorded_and_never_opened(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    root = tmp_path / "d"
    store = root / "cells.zarr"
    data = write_zarr(store, rng)
    os.mkfifo(store / "fifo")  # a stray pipe beside the arrays
    os.mkfifo(store / "pipe.0")
    (store / "sub").mkdir()
    os.mkfifo(store / "sub" / "deep")  # at every depth
    bind_socket(store / "sock")
    index = tmp_path / "x.duckdb"
    scan_cli(root, index, "--no-thumbnails")
    assert q(index, "SELECT name, status FROM datasets") == [("cells.zarr", "ok")]
    kept = {Path(p).name for p in files_of(index, "cells.zarr")}
    assert kept.isdisjoint({"fifo", "pipe.0", "deep", "sock"})
    assert ".zarray" in kept
    found = issues(index)
    for name in ("fifo", "pipe.0", "deep"):
        assert "named pipe (FIFO), not a regular file" in found[name], found
    assert "a socket, not a regular file" in found["sock"]
    cat = open_catalog(index)
    (ident,) = list(cat)
    np.testing.assert_array_equal(cat[ident].read().values, data)


def test_a_link_to_dev_zero_in_a_zarr_store_does_not_spin(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    root = tmp_path / "d"
    store = root / "cells.zarr"
    write_zarr(store, rng)
    os.symlink("/dev/zero", store / "zero")
    (store / ".zattrs").unlink()
    os.symlink("/dev/zero", store / ".zattrs")  # metadata zarr reads on open
    index = tmp_path / "x.duckdb"
    out = scan_cli(root, index)
    assert f"LINK    {store / 'zero'} -> /dev/zero" in out.stdout
    found = issues(index)
    assert found["zero"].startswith(
        "symlink out of the scanned folder, not followed: -> /dev/zero"
    )
    kept = {Path(p).name for p in files_of(index, "cells.zarr")}
    assert "zero" not in kept and ".zattrs" not in kept
    status, error = q(index, "SELECT status, error FROM datasets")[0]
    assert status == "failed" and ".zattrs" in error and "/dev/zero" in error, error

    # asked to follow links, the device is still never opened
    again = tmp_path / "y.duckdb"
    scan_cli(root, again, "--follow-links")
    found = issues(again)
    assert "a character device, not a regular file" in found["zero"], found
    status, error = q(again, "SELECT status, error FROM datasets")[0]
    assert status == "failed" and ".zattrs" in error and "/dev/zero" in error, error


def test_a_pipe_as_zarr_metadata_or_chunk_fails_with_the_cause(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    root = tmp_path / "d"
    meta_store, chunk_store = root / "meta.zarr", root / "chunk.zarr"
    write_zarr(meta_store, rng)
    (meta_store / ".zattrs").unlink()
    os.mkfifo(meta_store / ".zattrs")
    write_zarr(chunk_store, rng)
    (chunk_store / "1.0.0").unlink()
    os.mkfifo(chunk_store / "1.0.0")
    index = tmp_path / "x.duckdb"
    scan_cli(root, index)
    rows = dict(
        (n, (s, e, w))
        for n, s, e, w in q(index, "SELECT name, status, error, warnings FROM datasets")
    )
    status, error, _ = rows["meta.zarr"]
    assert status == "failed" and ".zattrs" in error and "named pipe" in error, error
    status, error, warnings = rows["chunk.zarr"]
    assert status == "ok", error  # the headers are fine; the drawing names the chunk
    assert any("1.0.0" in w and "named pipe" in w for w in warnings), warnings
    # reading it later (a notebook, a REST slice) names the chunk instead of blocking
    ident = q(index, "SELECT id FROM datasets WHERE name = 'chunk.zarr'")[0][0]
    for read in (
        f"open_catalog({str(index)!r})[{ident!r}].read().values",
        f"Slicer({str(index)!r}, {ident!r}).plane(('y', 'x'), at={{'z': 5}})",
    ):
        code = (
            "import sys; from catalog import open_catalog; from catalog.preview import Slicer\n"
            f"try:\n    {read}\nexcept Exception as exc:\n    print(exc); sys.exit(7)\n"
        )
        try:
            out = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                timeout=LIMIT,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{read} hung on a named pipe")
        assert out.returncode == 7, out.stderr
        assert "1.0.0" in out.stdout and "named pipe" in out.stdout, out.stdout


def test_a_pipe_socket_or_device_as_the_scan_root_is_a_clear_error(tmp_path: Path) -> None:
    pipe, sock, zero = tmp_path / "pipe", tmp_path / "s", tmp_path / "zero"
    os.mkfifo(pipe)
    bind_socket(sock)
    os.symlink("/dev/zero", zero)
    for path, kind in [(pipe, "named pipe"), (sock, "socket"), (zero, "character device")]:
        out = voxcat("scan", path, "--index", tmp_path / "x.duckdb", "--jobs", "1", "-q")
        assert out.returncode == 1, (out.stdout, out.stderr)
        assert out.stderr.startswith(f"voxcat: error: {path}: a {kind}"), out.stderr
        assert "nothing was scanned" in out.stderr and "Traceback" not in out.stderr


def test_verify_never_blocks_on_a_file_replaced_by_a_pipe(
    tmp_path: Path, volume: np.ndarray
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    tifffile.imwrite(root / "a.tif", volume)
    index = tmp_path / "x.duckdb"
    scan_cli(root, index, "--no-thumbnails")
    (root / "a.tif").unlink()
    os.mkfifo(root / "a.tif")
    out = voxcat("verify", "--index", index, "--json")
    report = json.loads(out.stdout)
    (result,) = report["results"].values()
    assert result["outcome"] == "missing"
    assert "named pipe" in json.dumps(result), result


def test_a_multi_file_ome_tiff_naming_a_pipe_is_read_as_one_file(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    uuid1, uuid2 = (f"urn:uuid:{i}1111111-1111-1111-1111-111111111111" for i in (1, 2))
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
        f'UUID="{uuid1}"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" '
        'Type="uint8" SizeX="8" SizeY="8" SizeZ="2" SizeC="1" SizeT="1">'
        '<Channel ID="Channel:0:0" SamplesPerPixel="1"/>'
        f'<TiffData IFD="0" FirstZ="0" PlaneCount="1"><UUID FileName="a.ome.tif">{uuid1}'
        "</UUID></TiffData>"
        f'<TiffData IFD="0" FirstZ="1" PlaneCount="1"><UUID FileName="b.ome.tif">{uuid2}'
        "</UUID></TiffData></Pixels></Image></OME>"
    )
    plane = np.arange(64, dtype=np.uint8).reshape(8, 8)
    tifffile.imwrite(root / "a.ome.tif", plane, description=xml, metadata=None)
    os.mkfifo(root / "b.ome.tif")  # the second plane's file is a pipe
    index = tmp_path / "x.duckdb"
    scan_cli(root, index)
    status, shape = q(index, "SELECT status, shape FROM datasets WHERE name = 'a.ome.tif'")[0]
    assert status == "ok" and shape == [8, 8]
    assert "named pipe" in issues(index)["b.ome.tif"]


def test_a_par_rec_pair_whose_rec_is_a_pipe_fails_without_blocking(tmp_path: Path) -> None:
    import nibabel as nib

    root = tmp_path / "d"
    root.mkdir()
    shutil.copy(Path(nib.__file__).parent / "tests/data/phantom_EPI_asc_CLEAR_2_1.PAR", root)
    os.mkfifo(root / "phantom_EPI_asc_CLEAR_2_1.REC")
    index = tmp_path / "x.duckdb"
    scan_cli(root, index)
    status, error = q(index, "SELECT status, error FROM datasets")[0]
    assert status == "failed" and "REC" in error and "named pipe" in error, error


# -- never leave the scanned folder --------------------------------------------------------


@pytest.fixture
def linked_tree(tmp_path: Path, volume: np.ndarray) -> Path:
    """``lab/tree`` with links out of it (to its parent, to a sibling folder, to a file
    elsewhere) and links inside it (to a folder and a file of the tree)."""
    lab = tmp_path / "lab"
    tree, sibling = lab / "tree", lab / "sibling"
    (tree / "sub").mkdir(parents=True)
    sibling.mkdir()
    tifffile.imwrite(tree / "sub" / "mine.tif", volume)
    tifffile.imwrite(sibling / "theirs.tif", volume[:4])
    secret = tmp_path / "secret.tif"
    tifffile.imwrite(secret, volume[:2])
    os.symlink("..", tree / "up")  # leads to lab: the sibling folder and more
    os.symlink(sibling, tree / "other")
    os.symlink(secret, tree / "borrowed.tif")
    os.symlink("sub", tree / "alias")  # inside: followed, found once
    os.symlink("sub/mine.tif", tree / "shortcut.tif")  # inside: indexed
    return tree


def test_links_out_of_the_root_are_recorded_and_not_followed(
    linked_tree: Path, tmp_path: Path
) -> None:
    index = tmp_path / "x.duckdb"
    out = scan_cli(linked_tree, index)
    names = sorted(n for (n,) in q(index, "SELECT name FROM datasets"))
    assert names == ["mine.tif", "shortcut.tif"]  # nothing from lab/ or elsewhere
    assert all(
        from_db(p).startswith(str(linked_tree) + "/")
        for (p,) in q(index, "SELECT path FROM files")
    )
    lab = linked_tree.parent
    for link, target in [
        ("up", lab),
        ("other", lab / "sibling"),
        ("borrowed.tif", tmp_path / "secret.tif"),
    ]:
        assert (
            f"LINK    {linked_tree / link} -> {target}: outside the scanned folder" in out.stdout
        )
        assert issues(index)[link] == (
            f"symlink out of the scanned folder, not followed: -> {target} "
            "(scan with --follow-links to follow it)"
        )
    assert "--follow-links" in out.stdout
    assert "this folder is" in issues(index)["sub"]  # the inside link: loop detection
    # the report of the API lists them too
    rep = scan(linked_tree, tmp_path / "y.duckdb", jobs=1, progress=False, thumbnails=False)
    assert sorted(Path(p).name for p, _ in rep.links) == ["borrowed.tif", "other", "up"]
    assert dict((Path(p).name, t) for p, t in rep.links)["up"] == str(lab)


def test_follow_links_follows_them_when_asked(linked_tree: Path, tmp_path: Path) -> None:
    index = tmp_path / "x.duckdb"
    out = scan_cli(linked_tree, index, "--follow-links")
    names = sorted(n for (n,) in q(index, "SELECT name FROM datasets"))
    assert "theirs.tif" in names and "borrowed.tif" in names, names
    assert "LINK" not in out.stdout
    rep = scan(linked_tree, tmp_path / "y.duckdb", jobs=1, progress=False, follow_links=True)
    assert rep.links == [] and rep["datasets"] == len(names)
    # a list of folders: links are followed into those only
    only = scan(
        linked_tree,
        tmp_path / "z.duckdb",
        jobs=1,
        progress=False,
        follow_links=[linked_tree.parent / "sibling"],
    )
    got = sorted(n for (n,) in q(tmp_path / "z.duckdb", "SELECT name FROM datasets"))
    assert got == ["mine.tif", "shortcut.tif", "theirs.tif"]
    assert sorted(Path(p).name for p, _ in only.links) == ["borrowed.tif", "up"]


def test_a_zarr_chunk_linked_outside_the_root_is_never_read(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    root = tmp_path / "d"
    store = root / "cells.zarr"
    write_zarr(store, rng)
    chunk = store / "0.0.0"
    stolen = tmp_path / "private.bin"
    stolen.write_bytes(b"\xab" * chunk.stat().st_size)  # a chunk-sized file elsewhere
    chunk.unlink()
    os.symlink(stolen, chunk)
    index = tmp_path / "x.duckdb"
    scan_cli(root, index, "--no-thumbnails")
    assert str(chunk) not in files_of(index, "cells.zarr")
    assert issues(index)["0.0.0"].startswith(
        f"symlink out of the scanned folder, not followed: -> {stolen}"
    )
    cat = open_catalog(index)
    (ident,) = list(cat)
    with pytest.raises(ReaderError, match=r"0\.0\.0.*leads to .*private\.bin.*not read"):
        cat[ident].read().values  # noqa: B018


def test_an_image_of_a_dicomdir_tree_linked_outside_is_left_out(
    tmp_path: Path, volume: np.ndarray
) -> None:
    from .readers.test_dicom import write_dicomdir

    root = tmp_path / "d"
    cd = root / "cd"
    write_dicomdir(cd, [volume])
    images = sorted(p for p in cd.rglob("IM*"))
    moved = tmp_path / "elsewhere.dcm"
    shutil.move(images[-1], moved)
    os.symlink(moved, images[-1])  # one slice of the series now lives elsewhere
    index = tmp_path / "x.duckdb"
    out = scan_cli(root, index, "--no-thumbnails")
    assert f"LINK    {images[-1]} -> {moved}" in out.stdout
    rows = q(index, "SELECT name, status, n_files FROM datasets WHERE format = 'dicom'")
    ((name, status, n_files),) = rows
    assert status == "ok" and n_files == len(images) - 1
    assert str(images[-1]) not in files_of(index, name)
    assert str(moved) not in {from_db(p) for (p,) in q(index, "SELECT path FROM files")}


# -- detached data files -------------------------------------------------------------------

MHD = (
    "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
    "ElementSpacing = 1 1 1\nDimSize = 8 8 2\nElementType = MET_UCHAR\nElementDataFile = {}\n"
)
NHDR = "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 8 8 2\nencoding: raw\ndata file: {}\n\n"


@pytest.fixture
def pixels(rng: np.random.Generator) -> bytes:
    return rng.integers(0, 255, size=128, dtype=np.uint8).tobytes()


def test_detached_data_files_outside_the_root_fail_with_the_cause(
    tmp_path: Path, pixels: bytes
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    secret = tmp_path / "secret.raw"
    secret.write_bytes(pixels)
    headers = {
        "abs.mhd": MHD.format(secret),
        "rel.mhd": MHD.format("../secret.raw"),
        "abs.mha": MHD.format(secret),
        "abs.nhdr": NHDR.format(secret),
        "rel.nrrd": NHDR.format("../secret.raw"),
    }
    for name, text in headers.items():
        (root / name).write_text(text)
    index = tmp_path / "x.duckdb"
    out = scan_cli(root, index)
    rows = q(index, "SELECT name, path, status, error, thumbnail, shape, n_files FROM datasets")
    assert len(rows) == len(headers)
    for _name, path, status, error, thumb, shape, n_files in rows:
        assert status == "failed", error
        assert error.startswith(f"{from_db(path)}: data file {secret}: outside the scanned folder")
        assert thumb is None and shape is None and n_files == 1
        assert f"FAILED  {error}" in out.stdout
    assert all(from_db(p).startswith(str(root)) for (p,) in q(index, "SELECT path FROM files"))


def test_a_data_file_inside_the_root_is_part_of_the_dataset_and_verified(
    tmp_path: Path, pixels: bytes
) -> None:
    root = tmp_path / "d"
    (root / "raw").mkdir(parents=True)
    (root / "ct.mhd").write_text(MHD.format("raw/ct.raw"))
    (root / "raw" / "ct.raw").write_bytes(pixels)
    (root / "mr.nhdr").write_text(NHDR.format("raw/../raw/mr.raw"))
    (root / "raw" / "mr.raw").write_bytes(pixels[::-1])
    index = tmp_path / "x.duckdb"
    scan_cli(root, index, "--no-thumbnails")
    rows = q(index, "SELECT name, status, n_files FROM datasets ORDER BY name")
    assert rows == [("ct", "ok", 2), ("mr", "ok", 2)]  # the .raw files are not datasets
    assert files_of(index, "ct") == [str(root / "ct.mhd"), str(root / "raw" / "ct.raw")]
    assert files_of(index, "mr") == [str(root / "mr.nhdr"), str(root / "raw" / "mr.raw")]
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    np.testing.assert_array_equal(
        cat[ids["ct"]].read().values.ravel(), np.frombuffer(pixels, np.uint8)
    )
    assert voxcat("verify", "--index", index).returncode == 0
    with open(root / "raw" / "ct.raw", "r+b") as fh:  # same size, other bytes
        fh.write(b"\x00\x01\x02")
    out = voxcat("verify", "--index", index)
    assert out.returncode != 0
    assert f"MODIFIED  {ids['ct']} ct: {root / 'raw' / 'ct.raw'}" in out.stdout
    again = scan(root, index, jobs=1, progress=False)
    assert again["changed"] == 1 and again["unchanged"] == 1


def test_the_catalogue_never_reads_a_data_file_outside_the_recorded_files(
    tmp_path: Path, pixels: bytes
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "ct.mhd").write_text(MHD.format("ct.raw"))
    (root / "ct.raw").write_bytes(pixels)
    index = tmp_path / "x.duckdb"
    scan(root, index, jobs=1, progress=False)
    secret = tmp_path / "secret.raw"
    secret.write_bytes(bytes(255 - b for b in pixels))
    (root / "ct.mhd").write_text(MHD.format(secret))  # changed after the scan
    cat = open_catalog(index)
    (ident,) = list(cat)
    with pytest.raises((ReaderError, DatasetUnavailable), match=r"secret\.raw.*not read"):
        cat[ident].read().values  # noqa: B018


def test_voxcat_temporary_names_are_not_indexed(tmp_path) -> None:
    """A half-written result or preview (a hidden temporary name recording its writer)
    is left out and recorded, while its finished sibling is indexed."""
    from catalog.tempfiles import temp_path

    rng = np.random.default_rng(13)
    root = tmp_path / "lab.store"
    root.mkdir()
    write_zarr(root / "pores.zarr", rng)
    half = temp_path(root / "grains.zarr")
    write_zarr(half, rng)
    report = scan(root, tmp_path / "lab.duckdb", jobs=1, progress=False)
    cat = open_catalog(tmp_path / "lab.duckdb")
    assert sorted(cat.df["name"]) == ["pores.zarr"]
    assert [(p, sev) for p, sev, msg in report.issues if "temporary name" in msg] == [
        (str(half), "warning")
    ]
