"""A real ``voxcat serve`` on a free 127.0.0.1 port, on a real index scanned from TIFF
files written with a seeded RNG, with accounts of every role.

The datasets: four ``rock_*`` (internal), ``patient_ct`` (restricted), ``partner_scan``
(collaborator:other), ``tomo_scan`` (collaborator:tomo) and ``open_scan`` (public).
The accounts: ``root`` (admin, password), ``cura`` (curator, token and password),
``vera`` (viewer in group tomo, token and password), ``gone`` (viewer, token; the
disabling test disables it), ``lim`` (viewer, password; the rate-limit test's).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from catalog import open_catalog, scan
from catalog.users import add_user, create_token

from ..servers import start_voxcat_serve, stop_process
from ..volumes import write_volumes

BASE = "/voxcat"
PASSWORDS = {"root": "root-pw-4821", "cura": "cura-pw-1937", "vera": "vera-pw-7702"}
PASSWORDS["lim"] = "lim-pw-5150"
ACCESS = {
    "patient_ct.tif": "restricted",
    "partner_scan.tif": "collaborator:other",
    "tomo_scan.tif": "collaborator:tomo",
    "open_scan.tif": "public",
}
HIDDEN_FROM_VERA = ("patient_ct.tif", "partner_scan.tif")


def write_tiffs(folder: Path, names: list[str], seed: int, shape=(6, 40, 48)) -> None:
    """Small ImageJ TIFF volumes (0.5 um voxels) of seeded noise and a bright ball."""
    write_volumes(folder, names, seed, shape, ball=20)


@dataclasses.dataclass
class Served:
    """A running ``voxcat serve`` and what the tests know about its index."""

    url: str  # http://127.0.0.1:PORT/voxcat/
    index: Path
    drive: Path
    ids: dict[str, str]  # file name -> id
    tokens: dict[str, str]
    proc: subprocess.Popen
    log: list[str]

    def api(self, *parts: str) -> str:
        return self.url + "api/" + "/".join(parts)

    def page(self, path: str = "") -> str:
        return self.url + path

    def get(self, *parts: str, user: str | None = None, **kw) -> requests.Response:
        return requests.get(self.api(*parts), headers=self.auth(user), timeout=60, **kw)

    def post(self, *parts: str, user: str | None = None, **kw) -> requests.Response:
        return requests.post(self.api(*parts), headers=self.auth(user), timeout=60, **kw)

    def delete(self, *parts: str, user: str | None = None, **kw) -> requests.Response:
        return requests.delete(self.api(*parts), headers=self.auth(user), timeout=60, **kw)

    def auth(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"token {self.tokens[user]}"} if user else {}

    def login(self, name: str, password: str | None = None) -> requests.Session:
        """A browser-like session logged in through the /login form."""
        s = requests.Session()
        form = s.get(self.page("login"), timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        r = s.post(
            self.page("login"),
            data={"_xsrf": xsrf, "user": name, "password": password or PASSWORDS[name]},
            allow_redirects=False,
            timeout=60,
        )
        assert r.status_code == 302, (r.status_code, r.text[:300])
        return s


@pytest.fixture(scope="session")
def lab_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict]:
    """The scanned index with access levels and accounts; ``(index, drive, ids, tokens)``."""
    base = tmp_path_factory.mktemp("serve")
    drive = base / "drive"
    write_tiffs(drive / "rocks", [f"rock_{i}.tif" for i in range(4)], seed=20261205)
    write_tiffs(drive / "other", list(ACCESS), seed=515)
    index = base / "index" / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    for name, level in ACCESS.items():
        cat.set(ids[name], access=level)
    cat.tag(ids["patient_ct.tif"], "patient")
    cat.note(ids["patient_ct.tif"], "consent form 17")
    add_user(index, "root", role="admin", password=PASSWORDS["root"])
    add_user(index, "cura", role="curator", password=PASSWORDS["cura"])
    add_user(index, "vera", role="viewer", groups=["tomo"], password=PASSWORDS["vera"])
    add_user(index, "gone", role="viewer")
    add_user(index, "lim", role="viewer", password=PASSWORDS["lim"])
    tokens = {n: create_token(index, n) for n in ("root", "cura", "vera", "gone")}
    return index, drive, ids, tokens


def stop_server(proc: subprocess.Popen) -> int:
    """SIGTERM and ``voxcat serve``'s exit status; one that does not stop in 40 s is
    killed and fails the test (stopping is part of what these tests test)."""
    return stop_process(proc, timeout=40, strict=True)


@pytest.fixture(scope="module")
def served(lab_index, tmp_path_factory) -> Iterator[Served]:
    """The server on a copy of the index, under ``--base-url /voxcat``; it trusts
    X-Real-IP (as behind a proxy), which lets the rate-limit test come from elsewhere."""
    index, drive, ids, tokens = lab_index
    folder = tmp_path_factory.mktemp("served")
    shutil.copytree(index.parent, folder / "index")
    copy = folder / "index" / index.name
    proc, url = start_voxcat_serve(
        copy, "--base-url", BASE, "--allowed-root", str(drive), "--trust-proxy-headers"
    )
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stdout.readline, "")))
    reader.start()
    try:
        yield Served(url, copy, drive, ids, tokens, proc, log)
    finally:
        code = stop_server(proc)
        reader.join(timeout=10)
        assert code == 0, "".join(log[-30:])
        assert any("voxcat serve: stopped" in line for line in log), "".join(log[-30:])
