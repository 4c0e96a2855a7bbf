"""FITS reader: files written by astropy (uncompressed, scaled, tile-compressed,
multi-extension) and the files astropy ships in its wheel."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from catalog import open_catalog, scan
from catalog.errors import ReaderError
from catalog.readers import Source, guess_reader
from catalog.readers.fits import FitsBlocks, FitsReader, walk_hdus
from catalog.testing import ReaderContract, Sample

from .contract import index_rows

ASTROPY_DATA = Path(fits.__file__).parent / "tests" / "data"
#: shipped files with an image: (file, the HDU the reader must present)
SHIPPED_IMAGES = {
    "arange.fits": 0,  # int32 cube
    "blank.fits": 0,
    "checksum.fits": 0,  # image + table
    "comp.fits": 1,  # RICE_1 tile-compressed int16
    "compressed_float_bzero.fits": 1,
    "compressed_image.fits": 1,
    "double_ext.fits": 1,
    "fixed-1890.fits": 0,  # int16 with BZERO = 32768 -> uint16
    "o4sp040b0_raw.fits": 1,  # HST STIS: SCI/ERR/DQ, two SCI with data
    "scale.fits": 0,  # BSCALE/BZERO -> float32
    "test0.fits": 1,  # four SCI extensions
}
#: shipped files without an image: tables, random groups, a zero-length array
SHIPPED_NO_IMAGE = [
    "tb.fits",
    "btable.fits",
    "ascii.fits",
    "group.fits",
    "random_groups.fits",
    "zerowidth.fits",
    "history_header.fits",
]


def shipped(name: str, folder: Path) -> Path:
    src = ASTROPY_DATA / name
    assert src.is_file(), f"astropy no longer ships {name}"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / name))


def astropy_data(path: Path, index: int) -> np.ndarray:
    """The pixels astropy gives, in native byte order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdul:
            data = np.array(hdul[index].data)
    return data.astype(data.dtype.newbyteorder("="))


def wcs_header(unit: str = "um", steps: tuple = (0.65, 0.65, 2.0)) -> fits.Header:
    h = fits.Header()
    for i, step in enumerate(steps, start=1):
        h[f"CTYPE{i}"] = "LINEAR"
        h[f"CUNIT{i}"] = unit
        h[f"CDELT{i}"] = step
        h[f"CRPIX{i}"] = 1.0
        h[f"CRVAL{i}"] = 10.0 * i
    return h


class TestFitsContract(ReaderContract):
    reader_class = FitsReader

    @pytest.fixture(
        params=["uint16", "float-wcs", "rice", "rice-int32", "gzip2-uint8", "scaled", "mef"]
        + [f"shipped:{n}" for n in SHIPPED_IMAGES]
    )
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        rng = np.random.default_rng(11)
        path = tmp_path / "img.fits"
        if kind.startswith("shipped:"):
            name = kind.split(":", 1)[1]
            path = shipped(name, tmp_path)
            index = SHIPPED_IMAGES[name]
            data = astropy_data(path, index)
            container = name in ("test0.fits", "o4sp040b0_raw.fits")
            axes = "zyx"[-data.ndim :]
            return Sample(
                Source.single(path),
                data,
                axes,
                kind="container" if container else "image",
                data_var="SCI_1" if container else None,
            )
        if kind == "uint16":  # stored as int16 with BZERO = 32768
            fits.PrimaryHDU(volume).writeto(path)
            return Sample(Source.single(path), volume, "zyx")
        if kind == "float-wcs":
            data = rng.normal(size=volume.shape).astype(np.float32)
            fits.PrimaryHDU(data, header=wcs_header()).writeto(path)
            spacing = {"x": 0.65e-6, "y": 0.65e-6, "z": 2e-6}
            return Sample(Source.single(path), data, "zyx", spacing=spacing)
        if kind == "rice":  # lossless for integers
            data = volume.astype(np.int16)
            hdu = fits.CompImageHDU(data, compression_type="RICE_1", tile_shape=(1, 16, 48))
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
            return Sample(Source.single(path), data, "zyx")
        if kind == "rice-int32":
            data = rng.integers(-(2**30), 2**30, size=(3, 50, 70), dtype=np.int32)
            fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(path)
            return Sample(Source.single(path), data, "zyx")
        if kind == "gzip2-uint8":
            data = (volume % 256).astype(np.uint8)[0]
            fits.CompImageHDU(data, compression_type="GZIP_2", name="FRAME").writeto(path)
            return Sample(Source.single(path), data, "yx")
        if kind == "scaled":  # BSCALE/BZERO on int16 -> float32, as astropy reads it
            hdu = fits.PrimaryHDU(volume.astype(np.float32) / 7.0)
            hdu.scale("int16", bscale=0.01, bzero=100.0)
            hdu.writeto(path)
            expected = astropy_data(path, 0)
            assert expected.dtype == np.float32
            return Sample(Source.single(path), expected, "zyx")
        # multi-extension: SCI, ERR, DQ of one exposure -> a container
        sci = volume.astype(np.float32)
        hdus = [
            fits.PrimaryHDU(),
            fits.ImageHDU(sci, name="SCI"),
            fits.ImageHDU(np.sqrt(sci), name="ERR"),
            fits.ImageHDU((volume % 4).astype(np.int16), name="DQ"),
        ]
        fits.HDUList(hdus).writeto(path)
        return Sample(Source.single(path), sci, "zyx", kind="container", data_var="SCI")


def test_shapes_and_dtypes_agree_with_astropy(tmp_path: Path) -> None:
    for name, index in SHIPPED_IMAGES.items():
        path = shipped(name, tmp_path)
        info = FitsReader().describe(Source.single(path))
        with fits.open(path) as hdul:
            hdu = hdul[index]
            assert info.shape == hdu.data.shape, name
            assert np.dtype(info.dtype) == hdu.data.dtype.newbyteorder("="), name


def test_compressed_hdu_is_described(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "c.fits"
    hdu = fits.CompImageHDU(volume, compression_type="RICE_1", tile_shape=(1, 8, 48))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    info = FitsReader().describe(Source.single(path))
    hdus = info.meta["hdus"]
    assert hdus[1]["kind"] == "compressed" and hdus[1]["compression"] == "RICE_1"
    assert info.dtype == "uint16" and info.shape == volume.shape


def test_chunks_hold_whole_tiles(tmp_path: Path) -> None:
    ramp = (np.arange(2400)[:, None] + np.arange(3000)[None, :]).astype(np.int16)  # 14 MB
    path = tmp_path / "tiles.fits"
    hdu = fits.CompImageHDU(ramp, compression_type="RICE_1", tile_shape=(100, 3000))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    arr = FitsReader().open(Source.single(path))
    rows = arr.data.chunks[0]
    assert len(rows) > 1 and rows[0] % 100 == 0  # 8 MB would be 1398 rows: 1400 = 14 tiles
    np.testing.assert_array_equal(arr[1395:1405].values, ramp[1395:1405])


def test_tables_only_are_not_images(tmp_path: Path) -> None:
    reader = FitsReader()
    for name in SHIPPED_NO_IMAGE:
        path = shipped(name, tmp_path)
        assert not reader.guess_can_open(path), name
        assert reader.holds_no_image(path), name
        with pytest.raises(ReaderError, match="no image in this FITS file"):
            reader.describe(Source.single(path))


def test_truncated_header_is_claimed_and_reported(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "t.fits"
    fits.PrimaryHDU(volume).writeto(path)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(path.read_bytes()[:1000])  # inside the first header
    assert FitsReader().guess_can_open(cut) and not FitsReader().holds_no_image(cut)
    with pytest.raises(ReaderError, match="truncated or corrupt FITS header of HDU 0"):
        FitsReader().describe(Source.single(cut))
    short = tmp_path / "short.fits"
    short.write_bytes(path.read_bytes()[: 2880 + 100])
    with pytest.raises(ReaderError, match="truncated file: the data of HDU 0 end at byte"):
        FitsReader().describe(Source.single(short))


def test_spacing_only_from_linear_length_axes(tmp_path: Path, volume: np.ndarray) -> None:
    celestial = fits.Header()
    celestial.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CUNIT1="deg", CUNIT2="deg")
    celestial.update(CDELT1=-2.8e-4, CDELT2=2.8e-4, CRVAL1=150.1, CRVAL2=2.2)
    path = tmp_path / "sky.fits"
    fits.PrimaryHDU(volume[0], header=celestial).writeto(path)
    info = FitsReader().describe(Source.single(path))
    assert info.spacing == {}
    assert info.meta["wcs"]["CTYPE1"] == "RA---TAN" and info.meta["wcs"]["CDELT2"] == 2.8e-4
    spectral = wcs_header(unit="Angstrom", steps=(0.5, 0.5, 1.0))
    spectral["CTYPE3"] = "WAVE"
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(volume.astype(np.float32), header=spectral).writeto(path)
    info = FitsReader().describe(Source.single(path))
    assert set(info.spacing) == {"x", "y"} and info.spacing["x"] == pytest.approx(0.5e-10)
    path = tmp_path / "um.fits"
    fits.PrimaryHDU(volume, header=wcs_header()).writeto(path)
    info = FitsReader().describe(Source.single(path))
    assert info.units == {"x": "µm", "y": "µm", "z": "µm"}
    assert info.origin == {"x": 10.0, "y": 20.0, "z": 30.0}


def test_header_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    hdu = fits.PrimaryHDU(volume[0])
    hdu.header.update(TELESCOP="JWST", INSTRUME="NIRCAM", OBJECT="M16")
    hdu.header["DATE-OBS"] = "2022-07-12T14:00:00.5"
    hdu.header.add_history("flat-fielded")
    hdu.header.add_history("dark-subtracted")
    path = tmp_path / "obs.fits"
    hdu.writeto(path)
    info = FitsReader().describe(Source.single(path))
    assert info.instrument == "JWST NIRCAM"
    assert info.acquired.isoformat() == "2022-07-12T14:00:00.500000"
    assert info.meta["header"]["OBJECT"] == "M16"
    assert info.meta["header"]["HISTORY"] == ["flat-fielded", "dark-subtracted"]
    assert info.modality is None


def test_container_planes_share_the_grid(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "mef.fits"
    sci = volume.astype(np.float32)
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(sci, name="SCI"),
            fits.ImageHDU(np.ones(5, np.float32), name="WAVE"),  # 1-D: listed, not a plane
            fits.ImageHDU(sci * 2, name="ERR"),
        ]
    ).writeto(path)
    info = FitsReader().describe(Source.single(path))
    assert info.kind == "container" and info.primary == "SCI"
    assert sorted(info.arrays) == ["ERR", "SCI", "WAVE"]
    ds = FitsReader().open(Source.single(path))
    assert ds["ERR"].dims == ("z", "y", "x") and ds["WAVE"].dims == ("WAVE_dim0",)
    np.testing.assert_array_equal(ds["ERR"].values, sci * 2)


def test_reads_only_the_chunks_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    data = rng.integers(0, 1000, size=(24, 512, 512), dtype=np.int32)  # 1 MB per plane
    path = tmp_path / "big.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(path)
    keys: list = []
    original = FitsBlocks.__getitem__

    def spy(self: FitsBlocks, key: object) -> np.ndarray:
        keys.append(key)
        return original(self, key)

    monkeypatch.setattr(FitsBlocks, "__getitem__", spy)
    arr = FitsReader().open(Source.single(path))
    assert isinstance(arr.data, da.Array) and arr.data.npartitions > 1
    assert keys == []  # opening reads no pixels
    np.testing.assert_array_equal(arr.isel(z=13).values, data[13])
    assert len(keys) == 1


def test_walk_lists_every_hdu(tmp_path: Path) -> None:
    hdus, problem = walk_hdus(shipped("o4sp040b0_raw.fits", tmp_path))
    assert problem is None
    assert [(h.kind, h.name) for h in hdus] == [
        ("empty", "PRIMARY"),
        ("image", "SCI"),
        ("empty", "ERR"),
        ("empty", "DQ"),
        ("image", "SCI"),
        ("empty", "ERR"),
        ("empty", "DQ"),
    ]


def test_scan_records_images_tables_and_damage(tmp_path: Path, volume: np.ndarray) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    fits.PrimaryHDU(volume).writeto(drive / "plain.fits")
    rice = fits.CompImageHDU(volume.astype(np.int16), compression_type="RICE_1")
    fits.HDUList([fits.PrimaryHDU(), rice]).writeto(drive / "rice.fits.fz")
    fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(volume, name="SCI"), fits.ImageHDU(volume, name="ERR")]
    ).writeto(drive / "mef.fits")
    shipped("tb.fits", drive)  # tables only
    (drive / "broken.fits").write_bytes((drive / "plain.fits").read_bytes()[:4000])
    (drive / "junk.fits").write_bytes(np.random.default_rng(0).bytes(3000))
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    rows = index_rows(index).set_index("name")
    assert len(rows) == 6
    for name in ("plain.fits", "rice.fits.fz", "mef.fits"):
        row = rows.loc[name]
        assert row["status"] == "ok" and row["reader"] == "fits", (name, row["error"])
        assert tuple(row["shape"]) == volume.shape
    assert rows.loc["mef.fits", "kind"] == "container"
    table = rows.loc["tb.fits"]
    assert table["kind"] == "file" and table["status"] == "ok" and pd.isna(table["reader"])
    for name, cause in (("broken.fits", "truncated file"), ("junk.fits", "not a FITS file")):
        row = rows.loc[name]
        assert row["status"] == "failed" and str(drive / name) in row["error"], row["error"]
        assert cause in row["error"]
    cat = open_catalog(index)
    arr = cat[rows.loc["rice.fits.fz", "id"]].read()
    assert isinstance(arr.data, da.Array)
    np.testing.assert_array_equal(arr.values, volume.astype(np.int16))
    ds = cat[rows.loc["mef.fits", "id"]].read()
    assert isinstance(ds["ERR"].data, da.Array)
    np.testing.assert_array_equal(ds["SCI"].values, volume)
    assert guess_reader(drive / "tb.fits") is None


@pytest.mark.parametrize(
    ("bitpix", "cards"),
    [
        (16, {}),
        (16, {"BZERO": 32768}),
        (32, {"BZERO": 2147483648}),
        (8, {"BZERO": -128}),
        (16, {"BSCALE": 0.5}),
        (32, {"BZERO": 10.0}),
        (16, {"BLANK": -1}),
        (-32, {"BSCALE": 2.0, "BZERO": 1.0}),
        (-64, {}),
    ],
)
def test_image_dtype_from_the_header_is_astropys(tmp_path: Path, bitpix: int, cards: dict) -> None:
    """describe takes an uncompressed HDU's dtype from its header, without reading a
    pixel: the same dtype astropy's ``section`` returns for the pixels."""
    from catalog.readers.fits import BITPIX_DTYPES, _image_dtype

    raw = np.arange(12, dtype=np.dtype(BITPIX_DTYPES[bitpix]).newbyteorder(">"))
    hdu = fits.PrimaryHDU(raw.reshape(3, 4), do_not_scale_image_data=True)
    for key, value in cards.items():
        hdu.header[key] = value
    path = tmp_path / "scaled.fits"
    hdu.writeto(path)
    with warnings.catch_warnings(), fits.open(path, memmap=False) as hdul:
        warnings.simplefilter("ignore")
        want = np.asarray(hdul[0].section[0:1, 0:1]).dtype
    assert _image_dtype(fits.getheader(path)) == want.newbyteorder("=")
    assert FitsReader().describe(Source.single(path)).dtype == str(want.newbyteorder("="))
