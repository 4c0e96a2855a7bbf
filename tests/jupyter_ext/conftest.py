"""A Jupyter server with the voxcat extension on a small real index.

The index is scanned once per session from TIFF files written with a seeded RNG (one
dataset tagged, two linked by lineage); each test gets a copy in its own folder, so
tests that tag, note, scan or export never see each other's changes.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

# the plugin's fixtures and async-test hooks, for this folder only (pytest refuses
# ``pytest_plugins`` outside the top-level conftest)
from pytest_jupyter.jupyter_server import *  # noqa: F403

from catalog import open_catalog, scan
from catalog.index import cache_dir

from ..volumes import write_volumes


def write_tiffs(folder: Path, names: list[str], seed: int, shape=(8, 40, 48)) -> None:
    """Small ImageJ TIFF volumes (0.5 um voxels) with a bright ball in each."""
    write_volumes(folder, names, seed, shape)


@dataclasses.dataclass(frozen=True)
class Lab:
    """A test's own copy of the index, and facts about it."""

    index: Path
    ids: dict[str, str]  # name -> id

    def id(self, name: str) -> str:
        return self.ids[name]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("voxcat-ext")
    drive = base / "drive"
    write_tiffs(drive / "rocks", [f"sandstone_{i}.tif" for i in range(3)], seed=20261122)
    write_tiffs(drive / "cells", ["cell_a.tif"], seed=7, shape=(4, 40, 48))
    (drive / "rocks" / "readme.txt").write_text("beam time notes")
    index = base / "index" / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    cat.tag(ids["sandstone_0.tif"], "porosity")
    cat.set(ids["cell_a.tif"], modality="LM", project="cells")
    cat.link(ids["sandstone_1.tif"], [ids["sandstone_0.tif"]], step="denoise")
    return index


@pytest.fixture
def lab(template: Path, tmp_path: Path) -> Lab:
    folder = tmp_path / "indexes"
    shutil.copytree(template.parent, folder)
    index = folder / template.name
    assert cache_dir(index).is_dir()
    cat = open_catalog(index)
    return Lab(index, {cat[i].metadata["name"]: i for i in cat})


@pytest.fixture
def jp_server_config(lab: Lab) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "VoxcatExtension": {"index": str(lab.index)},
    }


@dataclasses.dataclass
class Reply:
    status: int
    body: bytes
    headers: dict

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@pytest.fixture
def api(jp_fetch):
    """``await api("search", params=...)``: a request under /voxcat/api/ that returns
    the status, body and headers instead of raising on errors."""

    async def call(
        *parts: str, method: str = "GET", body: object = None, params=None, headers=None
    ) -> Reply:
        kwargs = {"method": method, "raise_error": False, "params": params, "headers": headers}
        if body is not None:
            kwargs["body"] = body if isinstance(body, str | bytes) else json.dumps(body)
            kwargs["allow_nonstandard_methods"] = True
        r = await jp_fetch("voxcat", "api", *parts, **kwargs)
        return Reply(r.code, r.body or b"", dict(r.headers))

    return call
