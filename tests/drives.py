"""Real separate filesystems for drive tests: ext4 images loop-mounted (root only;
``make_drive`` skips, saying why, where mounting is refused) and this machine's tmpfs
at ``/dev/shm`` as a second filesystem that needs no mounting (``other_drive``).

The fixtures are registered in tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.index import connect
from catalog.volumes import volume_of


def q(index: Path, sql: str, params: list | None = None) -> list[tuple]:
    with connect(index, read_only=True, cached=False) as con:
        return con.execute(sql, params or []).fetchall()


class LoopDrive:
    """An ext4 filesystem image with a label, mounted and unmounted for real."""

    def __init__(self, image: Path, label: str) -> None:
        self.image, self.label = image, label
        self.mounted_at: Path | None = None

    def mount(self, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-o", "loop", str(self.image), str(where)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot loop-mount a filesystem image here: {done.stderr.strip()}")
        self.mounted_at = where
        return where

    def unmount(self) -> None:
        if self.mounted_at is not None:
            subprocess.run(["umount", str(self.mounted_at)], check=True)
            self.mounted_at = None


@pytest.fixture
def make_drive(tmp_path: Path) -> Iterator:
    """``make_drive("WD-2019", at)``: a new 20 MB ext4 drive mounted at ``at``;
    every drive is unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("loop-mounting filesystem images needs root (see README, Drives)")
    if not (shutil.which("mkfs.ext4") and shutil.which("mount")):
        pytest.skip("mkfs.ext4 or mount is not installed")
    made: list[LoopDrive] = []

    def make(label: str, at: Path) -> LoopDrive:
        image = tmp_path / f"{label}.img"
        with open(image, "wb") as f:
            f.truncate(20 * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", label, str(image)], check=True)
        drive = LoopDrive(image, label)
        made.append(drive)
        drive.mount(at)
        return drive

    try:
        yield make
    finally:
        for drive in made:
            if drive.mounted_at is not None:
                subprocess.run(["umount", "-l", str(drive.mounted_at)], check=False)


@pytest.fixture
def other_drive(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than ``tmp_path`` (the tmpfs /dev/shm)."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm here: no second filesystem without mounting one")
    here, there = volume_of(tmp_path), volume_of(shm)
    if here is None or there is None or here.id == there.id:
        pytest.skip("/dev/shm is on the same volume as the temporary folder here")
    folder = Path(tempfile.mkdtemp(prefix="voxcat-replicas-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def drive_id(path: Path) -> str:
    vol = volume_of(path)
    assert vol is not None
    return vol.id
