"""nibabel's other formats: MINC1/MINC2, MGH/MGZ, PAR/REC, AFNI and ECAT7.

Samples are the files nibabel ships in its wheel (copied to a temporary folder) and
files written in fixtures by nibabel's own writers (MGH/MGZ) or its NetCDF writer
(MINC1); the reader must agree with nibabel on shape, dtype, spacing and pixels.
"""

from __future__ import annotations

import gzip
import json
import shutil
import warnings
from pathlib import Path
from typing import ClassVar

import dask.array as da
import nibabel as nib
import numpy as np
import pytest
from nibabel.externals.netcdf import netcdf_file

from catalog import open_catalog, scan
from catalog.errors import ReaderError
from catalog.readers import Source, get_reader, guess_reader
from catalog.readers.base import canonical_order
from catalog.readers.minc import MINC_AXES, MincReader
from catalog.readers.neuro import AfniReader, EcatReader, MghReader, ParRecReader, gunzip_head
from catalog.testing import ReaderContract, Sample

from .contract import index_rows

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"
#: (reader, files nibabel ships, the file nibabel loads)
SHIPPED = {
    "minc1": ("minc", ["minc1_1_scale.mnc"]),
    "minc1-4d": ("minc", ["minc1_4d.mnc"]),
    "minc2": ("minc", ["minc2_1_scale.mnc"]),
    "minc2-4d": ("minc", ["minc2_4d.mnc"]),
    "minc2-4d-x-slowest": ("minc", ["minc2-4d-d.mnc"]),
    "minc2-anisotropic": ("minc", ["small.mnc"]),
    "mgz": ("mgh", ["test.mgz"]),
    "parrec": ("parrec", ["phantom_EPI_asc_CLEAR_2_1.PAR", "phantom_EPI_asc_CLEAR_2_1.REC"]),
    "parrec-varscale": ("parrec", ["phantom_varscale.PAR", "phantom_varscale.REC"]),
    "afni-gz": ("afni", ["example4d+orig.HEAD", "example4d+orig.BRIK.gz"]),
    "afni-scaled": ("afni", ["scaled+tlrc.HEAD", "scaled+tlrc.BRIK"]),
    "ecat": ("ecat", ["tinypet.v"]),
}


def copy_shipped(key: str, folder: Path) -> Path:
    """Copy a shipped sample into ``folder``; returns the file nibabel loads."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED[key][1]:
        src = NIB_DATA / name
        assert src.is_file(), f"nibabel no longer ships {name}"
        shutil.copy(src, folder / name)
    return folder / SHIPPED[key][1][0]


def load(path: Path) -> nib.spatialimages.SpatialImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MINC2 'Invalid spacing declaration'
        if path.suffix == ".v":
            return nib.ecat.load(str(path))
        if path.name.endswith(".mgh.gz"):  # nib.load knows .mgz only: give it the stream
            with gzip.open(path, "rb") as fh:
                img = nib.MGHImage.from_file_map(nib.MGHImage.make_file_map({"image": fh}))
                return nib.MGHImage(np.asanyarray(img.dataobj), img.affine, img.header)
        return nib.load(str(path))


def nibabel_axes(img: nib.spatialimages.SpatialImage) -> str:
    """Our letter for each of nibabel's voxel axes."""
    if isinstance(img, nib.Minc1Image | nib.Minc2Image):
        names = img.dataobj.minc_file._dim_names
        return "".join(MINC_AXES[n] for n in names)
    return "xyzt"[: len(img.shape)]


def expectation(path: Path, source: Source) -> Sample:
    """What nibabel itself says about ``path``, as a contract Sample."""
    img = load(path)
    axes = nibabel_axes(img)
    order = canonical_order(axes)
    pixels = np.asanyarray(img.dataobj)
    pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    if isinstance(img, nib.ecat.EcatImage):
        zooms = img.get_subheaders().get_zooms()
    else:
        zooms = img.header.get_zooms()
    spacing = {a: float(z) * 1e-3 for a, z in zip(axes, zooms) if a in "xyz"}
    modality = "PT" if isinstance(img, nib.ecat.EcatImage) else "MR"
    return Sample(
        source,
        pixels.transpose(order),
        "".join(axes[i] for i in order),
        spacing=spacing,
        modality=modality,
    )


def source_of(reader_name: str, path: Path) -> Source:
    sources, _rest = get_reader(reader_name).group(path.parent, sorted(path.parent.iterdir()))
    return sources[0] if sources else Source.single(path)


# -- files written in fixtures --------------------------------------------------------


def write_minc1(
    path: Path,
    data: np.ndarray,
    steps: tuple[float, float, float] = (3.0, 2.0, 1.5),
    starts: tuple[float, float, float] = (-10.0, 5.0, 0.0),
    modality: bytes = b"PET__",
) -> Path:
    """A MINC1 file of uint16 ``data`` (z, y, x) written with nibabel's NetCDF writer,
    with a ``patient`` variable that must never reach the index."""
    f = netcdf_file(str(path), "w")
    names = ("zspace", "yspace", "xspace")
    for name, size in zip(names, data.shape):
        f.createDimension(name, size)
    for name, step, start, cos in zip(names, steps, starts, ([0, 0, 1], [0, 1, 0], [1, 0, 0])):
        v = f.createVariable(name, "i", ())
        v.varid, v.vartype = b"MINC standard variable", b"dimension____"
        v.spacing, v.units = b"regular__", b"mm"
        v.step, v.start, v.direction_cosines = step, start, np.array(cos, float)
    image = f.createVariable("image", "h", names)
    image.signtype, image.valid_range = b"unsigned", np.array([0.0, 65535.0])
    image[:] = data.astype(np.uint16).view(np.int16)
    f.createVariable("image-max", "d", ()).data[...] = 65535.0
    f.createVariable("image-min", "d", ()).data[...] = 0.0
    f.createVariable("patient", "i", ()).full_name = b"Jane Doe"
    f.createVariable("study", "i", ()).modality = modality
    f.history = b"written by test_neuro\nline two\n"
    f.close()
    return path


def write_mgh(path: Path, data_zyx: np.ndarray, zooms: tuple = (0.7, 0.8, 1.25)) -> Path:
    """An MGH/MGZ file of a ``(t,) z, y, x`` array (stored x, y, z, t) with nibabel."""
    data = np.ascontiguousarray(data_zyx.transpose(tuple(range(data_zyx.ndim))[::-1]))
    img = nib.MGHImage(data, np.diag([*zooms, 1.0]))
    img.header.set_zooms((*zooms, 2300.0)[: data.ndim])
    nib.save(img, str(path))
    return path


class TestMincContract(ReaderContract):
    reader_class = MincReader

    @pytest.fixture(params=[k for k, v in SHIPPED.items() if v[0] == "minc"] + ["minc1-written"])
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        if request.param == "minc1-written":
            path = write_minc1(tmp_path / "pet.mnc", volume)
            sample = expectation(path, Source.single(path))
            np.testing.assert_array_equal(sample.expected, volume)  # the writer is lossless
            sample.modality = "PT"  # study:modality = PET__
            return sample
        path = copy_shipped(request.param, tmp_path / "d")
        return expectation(path, Source.single(path))


class TestMghContract(ReaderContract):
    reader_class = MghReader
    # MGH keeps TR, flip angle, TE and TI in a footer after the pixels: a gzip stream
    # cannot seek, so describing an .mgz inflates all of it once (the whole file is read;
    # within the limit for a file under 64 KiB, like mgh.gz-int16).
    expected_failures: ClassVar[dict[str, str]] = {
        f"{test}[mgz-float-4d]": "the MGH footer (TR, TE, TI, flip angle) follows the "
        "pixels: reaching it in a gzip stream reads the whole 257 KB file"
        for test in ("test_describe_reads_no_pixels", "test_open_reads_nothing_until_computed")
    }

    @pytest.fixture(params=["mgz-shipped", "mgh-uint8", "mgz-float-4d", "mgh.gz-int16"])
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        rng = np.random.default_rng(7)
        if kind == "mgz-shipped":
            path = copy_shipped("mgz", tmp_path)
        elif kind == "mgh-uint8":
            path = write_mgh(tmp_path / "aseg.mgh", (volume % 251).astype(np.uint8))
        elif kind == "mgz-float-4d":
            series = rng.normal(size=(3, *volume.shape)).astype(np.float32)
            path = write_mgh(tmp_path / "bold.mgz", series)
        else:
            mgh = write_mgh(tmp_path / "t1.mgh", volume.astype(np.int16))
            path = tmp_path / "t1.mgh.gz"
            path.write_bytes(gzip.compress(mgh.read_bytes()))
            mgh.unlink()
        sample = expectation(path, Source.single(path))
        if kind != "mgz-shipped":
            assert sample.spacing == pytest.approx({"x": 7e-4, "y": 8e-4, "z": 1.25e-3})
        return sample


class TestParRecContract(ReaderContract):
    reader_class = ParRecReader

    @pytest.fixture(params=["parrec", "parrec-varscale"])
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path) -> Sample:
        path = copy_shipped(request.param, tmp_path)
        return expectation(path, source_of("parrec", path))


class TestAfniContract(ReaderContract):
    reader_class = AfniReader

    @pytest.fixture(params=["afni-gz", "afni-scaled"])
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path) -> Sample:
        path = copy_shipped(request.param, tmp_path)
        return expectation(path, source_of("afni", path))


class TestEcatContract(ReaderContract):
    reader_class = EcatReader

    @pytest.fixture
    def sample(self, tmp_path: Path) -> Sample:
        path = copy_shipped("ecat", tmp_path)
        return expectation(path, Source.single(path))


# -- detection and grouping -------------------------------------------------------------


def test_minc_wins_over_netcdf_and_hdf5(tmp_path: Path, volume: np.ndarray) -> None:
    minc1 = write_minc1(tmp_path / "a.mnc", volume)
    minc2 = copy_shipped("minc2", tmp_path)
    renamed = tmp_path / "a.bin"  # MINC1 is found by its header, whatever its name
    renamed.write_bytes(minc1.read_bytes())
    for path in (minc1, minc2, renamed):
        assert guess_reader(path).name == "minc", path
    plain = tmp_path / "plain.nc"  # a NetCDF3 file without MINC variables
    with netcdf_file(str(plain), "w") as f:
        f.createDimension("z", 3)
        f.createVariable("density", "f", ("z",))[:] = [1.0, 2.0, 3.0]
    assert guess_reader(plain).name == "netcdf"
    h5 = tmp_path / "plain.mnc"  # HDF5 named .mnc without a minc-2.0 group
    import h5py

    with h5py.File(h5, "w") as f:
        f["data"] = volume
    assert not MincReader().guess_can_open(h5)
    assert guess_reader(h5).name == "hdf5"
    cut = tmp_path / "cut.mnc"  # a damaged MINC2 file is reported as MINC
    cut.write_bytes(minc2.read_bytes()[:5000])
    assert guess_reader(cut).name == "minc"
    with pytest.raises(ReaderError, match=r"cut\.mnc: invalid or truncated MINC file"):
        MincReader().describe(Source.single(cut))


def test_minc_metadata_and_privacy(tmp_path: Path, volume: np.ndarray) -> None:
    info = MincReader().describe(Source.single(write_minc1(tmp_path / "a.mnc", volume)))
    assert info.meta["format"] == "MINC1"
    assert info.modality == "PT"
    assert info.meta["attributes"]["history"].startswith("written by test_neuro\nline two")
    assert info.meta["dimensions"]["zspace"]["step"] == 3.0
    assert info.origin == {"z": -10.0, "y": 5.0}  # x starts at 0: no origin recorded
    assert "Jane Doe" not in json.dumps(info.meta)
    assert "patient" not in info.meta["info"]


def test_minc_reads_only_the_chunks_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    vol = rng.integers(0, 60000, (40, 256, 256), dtype=np.uint16)  # 8 MB per chunk of float64
    path = write_minc1(tmp_path / "big.mnc", vol)
    calls: list[tuple] = []
    original = MincReader.read_block

    def spy(self: MincReader, path: Path, files: tuple, index: tuple) -> np.ndarray:
        calls.append(index)
        return original(self, path, files, index)

    monkeypatch.setattr(MincReader, "read_block", spy)
    arr = MincReader().open(Source.single(path))
    assert isinstance(arr.data, da.Array) and arr.data.npartitions > 1
    assert not calls  # the scaled dtype comes from the header: open reads no pixels
    plane = arr.isel(z=17).values
    assert len(calls) == 1  # one chunk for one plane
    np.testing.assert_array_equal(plane, vol[17])


def test_parrec_pairs_are_one_dataset(tmp_path: Path) -> None:
    par = copy_shipped("parrec", tmp_path)
    (tmp_path / "settings.par").write_text("threads = 4\n")  # a parameter file, not Philips
    files = sorted(tmp_path.iterdir())
    sources, rest = ParRecReader().group(tmp_path, files)
    assert [(s.name, [f.name for f in s.files]) for s in sources] == [
        ("phantom_EPI_asc_CLEAR_2_1", [par.name, par.with_suffix(".REC").name])
    ]
    assert [p.name for p in rest] == ["settings.par"]
    info = ParRecReader().describe(sources[0])
    assert info.acquired.isoformat() == "2014-02-14T09:00:57"
    assert info.meta["time_step"] == {"value": 2.0, "unit": "s"}
    assert "patient_name" not in info.meta["general_info"]


def test_parrec_lowercase_and_missing_rec(tmp_path: Path) -> None:
    par = copy_shipped("parrec", tmp_path)
    lower = tmp_path / "scan.par"
    par.rename(lower)
    (tmp_path / "phantom_EPI_asc_CLEAR_2_1.REC").rename(tmp_path / "scan.rec")
    sources, rest = ParRecReader().group(tmp_path, sorted(tmp_path.iterdir()))
    assert len(sources) == 1 and not rest
    assert ParRecReader().describe(sources[0]).shape == (3, 9, 64, 64)
    (tmp_path / "scan.rec").unlink()
    with pytest.raises(ReaderError, match=r"scan\.par: its REC data file"):
        ParRecReader().describe(Source.single(lower))


def test_truncated_rec_and_brik_are_reported(tmp_path: Path) -> None:
    par = copy_shipped("parrec", tmp_path / "p")
    rec = par.with_suffix(".REC")
    rec.write_bytes(rec.read_bytes()[:1000])
    with pytest.raises(ReaderError, match="truncated file") as exc:
        ParRecReader().describe(source_of("parrec", par))
    assert str(rec) in str(exc.value)
    head = copy_shipped("afni-scaled", tmp_path / "a")
    brik = tmp_path / "a" / "scaled+tlrc.BRIK"
    brik.write_bytes(brik.read_bytes()[:5000])
    with pytest.raises(ReaderError, match="truncated file"):
        AfniReader().describe(source_of("afni", head))


def test_afni_groups_head_with_brik_gz(tmp_path: Path) -> None:
    copy_shipped("afni-gz", tmp_path)
    copy_shipped("afni-scaled", tmp_path)
    sources, rest = AfniReader().group(tmp_path, sorted(tmp_path.iterdir()))
    assert sorted((s.name, len(s.files)) for s in sources) == [
        ("example4d+orig", 2),
        ("scaled+tlrc", 2),
    ]
    assert not rest
    info = AfniReader().describe(next(s for s in sources if s.name == "example4d+orig"))
    assert info.meta["time_step"] == {"value": 3.0, "unit": "s"}
    assert info.meta["compressed"] is True


def test_ecat_metadata_without_patient_fields(tmp_path: Path) -> None:
    info = get_reader("ecat").describe(Source.single(copy_shipped("ecat", tmp_path)))
    main = info.meta["main_header"]
    assert main["radiopharmaceutical"] == "FDG" and main["isotope_name"] == "F-18"
    identifying = ("patient_name", "patient_id", "patient_birth_date", "physician_name")
    assert not set(identifying) & set(main)
    assert "operator_name" not in main and "original_filename" not in main
    assert main["patient_orientation"] == 8  # not identifying: kept
    assert info.acquired.year == 2010
    assert info.meta["frames"][0]["duration_ms"] == 300000


def test_detection_rejects_lookalikes(tmp_path: Path) -> None:
    verilog = tmp_path / "adder.v"
    verilog.write_text("module adder(input a, b, output s); assign s = a ^ b; endmodule\n")
    assert guess_reader(verilog) is None
    fake_mgz = tmp_path / "fake.mgz"
    fake_mgz.write_bytes(gzip.compress(np.random.default_rng(2).bytes(500)))
    assert not MghReader().guess_can_open(fake_mgz)
    head = tmp_path / "notes.HEAD"
    head.write_text("just some text\n")
    assert not AfniReader().guess_can_open(head)
    with pytest.raises(ReaderError, match="not in MGH format"):
        MghReader().describe(Source.single(fake_mgz))


# -- a scan of a drive holding every format ---------------------------------------------


def test_scan_records_each_as_one_lazy_dataset(tmp_path: Path, volume: np.ndarray) -> None:
    drive = tmp_path / "drive"
    for key in SHIPPED:
        copy_shipped(key, drive / key)
    (drive / "written").mkdir()
    write_minc1(drive / "written" / "pet.mnc", volume)
    write_mgh(drive / "written" / "aseg.mgz", (volume % 200).astype(np.uint8))
    index = tmp_path / "lab.duckdb"
    report = scan(drive, index, jobs=1, progress=False)
    assert report["failed"] == 0, report.failed
    cat = open_catalog(index)
    df = index_rows(index).set_index("path")
    assert len(df) == len(SHIPPED) + 2  # REC, BRIK files are part of their dataset
    checks = [(drive / k / v[1][0], v[0]) for k, v in SHIPPED.items()]
    checks += [(drive / "written" / "pet.mnc", "minc"), (drive / "written" / "aseg.mgz", "mgh")]
    for path, reader in checks:
        row = df.loc[str(path)]
        assert row["status"] == "ok", (path, row["error"])
        assert row["reader"] == reader and row["format"] == reader
        assert row["n_files"] == len(SHIPPED.get(path.parent.name, (None, [1]))[1])
        expected = expectation(path, Source.single(path)).expected
        assert tuple(row["shape"]) == expected.shape
        arr = cat[row["id"]].read()
        assert isinstance(arr.data, da.Array)
        np.testing.assert_array_equal(arr.values, expected)


def test_gunzip_head_inflates_only_what_it_returns(tmp_path: Path) -> None:
    """The MGZ header (284 bytes) comes from the stream's first compressed bytes, not
    from inflating the file (which a gzip stream would need to reach its end)."""
    from catalog.testing import ReadSpy, spy_available

    rng = np.random.default_rng(5)
    raw = rng.integers(0, 255, 2_000_000, dtype=np.uint8).tobytes()
    path = tmp_path / "big.mgz"
    path.write_bytes(gzip.compress(raw))
    assert gunzip_head(path, 284) == raw[:284]
    if spy_available():
        with ReadSpy() as spy:
            gunzip_head(path, 284)
        assert spy.bytes_read <= 2048
    short = tmp_path / "short.mgz"
    short.write_bytes(gzip.compress(b"abc"))
    assert gunzip_head(short, 284) == b"abc"  # the stream ends first
    cut = tmp_path / "cut.mgz"
    cut.write_bytes(path.read_bytes()[:10])
    assert gunzip_head(cut, 284) == b""
    plain = tmp_path / "plain.mgh"
    plain.write_bytes(raw[:1000])
    assert gunzip_head(plain, 284) == b""
    assert gunzip_head(tmp_path / "missing.mgz", 284) == b""


def test_mgh_describe_reads_header_and_footer_only(tmp_path: Path, volume: np.ndarray) -> None:
    """An uncompressed MGH is described from its header and footer (TR), whatever its
    size; a gzipped one from one pass over the stream (the footer follows the pixels)."""
    from catalog.testing import ReadSpy, spy_available

    if not spy_available():
        pytest.skip("no per-thread I/O counts on this system")
    series = np.random.default_rng(2).normal(size=(4, *volume.shape)).astype(np.float32)
    for name in ("bold.mgh", "bold.mgz"):
        path = write_mgh(tmp_path / name, series)
        reader = MghReader()
        info = reader.describe(Source.single(path))
        assert info.meta["time_step"] == {"value": pytest.approx(2300.0), "unit": "ms"}
        with ReadSpy() as spy:
            reader.describe(Source.single(path))
        size = path.stat().st_size
        if name.endswith(".mgh"):
            assert spy.bytes_read < 2048, (name, spy.bytes_read, size)
        else:
            assert spy.bytes_read < size + 4096, (name, spy.bytes_read, size)
