"""A small synthetic lab drive, written by each format's own library.

``voxcat demo`` writes it (once), scans it, prints a summary and opens the demo notebook
(package data ``catalog/demo_notebooks/demo.ipynb``, the one source of truth;
``notebooks/demo.ipynb`` links to it) in JupyterLab. It holds what a real
drive holds: a CT reconstruction as a folder of TIFF slices with its scanner log, the
raw projections as DXchange HDF5, an OME-TIFF confocal stack, an OME-Zarr multiscale
image, a NetCDF volume, a DICOM series, NIfTI/MRC/NRRD/MetaImage files, derived and
segmented results, and junk (notes, a spreadsheet, an empty file, a truncated TIFF, a
PNG named .tif).

>>> from catalog.demo import write_demo_drive
>>> drive = write_demo_drive("/tmp/voxcat-demo/drive")      # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np

SEED = 20261122


def _porous_rock(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """A cylinder of 'rock' with round pores and grains, uint16 like a CT reconstruction."""
    nz, ny, nx = shape
    z, y, x = np.ogrid[:nz, :ny, :nx]
    cyl = (y - ny / 2) ** 2 + (x - nx / 2) ** 2 < (0.42 * min(ny, nx)) ** 2
    cyl = np.broadcast_to(cyl, shape)
    vol = np.where(cyl, 9000.0, 1200.0)
    for _ in range(40):
        cz, cy, cx = rng.uniform(0, nz), rng.uniform(0, ny), rng.uniform(0, nx)
        r = rng.uniform(2, max(3, min(ny, nx) / 10))
        pore = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < r**2
        vol[pore & cyl] = rng.choice([2500.0, 16000.0])
    vol += rng.normal(0, 400, size=vol.shape)
    return np.clip(vol, 0, 65535).astype(np.uint16)


def _cells(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Blobby fluorescent 'nuclei' (z, c, y, x) uint16."""
    nz, nc, ny, nx = shape
    z, y, x = np.ogrid[:nz, :ny, :nx]
    out = rng.poisson(100, size=shape).astype(np.float64)
    for _ in range(12):
        cz, cy, cx = rng.uniform(0, nz), rng.uniform(0, ny), rng.uniform(0, nx)
        blob = np.exp(-((z - cz) ** 2 / 8 + (y - cy) ** 2 / 60 + (x - cx) ** 2 / 60))
        out[:, rng.integers(nc)] += 3000 * blob
    return np.clip(out, 0, 65535).astype(np.uint16)


def write_demo_drive(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write the sample drive under ``path`` (skipped if it is already there)."""
    import h5py
    import tifffile

    root = Path(path)
    marker = root.with_name(f".{root.name}-complete")  # outside the tree that is scanned
    if marker.exists() and not force:
        return root
    rng = np.random.default_rng(SEED)
    root.mkdir(parents=True, exist_ok=True)

    # 1. CT: raw projections (DXchange HDF5) and a reconstruction as TIFF slices
    ct = root / "2024" / "rocks" / "sandstone_01"
    (ct / "raw").mkdir(parents=True, exist_ok=True)
    with h5py.File(ct / "raw" / "sandstone_01_projections.h5", "w") as f:
        n_proj = 90
        f.create_dataset(
            "/exchange/data",
            data=rng.integers(0, 4000, (n_proj, 64, 96), dtype=np.uint16),
            chunks=(1, 64, 96),
        )
        f.create_dataset("/exchange/data_white", data=np.full((5, 64, 96), 4000, np.uint16))
        f.create_dataset("/exchange/data_dark", data=np.full((5, 64, 96), 100, np.uint16))
        f.create_dataset("/exchange/theta", data=np.linspace(0, 180, n_proj))
        d = f.create_dataset("/measurement/instrument/detector/pixel_size_x", data=6.5)
        d.attrs["units"] = "um"
        d = f.create_dataset("/measurement/instrument/detector/pixel_size_y", data=6.5)
        d.attrs["units"] = "um"
        f["/measurement/instrument/name"] = "lab microCT"
        f["/measurement/sample/name"] = "sandstone_01"
    rec = ct / "rec"
    rec.mkdir(exist_ok=True)
    vol = _porous_rock(rng, (48, 96, 96))
    for i, sl in enumerate(vol):
        tifffile.imwrite(
            rec / f"sandstone_01_rec{i:05d}.tif",
            sl,
            resolution=(1e4 / 6.5, 1e4 / 6.5),
            resolutionunit="CENTIMETER",
        )
    (rec / "sandstone_01_rec.log").write_text(
        "[System]\nScanner=SkyScan1272\n[Reconstruction]\nPixel Size (um)=6.5\nResult File Type=TIF\n"
    )
    seg = ct / "seg"
    seg.mkdir(exist_ok=True)
    labels = np.digitize(vol, [2000, 6000, 12000]).astype(np.uint8)
    tifffile.imwrite(
        seg / "sandstone_01_pores_labels.tif",
        labels,
        imagej=True,
        resolution=(1 / 6.5, 1 / 6.5),
        metadata={"spacing": 6.5, "unit": "um", "axes": "ZYX"},
    )

    # 2. Light microscopy: OME-TIFF confocal stack and an OME-Zarr pyramid
    lm = root / "2025" / "cells" / "hela_03"
    lm.mkdir(parents=True, exist_ok=True)
    cells = _cells(rng, (16, 2, 128, 128))
    tifffile.imwrite(
        lm / "hela_03_confocal.ome.tif",
        cells,
        ome=True,
        metadata={
            "axes": "ZCYX",
            "PhysicalSizeX": 0.2,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": 0.2,
            "PhysicalSizeYUnit": "µm",
            "PhysicalSizeZ": 0.5,
            "PhysicalSizeZUnit": "µm",
            "Channel": {"Name": ["DAPI", "GFP"]},
        },
    )
    _write_ome_zarr(lm / "hela_03_tilescan.ome.zarr", _cells(rng, (1, 2, 512, 512))[0])

    # 3. A NetCDF volume and a processed result
    import xarray as xr

    proc = root / "2024" / "rocks" / "sandstone_01" / "processed"
    proc.mkdir(exist_ok=True)
    filt = xr.DataArray(
        vol[:, ::2, ::2].astype(np.float32),
        dims=("z", "y", "x"),
        coords={
            "z": ("z", np.arange(48) * 6.5, {"units": "um"}),
            "y": ("y", np.arange(48) * 13.0, {"units": "um"}),
            "x": ("x", np.arange(48) * 13.0, {"units": "um"}),
        },
        name="attenuation",
    )
    filt.to_dataset().assign_attrs(
        title="median-filtered, 2x binned", history="median(3)"
    ).to_netcdf(proc / "sandstone_01_filtered.nc", engine="h5netcdf")

    # 4. Medical and EM formats
    _write_dicom_series(root / "2023" / "phantom_ct" / "series_001", rng)
    _write_small_formats(root / "2023" / "misc", rng)

    # 5. Junk, as found on every old drive
    junk = root / "misc"
    junk.mkdir(exist_ok=True)
    (junk / "notes.txt").write_text("scan of sandstone_01 done on the old scanner, see log\n")
    (junk / "results.csv").write_text("sample,porosity\nsandstone_01,0.21\n")
    (junk / "empty.tif").write_bytes(b"")
    good = junk / "_full.tif"
    tifffile.imwrite(good, vol[:4], photometric="minisblack")
    (junk / "truncated.tif").write_bytes(good.read_bytes()[:3000])
    good.unlink()
    from PIL import Image

    Image.fromarray((vol[24] >> 8).astype(np.uint8)).save(
        junk / "actually_a_png.tif", format="PNG"
    )
    marker.write_text(dt.datetime.now().isoformat())
    return root


def _write_ome_zarr(path: Path, image: np.ndarray) -> None:
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    store = parse_url(str(path), mode="w").store
    group = zarr.group(store=store)
    write_image(
        image,
        group=group,
        axes="cyx",
        scale_factors=[2, 4],  # three levels are enough here
        scale={"c": 1.0, "y": 0.65, "x": 0.65},
        axes_units={"y": "micrometer", "x": "micrometer"},
    )


def _write_dicom_series(folder: Path, rng: np.random.Generator) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series, study = generate_uid(), generate_uid()
    for i in range(12):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "CT", "Acme", "Phantom 64"
        ds.PatientName, ds.PatientID = "Demo^Phantom", "DEMO-0001"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SeriesDescription, ds.StudyDate, ds.SeriesDate = "water phantom", "20230512", "20230512"
        ds.SeriesNumber, ds.InstanceNumber = 1, i + 1
        ds.ImagePositionPatient = [0.0, 0.0, 2.5 * i]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing, ds.SliceThickness = [0.5, 0.5], 2.5
        ds.Rows, ds.Columns = 64, 64
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        yy, xx = np.mgrid[:64, :64]
        img = np.where((yy - 32) ** 2 + (xx - 32) ** 2 < 26**2, 1024, 0) + rng.integers(
            0, 20, (64, 64)
        )
        ds.PixelData = img.astype(np.int16).tobytes()
        ds.save_as(folder / f"IM{i + 1:04d}", enforce_file_format=True)


def _write_small_formats(folder: Path, rng: np.random.Generator) -> None:
    import mrcfile
    import nibabel as nib
    import nrrd
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    vol = rng.normal(100, 10, (20, 32, 40)).astype(np.float32)
    img = nib.Nifti1Image(
        np.ascontiguousarray(vol.transpose(2, 1, 0)), np.diag([0.8, 0.8, 1.2, 1])
    )
    img.header.set_xyzt_units("mm")
    nib.save(img, folder / "brain_phantom_T1.nii.gz")
    with mrcfile.new(folder / "ribosome_tomogram.mrc", overwrite=True) as m:
        m.set_data(vol.astype(np.float32))
        m.voxel_size = 3.4
    nrrd.write(
        str(folder / "segmentation_mask.nrrd"),
        (vol > 100).astype(np.uint8).transpose(2, 1, 0),
        {"spacings": [0.5, 0.5, 0.5], "space units": ["mm", "mm", "mm"]},
    )
    itk = sitk.GetImageFromArray(vol.astype(np.int16))
    itk.SetSpacing((0.3, 0.3, 0.6))
    sitk.WriteImage(itk, str(folder / "liver_ct.mhd"))


def run_demo(
    folder: str | os.PathLike[str] = "voxcat-demo",
    *,
    index: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Path:
    """Write the sample drive under ``folder/drive``, scan it into
    ``folder/voxcat.duckdb`` (or ``index``) and print a summary. Returns the index path.

    The index has the default name, so everything started in ``folder`` finds it by
    the one rule (``$VOXCAT_INDEX``, else ``./voxcat.duckdb``): ``open_catalog()``, the
    CLI, the demo notebook and the JupyterLab sidebar."""
    from .scanner import scan
    from .summary import summary_text

    folder = Path(folder)
    drive = write_demo_drive(folder / "drive", force=force)
    index_path = Path(index) if index else folder / "voxcat.duckdb"
    report = scan(drive, index_path, pattern="{year}/{project}/{sample}")
    print(report)
    print()
    print(summary_text(index_path))
    print(f"\nIndex: {index_path}   (try: voxcat summary --index {index_path} --failed)")
    return index_path


def install_demo_notebook(folder: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Copy the demo notebook into ``folder``; a copy already there (perhaps edited) is
    kept unless ``force``. Returns its path."""
    target = Path(folder) / "demo.ipynb"
    if force or not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with as_file(files(__package__) / "demo_notebooks" / "demo.ipynb") as source:
            shutil.copyfile(source, target)
    return target


def lab_command(
    notebook: str | os.PathLike[str],
    index: str | os.PathLike[str],
    *,
    extra_args: Sequence[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that open ``notebook`` in JupyterLab, serving
    its folder, with ``VOXCAT_INDEX`` set to ``index`` for the server and its kernels."""
    nb = Path(notebook).resolve()
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={nb.parent}",
        "--VoxcatExtension.open_sidebar=True",  # the catalogue sidebar of jupyter_ext
        str(nb),
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers; the server still listens on localhost
    env = {**os.environ, "VOXCAT_INDEX": str(Path(index).resolve())}
    return [*argv, *extra_args], env


def how_to_open(notebook: str | os.PathLike[str], index: str | os.PathLike[str]) -> str:
    """The shell command that opens the demo notebook later, as a hint to print."""
    nb = Path(notebook)
    here = shlex.quote(str(nb.parent))
    if Path(index).resolve() == (nb.parent / "voxcat.duckdb").resolve():
        return f"cd {here} && jupyter lab {shlex.quote(nb.name)}"  # found by the default rule
    env = shlex.quote(str(Path(index).resolve()))
    return f"cd {here} && VOXCAT_INDEX={env} jupyter lab {shlex.quote(nb.name)}"


def open_lab(notebook: str | os.PathLike[str], index: str | os.PathLike[str]) -> int:
    """Run JupyterLab on ``notebook`` until it is shut down; returns its exit status.

    On POSIX the process becomes JupyterLab (exec), so Ctrl-C, SIGTERM and SIGHUP reach
    the server itself and no orphan is left behind.
    """
    argv, env = lab_command(notebook, index)
    folder = Path(notebook).resolve().parent
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.chdir(folder)
        os.execve(argv[0], argv, env)
    proc = subprocess.Popen(argv, env=env, cwd=folder)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the server got the same Ctrl-C and decides
            continue
