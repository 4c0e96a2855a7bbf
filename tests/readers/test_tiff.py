"""TIFF reader: plain, multi-page, BigTIFF, tiled, pyramidal, ImageJ and OME-TIFF files,
all written by tifffile."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.tiff import TiffReader
from catalog.testing import ReaderContract, Sample

VARIANTS = ["plain-cm", "multipage", "bigtiff-tiled", "rgb", "imagej", "ome-pyramid", "subifds"]


def write_pyramid(path: Path, image: np.ndarray, *, ome: bool, metadata: dict | None) -> None:
    """Level 0 with two SubIFD levels, each half the size of the one before."""
    with tifffile.TiffWriter(path, ome=ome) as tw:
        tw.write(image, subifds=2, tile=(16, 16), compression="zlib", metadata=metadata)
        for k in (2, 4):
            tw.write(image[..., ::k, ::k], subfiletype=1, tile=(16, 16), compression="zlib")


class TestTiffContract(ReaderContract):
    reader_class = TiffReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        path = tmp_path / f"{kind}.tif"
        if kind == "plain-cm":  # 2-D, 2 µm pixels stated in pixels per centimetre
            tifffile.imwrite(path, volume[6], resolution=(5000, 5000), resolutionunit="CENTIMETER")
            return Sample(Source.single(path), volume[6], "yx", spacing={"x": 2e-6, "y": 2e-6})
        if kind == "multipage":
            tifffile.imwrite(path, volume, metadata=None)
            return Sample(Source.single(path), volume, "zyx")
        if kind == "bigtiff-tiled":
            tifffile.imwrite(path, volume, bigtiff=True, tile=(16, 16), compression="zlib")
            return Sample(Source.single(path), volume, "zyx")
        if kind == "rgb":
            rgb = (volume[6:9] % 256).astype(np.uint8).transpose(1, 2, 0)
            tifffile.imwrite(path, rgb, photometric="rgb")
            return Sample(Source.single(path), rgb.transpose(2, 0, 1), "cyx")
        if kind == "imagej":  # t=2, z=6, c=2 hyperstack, 0.25 µm pixels, 1.5 µm slices
            data = np.stack([volume[:6], volume[6:]])[:, :, None].repeat(2, axis=2)
            data[:, :, 1] //= 3
            tifffile.imwrite(
                path,
                data,
                imagej=True,
                resolution=(4, 4),
                metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "um", "finterval": 2.0},
            )
            expected = data.transpose(0, 2, 1, 3, 4)
            spacing = {"x": 2.5e-7, "y": 2.5e-7, "z": 1.5e-6}
            return Sample(Source.single(path), expected, "tczyx", spacing=spacing)
        if kind == "ome-pyramid":
            data = np.stack([volume, volume // 2])
            meta = {"axes": "CZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
            meta.update(PhysicalSizeZ=2.0, Channel={"Name": ["DAPI", "GFP"]})
            path = tmp_path / "cells.ome.tif"
            write_pyramid(path, data, ome=True, metadata=meta)
            spacing = {"x": 5e-7, "y": 5e-7, "z": 2e-6}
            return Sample(
                Source.single(path), data, "czyx", spacing=spacing, levels=3, modality="LM"
            )
        write_pyramid(path, volume[6], ome=False, metadata=None)
        return Sample(Source.single(path), volume[6], "yx", levels=3)


# -- detection -------------------------------------------------------------------------


@pytest.mark.parametrize("header", [b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"])
def test_detects_every_tiff_header(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "x.dat"
    path.write_bytes(header + bytes(60))
    assert TiffReader().guess_can_open(path)


def test_png_named_tif_is_rejected(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "fake.tif"
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path, format="PNG")
    reader = TiffReader()
    assert not reader.guess_can_open(path)
    with pytest.raises(ReaderError, match="not a TIFF"):
        reader.describe(Source.single(path))


def test_big_endian_bigtiff_reads(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "be.tif"
    tifffile.imwrite(path, volume, bigtiff=True, byteorder=">")
    arr = TiffReader().open(Source.single(path))
    np.testing.assert_array_equal(arr.values, volume)
    assert arr.attrs["meta"]["byteorder"] == "big" and arr.attrs["meta"]["bigtiff"] is True


# -- metadata --------------------------------------------------------------------------

OME_XML = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" Creator="test">
 <Instrument ID="Instrument:0">
  <Microscope Manufacturer="Zeiss" Model="LSM 980" Type="Inverted"/>
  <Objective ID="Objective:0" Model="Plan-Apochromat 63x/1.40 Oil" NominalMagnification="63"
   LensNA="1.4" Immersion="Oil"/>
 </Instrument>
 <Image ID="Image:0" Name="cells">
  <AcquisitionDate>2023-04-05T06:07:08</AcquisitionDate>
  <Description>two channels</Description>
  <InstrumentRef ID="Instrument:0"/>
  <ObjectiveSettings ID="Objective:0"/>
  <Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" SizeX="48" SizeY="40" SizeZ="12"
   SizeC="2" SizeT="1" PhysicalSizeX="120" PhysicalSizeXUnit="nm" PhysicalSizeY="120"
   PhysicalSizeYUnit="nm" PhysicalSizeZ="0.3">
   <Channel ID="Channel:0:0" Name="DAPI" SamplesPerPixel="1" EmissionWavelength="461"/>
   <Channel ID="Channel:0:1" Name="Alexa 488" SamplesPerPixel="1"/>
   <TiffData/>
  </Pixels>
 </Image>
 {annotations}
</OME>"""


def write_ome(path: Path, data: np.ndarray, annotations: str = "") -> None:
    xml = OME_XML.replace("{annotations}", annotations)
    tifffile.imwrite(path, data, description=xml, metadata=None)


def test_ome_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "cells.ome.tif"
    data = np.stack([volume, volume + 1])  # XYZCT: pages run over z first, then c
    write_ome(path, data)
    info = TiffReader().describe(Source.single(path))
    assert info.axes == "czyx" and info.shape == (2, 12, 40, 48)
    assert info.spacing == pytest.approx({"x": 1.2e-7, "y": 1.2e-7, "z": 3e-7})
    assert info.units == {"x": "nm", "y": "nm", "z": "µm"}  # PhysicalSizeZUnit defaults to µm
    assert info.channels == ["DAPI", "Alexa 488"]
    assert info.acquired == dt.datetime(2023, 4, 5, 6, 7, 8)
    assert info.instrument == "Zeiss LSM 980"
    assert info.modality == "LM"
    ome = info.meta["ome"]
    assert ome["instrument"]["objectives"][0]["NominalMagnification"] == "63"
    assert ome["channels"][0]["EmissionWavelength"] == "461"
    assert ome["description"] == "two channels"
    assert "ImageDescription" not in info.meta["tags"]
    arr = TiffReader().open(Source.single(path))
    assert list(arr.coords["c"].values) == ["DAPI", "Alexa 488"]
    np.testing.assert_array_equal(arr.sel(c="Alexa 488").values, volume + 1)


def test_ome_modality_annotation(tmp_path: Path, volume: np.ndarray) -> None:
    ann = (
        '<StructuredAnnotations><MapAnnotation ID="Annotation:0"><Value>'
        '<M K="modality">EM</M></Value></MapAnnotation></StructuredAnnotations>'
    )
    path = tmp_path / "em.ome.tif"
    write_ome(path, np.stack([volume, volume]), annotations=ann)
    info = TiffReader().describe(Source.single(path))
    assert info.modality == "EM"
    assert info.meta["ome"]["annotations"] == {"modality": "EM"}


def test_broken_ome_xml_reads_as_plain_tiff(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "broken.ome.tif"
    broken = OME_XML.replace("</Description>", "").replace("{annotations}", "")
    tifffile.imwrite(path, volume[0], description=broken, metadata=None)
    info = TiffReader().describe(Source.single(path))
    assert info.axes == "yx" and "ome" not in info.meta
    assert any("OME-XML" in w for w in info.warnings)
    np.testing.assert_array_equal(TiffReader().open(Source.single(path)).values, volume[0])


def test_imagej_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(
        path,
        volume,
        imagej=True,
        resolution=(2, 2),
        metadata={"axes": "ZYX", "spacing": 3.0, "unit": "micron", "Info": "sample 7"},
    )
    info = TiffReader().describe(Source.single(path))
    assert info.axes == "zyx"
    assert info.spacing == pytest.approx({"x": 5e-7, "y": 5e-7, "z": 3e-6})
    assert info.units["z"] == "µm"
    assert info.meta["format"] == "ImageJ TIFF"
    assert info.meta["imagej"]["Info"] == "sample 7"


def test_tags_instrument_and_date(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "scope.tif"
    tifffile.imwrite(
        path,
        volume[0],
        description="exposure 20 ms",
        software="ScopeSoft 2.1",
        datetime="2021:02:03 04:05:06",
        resolution=(300, 300),  # inch DPI: not a physical pixel size
        resolutionunit="INCH",
        extratags=[(271, "s", 0, "ACME", True), (272, "s", 0, "Imager 9", True)],
        metadata=None,
    )
    info = TiffReader().describe(Source.single(path))
    tags = info.meta["tags"]
    assert tags["Software"] == "ScopeSoft 2.1"
    assert tags["ImageDescription"] == "exposure 20 ms"
    assert info.acquired == dt.datetime(2021, 2, 3, 4, 5, 6)
    assert info.instrument == "ACME Imager 9"
    assert info.spacing == {} and info.meta["resolution"]["unit"] == "INCH"


def test_fei_sem_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    header = (
        "[User]\nDate=03/15/2023\nTime=02:10:33 PM\n[System]\nSystemType=Helios G4\n"
        "[Scan]\nPixelWidth=2.5e-09\nPixelHeight=2.5e-09\n"
    )
    path = tmp_path / "sem.tif"
    tifffile.imwrite(path, volume[0], extratags=[(34682, "s", 0, header, True)], metadata=None)
    info = TiffReader().describe(Source.single(path))
    assert info.modality == "EM" and info.instrument == "Helios G4"
    assert info.spacing == pytest.approx({"x": 2.5e-9, "y": 2.5e-9})
    assert info.acquired == dt.datetime(2023, 3, 15, 14, 10, 33)


# -- pyramids, laziness, damage --------------------------------------------------------


@pytest.mark.parametrize("ome", [True, False])
def test_pyramid_levels_hold_the_reduced_images(
    tmp_path: Path, volume: np.ndarray, ome: bool
) -> None:
    path = tmp_path / ("pyr.ome.tif" if ome else "pyr.tif")
    image = volume if ome else volume[0]  # tifffile has levels for 3-D pyramids in OME only
    meta = {"axes": "ZYX"[-image.ndim :], "PhysicalSizeX": 1.0, "PhysicalSizeY": 1.0}
    write_pyramid(path, image, ome=ome, metadata=meta)
    reader = TiffReader()
    info = reader.describe(Source.single(path))
    assert info.levels == [image[..., ::k, ::k].shape for k in (1, 2, 4)]
    for k, step in enumerate((1, 2, 4)):
        arr = reader.open(Source.single(path), level=k)
        np.testing.assert_array_equal(arr.values, image[..., ::step, ::step])
        if ome:  # coordinates stay physical (µm) at every level
            assert float(arr.coords["x"][1] - arr.coords["x"][0]) == step


def test_open_of_a_big_file_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, shape=(256, 1024, 1024), dtype="uint16")  # 512 MB, sparse
    reader = TiffReader()
    reader.open(Source.single(path))  # warm up the dask and xarray imports
    start = time.perf_counter()
    arr = reader.open(Source.single(path))
    assert time.perf_counter() - start < 1.0
    assert arr.data.npartitions > 1
    assert int(arr[100, 0, 0].values) == 0


def test_open_result_pickles(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, volume, tile=(16, 16))
    arr = TiffReader().open(Source.single(path))
    arr[0, 0, 0].values  # noqa: B018 (the file is open now; pickling must still work)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, volume)


def test_corrupt_pixels_fail_at_compute_naming_the_file(
    tmp_path: Path, volume: np.ndarray
) -> None:
    path = tmp_path / "damaged.tif"
    tifffile.imwrite(path, volume[0], tile=(16, 16), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        tiles = list(zip(page.dataoffsets, page.databytecounts))
    raw = bytearray(path.read_bytes())
    for offset, count in tiles:
        raw[offset : offset + count] = b"\xff" * count  # headers intact, tiles garbage
    path.write_bytes(bytes(raw))
    reader = TiffReader()
    info = reader.describe(Source.single(path))  # headers only: still fine
    assert info.shape == (40, 48)
    arr = reader.open(Source.single(path))
    with pytest.raises(ReaderError, match=r"damaged\.tif"):
        arr.values  # noqa: B018


def test_truncated_stack_is_reported_at_describe(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, volume, metadata=None)
    path.write_bytes(path.read_bytes()[:30000])
    with pytest.raises(ReaderError, match="truncated"):
        TiffReader().describe(Source.single(path))


def test_missing_series_and_level(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, volume)
    source = Source(path=path, files=(path,), options={"series": 3})
    with pytest.raises(ReaderError, match="series 3"):
        TiffReader().describe(source)
    with pytest.raises(ReaderError, match="level 1"):
        TiffReader().open(Source.single(path), level=1)
