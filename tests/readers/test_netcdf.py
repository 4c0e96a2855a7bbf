"""NetCDF reader: NetCDF4 and NetCDF3 files written by netCDF4, scipy and xarray."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest
import scipy.io
import xarray as xr

from catalog.errors import ReaderError
from catalog.readers import Source, get_reader
from catalog.readers.netcdf import NetCDFReader
from catalog.testing import ReaderContract, Sample


def write_netcdf4(path: Path, volume: np.ndarray, fmt: str = "NETCDF4") -> None:
    """A reconstruction with coordinate variables in µm, written by netCDF4."""
    with netCDF4.Dataset(path, "w", format=fmt) as nc:
        nc.title = "sandstone reconstruction"
        nc.instrument = "ZEISS Versa 620"
        nc.date_created = "2024-02-03T04:05:06"
        nc.modality = "CT"
        for name, n in zip(("depth", "row", "col"), volume.shape):
            nc.createDimension(name, n)
        for name, step, unit in (("depth", 2.0, "um"), ("row", 0.5, "um"), ("col", 0.5, "micron")):
            var = nc.createVariable(name, "f8", (name,))
            var.units = unit
            var[:] = np.arange(len(nc.dimensions[name])) * step
        extra = {"zlib": True, "chunksizes": (1, *volume.shape[1:])} if fmt == "NETCDF4" else {}
        dens = nc.createVariable("density", volume.dtype, ("depth", "row", "col"), **extra)
        dens.long_name = "attenuation"
        dens[:] = volume
        mask = nc.createVariable("mask", "i1", ("row", "col"))
        mask[:] = (volume[0] > 1000).astype(np.int8)


VARIANTS = ["netcdf4", "netcdf3-classic", "scipy", "xarray-h5netcdf"]


class TestNetCDFContract(ReaderContract):
    reader_class = NetCDFReader

    @pytest.fixture(params=VARIANTS)
    def sample(
        self,
        request: pytest.FixtureRequest,
        tmp_path: Path,
        volume: np.ndarray,
        rng: np.random.Generator,
    ) -> Sample:
        kind = request.param
        spacing = {"z": 2e-6, "y": 0.5e-6, "x": 0.5e-6}
        if kind == "netcdf4":
            path = tmp_path / "recon.nc"
            write_netcdf4(path, volume)
            return Sample(
                Source.single(path),
                volume,
                "zyx",
                spacing,
                modality="CT",
                kind="container",
                data_var="density",
            )
        if kind == "netcdf3-classic":
            path = tmp_path / "recon3.nc"
            vol = volume.astype(np.int16)  # NetCDF3 has no unsigned 16-bit type
            write_netcdf4(path, vol, fmt="NETCDF3_CLASSIC")
            return Sample(
                Source.single(path),
                vol,
                "zyx",
                spacing,
                modality="CT",
                kind="container",
                data_var="density",
            )
        if kind == "scipy":
            path = tmp_path / "stack.cdf"
            vol = volume.astype(np.float32)
            nc = scipy.io.netcdf_file(path, "w", version=2)
            for name, n in zip("xyz", vol.shape[::-1]):
                nc.createDimension(name, n)
            x = nc.createVariable("x", "f8", ("x",))
            x[:] = np.arange(vol.shape[2]) * 0.01
            x.units = "mm"
            var = nc.createVariable("intensity", "f4", ("x", "y", "z"))  # stored x-major
            var[:] = vol.transpose(2, 1, 0)
            nc.close()
            return Sample(
                Source.single(path),
                vol,
                "zyx",
                {"x": 1e-5},
                kind="container",
                data_var="intensity",
            )
        path = tmp_path / "movie.nc4"
        frames = rng.random((5, 40, 48))
        xr.Dataset(
            {"frames": (("time", "height", "width"), frames)},
            attrs={"history": "written by xarray"},
        ).to_netcdf(path, engine="h5netcdf")
        return Sample(Source.single(path), frames, "tyx", kind="container", data_var="frames")


# -- detection ---------------------------------------------------------------------------


def test_detection(tmp_path: Path, volume: np.ndarray) -> None:
    reader = NetCDFReader()
    renamed = tmp_path / "recon.h5"  # NetCDF4 under an HDF5 name: _NCProperties decides
    write_netcdf4(renamed, volume[:2])
    assert reader.guess_can_open(renamed)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["a"] = np.zeros((4, 4))
    assert not reader.guess_can_open(plain)
    named = tmp_path / "plain.nc"  # HDF5 with a NetCDF suffix
    named.write_bytes(plain.read_bytes())
    assert reader.guess_can_open(named)
    text = tmp_path / "notes.nc"
    text.write_text("CDL is text, not NetCDF\n")
    assert not reader.guess_can_open(text)
    classic = tmp_path / "classic.dat"  # NetCDF3 signature under any name
    write_netcdf4(classic, volume[:2].astype(np.int16), fmt="NETCDF3_CLASSIC")
    assert reader.guess_can_open(classic)


def test_registry_tries_netcdf_before_hdf5(tmp_path: Path, volume: np.ndarray) -> None:
    from catalog.readers import guess_reader, list_readers

    path = tmp_path / "recon.nc"
    write_netcdf4(path, volume[:2])
    names = [n for n in list_readers() if n in ("netcdf", "hdf5")]
    assert names == ["netcdf", "hdf5"]
    assert get_reader("hdf5").guess_can_open(path)  # a NetCDF4 file is HDF5 too
    assert guess_reader(path, [get_reader(n) for n in names]).name == "netcdf"


# -- metadata ------------------------------------------------------------------------------


def test_metadata_and_dims(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "recon.nc"
    write_netcdf4(path, volume)
    info = NetCDFReader().describe(Source.single(path))
    assert info.primary == "density" and info.kind == "container"
    assert info.instrument == "ZEISS Versa 620"
    assert info.acquired == dt.datetime(2024, 2, 3, 4, 5, 6)
    assert info.units == {"z": "µm", "y": "µm", "x": "µm"}
    assert info.meta["format"] == "NetCDF4"
    assert info.meta["attrs"]["title"] == "sandstone reconstruction"
    assert info.meta["dims"] == {"depth": "z", "row": "y", "col": "x"}
    assert info.arrays["mask"].dims == ("y", "x")
    assert info.meta["variables"]["density"]["attrs"]["long_name"] == "attenuation"
    ds = NetCDFReader().open(Source.single(path))
    assert ds["mask"].dims == ("y", "x") and ds["z"].attrs["units"] == "um"
    np.testing.assert_array_equal(ds["mask"].values, volume[0] > 1000)
    assert ds.attrs["title"] == "sandstone reconstruction" and ds.attrs["primary"] == "density"


def test_cdf5_opens_with_netcdf4(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "big_data.nc"
    write_netcdf4(path, volume.astype(np.int16), fmt="NETCDF3_64BIT_DATA")
    assert path.read_bytes()[:4] == b"CDF\x05"
    info = NetCDFReader().describe(Source.single(path))
    assert info.meta["format"] == "NetCDF3 64-bit data (CDF5)"
    ds = NetCDFReader().open(Source.single(path))
    np.testing.assert_array_equal(ds["density"].values, volume.astype(np.int16))


def test_swapped_and_clashing_dim_names(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "odd.nc"
    img = rng.random((20, 30))
    xr.Dataset(
        {"img": (("x", "b"), img), "y": (("n",), np.arange(3.0))}  # "x" is really rows
    ).to_netcdf(path, engine="h5netcdf")
    reader = NetCDFReader()
    info = reader.describe(Source.single(path))
    assert info.axes == "yx" and info.shape == (20, 30)
    ds = reader.open(Source.single(path))
    assert ds["img"].dims == ("y", "x")
    np.testing.assert_array_equal(ds["img"].values, img)
    np.testing.assert_array_equal(ds["y_orig"].values, np.arange(3.0))


# -- laziness and errors -------------------------------------------------------------------


def test_open_of_a_big_file_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "big.nc"
    with netCDF4.Dataset(path, "w") as nc:  # 64 GiB declared, nothing written
        for name in ("z", "y", "x"):
            nc.createDimension(name, 4096)
        nc.createVariable("vol", "u1", ("z", "y", "x"), chunksizes=(1, 512, 512))
    assert path.stat().st_size < 100_000
    start = time.perf_counter()
    info = NetCDFReader().describe(Source.single(path))
    ds = NetCDFReader().open(Source.single(path))
    assert time.perf_counter() - start < 2
    assert info.shape == (4096, 4096, 4096)
    assert ds["vol"].data.chunksize == (1, 4096, 4096)
    assert ds["vol"][3, 2, 1].values.size == 1


def test_corrupt_chunk_fails_at_compute_with_reader_error(
    tmp_path: Path, volume: np.ndarray
) -> None:
    path = tmp_path / "bad.nc"
    write_netcdf4(path, volume)
    with h5py.File(path, "r") as f:
        chunk = f["density"].id.get_chunk_info(5)
    with open(path, "r+b") as fh:
        fh.seek(chunk.byte_offset)
        fh.write(b"\xff" * chunk.size)
    ds = NetCDFReader().open(Source.single(path))
    np.testing.assert_array_equal(ds["density"][0].values, volume[0])
    with pytest.raises(ReaderError, match=str(path)):
        ds["density"].values  # noqa: B018


def test_opened_dataset_pickles(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "recon.nc"
    write_netcdf4(path, volume)
    ds = pickle.loads(pickle.dumps(NetCDFReader().open(Source.single(path))))
    np.testing.assert_array_equal(ds["density"].values, volume)


def test_a_file_without_data_variables_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dims_only.nc"
    xr.Dataset(coords={"x": np.arange(4)}).to_netcdf(path, engine="scipy")
    with pytest.raises(ReaderError, match="no numeric data variable"):
        NetCDFReader().describe(Source.single(path))
