"""The remote catalogue against a real ``voxcat serve`` (``--base-url /voxcat``) on
127.0.0.1, with the tokens of lab accounts: a viewer sees exactly what the local
catalogue bound to that account sees (restricted and other groups' data invisible by
every route the client uses), a curator's changes are audited under their name, and
refusals come back as named errors.

The index is scanned from TIFF files written by tifffile with a seeded RNG.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip(
    "catalog.service.server", reason="voxcat serve (catalog.service.server) is not on this branch"
)

from catalog import open_catalog, scan
from catalog.client import RemoteCatalog, open_remote
from catalog.errors import (
    DatasetNotFound,
    DatasetUnavailable,
    Forbidden,
    RemoteQueryError,
    Unauthenticated,
)
from catalog.users import add_user, create_token

from .remote_servers import voxcat_serve
from .volumes import write_volumes

ACCESS = {
    "patient_ct.tif": "restricted",
    "partner_scan.tif": "collaborator:other",
    "tomo_scan.tif": "collaborator:tomo",
    "open_scan.tif": "public",
}
HIDDEN_FROM_VIEWER = ("patient_ct.tif", "partner_scan.tif")


def write_noise(folder: Path, names: list[str], seed: int, shape=(5, 24, 32)) -> None:
    """Small ImageJ TIFF volumes of seeded noise (no ball)."""
    write_volumes(folder, names, seed, shape, ball=None, noise=4000)


class Lab:
    def __init__(self, index: Path, ids: dict[str, str], tokens: dict[str, str]) -> None:
        self.index, self.ids, self.tokens = index, ids, tokens

    def local(self, user: str | None = None):
        return open_catalog(self.index, user=user)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    base = tmp_path_factory.mktemp("serve-client")
    drive = base / "drive"
    write_noise(drive / "rocks", [f"rock_{i}.tif" for i in range(3)], seed=20261205)
    write_noise(drive / "other", list(ACCESS), seed=77)
    index = base / "index" / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    for name, level in ACCESS.items():
        cat.set(ids[name], access=level)
    cat.set([ids[f"rock_{i}.tif"] for i in range(3)], modality="CT", project="rocks")
    cat.set(ids["patient_ct.tif"], modality="CT", project="clinic")
    cat.tag(ids["patient_ct.tif"], "patient")
    cat.link(ids["rock_1.tif"], [ids["rock_0.tif"]], step="denoise")
    add_user(index, "root", role="admin")
    add_user(index, "cura", role="curator")
    add_user(index, "vera", role="viewer", groups=["tomo"])
    tokens = {n: create_token(index, n) for n in ("root", "cura", "vera")}
    return Lab(index, ids, tokens)


@pytest.fixture(scope="module")
def url(lab: Lab) -> Iterator[str]:
    with voxcat_serve(lab.index, "--base-url", "/voxcat") as running:
        yield running


@pytest.fixture
def viewer(url: str, lab: Lab) -> RemoteCatalog:
    return open_remote(url, token=lab.tokens["vera"])


def test_the_url_voxcat_serve_prints_is_the_one_to_pass(url: str, lab: Lab) -> None:
    assert url.endswith("/voxcat/")
    cat = open_remote(url, token=lab.tokens["vera"])
    assert cat.url == url.rstrip("/") + "/api"
    assert cat.user == {"name": "vera", "role": "viewer"}
    host = url.split("/voxcat")[0]  # the bare host: <host>/api is not there, /voxcat/api is
    assert open_remote(host, token=lab.tokens["vera"]).url == cat.url
    # open_catalog hands URLs to open_remote
    assert open_catalog(url, token=lab.tokens["vera"]) == cat


def test_a_viewer_sees_what_the_bound_local_catalogue_sees(
    viewer: RemoteCatalog, lab: Lab
) -> None:
    local = lab.local("vera")
    assert list(viewer) == list(local)
    assert len(viewer) == len(local) == len(lab.local()) - len(HIDDEN_FROM_VIEWER)
    for name in HIDDEN_FROM_VIEWER:
        assert lab.ids[name] not in viewer
    assert lab.ids["tomo_scan.tif"] in viewer and lab.ids["open_scan.tif"] in viewer
    df = viewer.df
    pd.testing.assert_frame_equal(df, local.df[df.columns])
    fields = ("modality", "project", "tags")
    assert viewer.facets(*fields) == local.facets(*fields)
    assert "clinic" not in viewer.facets("project")["project"]
    assert "patient" not in viewer.facets("tags")["tags"]
    assert viewer.search("patient").keys() == [] == local.search("patient").keys()
    assert viewer.search(tags="patient").keys() == []
    assert viewer.search(modality="CT").facets("project") == {"project": {"rocks": 3}}
    assert viewer.multiselect_facets(
        "modality", "project", filters={"modality": "CT"}
    ) == local.multiselect_facets("modality", "project", filters={"modality": "CT"})


def test_hidden_datasets_are_not_found_like_missing_ones(viewer: RemoteCatalog, lab: Lab) -> None:
    local = lab.local("vera")
    for name in HIDDEN_FROM_VIEWER:
        ident = lab.ids[name]
        with pytest.raises(DatasetNotFound) as got:
            viewer[ident]
        with pytest.raises(DatasetNotFound) as want:
            local[ident]
        assert str(got.value) == str(want.value)
        assert name not in str(got.value)
        with pytest.raises(DatasetNotFound):
            viewer.lineage(ident)
        with pytest.raises(DatasetNotFound):
            viewer.thumbnail(ident)
        assert viewer.search(id=ident).keys() == []
    # the same message as for an id that never existed
    fake = lab.ids["patient_ct.tif"][::-1]
    with pytest.raises(DatasetNotFound) as missing:
        viewer[fake]
    assert str(missing.value).replace(fake, "X") == str(got.value).replace(
        lab.ids[HIDDEN_FROM_VIEWER[-1]], "X"
    )


def test_a_viewer_reads_what_it_may_see(viewer: RemoteCatalog, lab: Lab) -> None:
    ident = lab.ids["tomo_scan.tif"]
    xr.testing.assert_identical(
        viewer[ident].read().compute(), lab.local()[ident].read().compute()
    )
    meta = viewer.entry(ident).metadata
    assert meta["access"] == "collaborator:tomo"
    assert (
        viewer.lineage(lab.ids["rock_1.tif"]).edges
        == lab.local().lineage(lab.ids["rock_1.tif"]).edges
    )


def test_a_viewer_may_not_annotate(viewer: RemoteCatalog, lab: Lab) -> None:
    ident = lab.ids["rock_2.tif"]
    with pytest.raises(Forbidden, match="vera is a viewer") as refused:
        viewer.tag(ident, "by-vera")
    assert "curator" in str(refused.value)
    with pytest.raises(Forbidden, match="vera is a viewer"):
        viewer.note(ident, "from vera")
    with pytest.raises(Forbidden, match="vera is a viewer"):
        viewer.untag(ident, "anything")
    meta = lab.local().entry(ident).metadata
    assert "by-vera" not in meta["tags"] and not meta["notes"]
    # a hidden dataset: not found, before any question of role
    with pytest.raises(DatasetNotFound):
        viewer.tag(lab.ids["patient_ct.tif"], "x")


def test_a_curators_changes_are_audited_under_their_name(url: str, lab: Lab) -> None:
    cura = open_remote(url, token=lab.tokens["cura"])
    rocks = cura.search(project="rocks")
    assert cura.tag(rocks, "reviewed") == 3
    assert sorted(lab.local().search(tags="reviewed")) == sorted(rocks)
    ident = lab.ids["rock_0.tif"]
    cura.note(ident, "checked remotely")
    note = lab.local().entry(ident).metadata["notes"][-1]
    assert (note["text"], note["user"]) == ("checked remotely", "cura")
    assert cura.untag(ident, "reviewed") == 1


def test_drives_and_copies_read_as_the_local_catalogue_gives_them(url: str, lab: Lab) -> None:
    cura = open_remote(url, token=lab.tokens["cura"])
    [drive] = cura.drives()
    [here] = lab.local().drives(check=False)
    assert drive == here  # every field, times included
    assert drive.datasets == len(lab.local(user="root")) and drive.only_here == drive.datasets
    assert cura.drives(check=True)[0].online is True
    ident = lab.ids["rock_0.tif"]
    assert cura.locations(ident) == json.loads(
        json.dumps(lab.local().locations(ident), default=str)
    )
    [place] = cura.locations(ident)
    assert place["primary"] and place["status"] == "ok"
    viewer = open_remote(url, token=lab.tokens["vera"])
    with pytest.raises(Forbidden, match="vera is a viewer"):
        viewer.drives()


def test_an_admin_sees_everything(url: str, lab: Lab) -> None:
    root = open_remote(url, token=lab.tokens["root"])
    assert list(root) == list(lab.local())
    assert root.facets("project", "tags") == lab.local().facets("project", "tags")
    assert root.search(tags="patient").keys() == [lab.ids["patient_ct.tif"]]


def test_tokens_are_checked(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXCAT_TOKEN", raising=False)
    with pytest.raises(Unauthenticated, match="the token given was not accepted"):
        open_remote(url, token="vxc_not-a-real-token")
    with pytest.raises(Unauthenticated, match="no token was given"):
        open_remote(url)


def test_bad_searches_come_back_as_query_errors(viewer: RemoteCatalog, lab: Lab) -> None:
    with pytest.raises(RemoteQueryError) as got:
        len(viewer.search(voxel_size="<5 parsecs"))
    with pytest.raises(Exception) as want:
        lab.local("vera").search(voxel_size="<5 parsecs")
    assert str(got.value) == str(want.value)


def test_unreachable_data_names_the_server(url: str, lab: Lab, tmp_path: Path) -> None:
    cat = open_remote(
        url,
        token=lab.tokens["vera"],
        paths={str(lab.index.parent.parent / "drive"): str(tmp_path)},
    )
    with pytest.raises(DatasetUnavailable) as info:
        cat[lab.ids["rock_0.tif"]].read()
    assert cat.url in str(info.value) and "rock_0.tif" in str(info.value)
    shutil.copytree(lab.index.parent.parent / "drive", tmp_path, dirs_exist_ok=True)
    got = cat[lab.ids["rock_0.tif"]].read()
    np.testing.assert_array_equal(got.values, lab.local()[lab.ids["rock_0.tif"]].read().values)
