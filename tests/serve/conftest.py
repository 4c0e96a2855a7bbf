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
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tifffile

import catalog
from catalog import open_catalog, scan
from catalog.users import add_user, create_token

CHECKOUT = Path(catalog.__file__).resolve().parent.parent
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
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    z, y, x = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]]
    ball = ((z - shape[0] // 2) ** 2 + (y - 20) ** 2 / 4 + (x - 24) ** 2 / 4) < 20
    for name in names:
        vol = rng.integers(0, 200, size=shape, dtype=np.uint16)
        vol[ball] += 3000
        tifffile.imwrite(
            folder / name,
            vol,
            imagej=True,
            resolution=(2.0, 2.0),
            metadata={"spacing": 0.5, "unit": "um", "axes": "ZYX"},
        )


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


def start_server(index: Path, *args: str, timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """``voxcat serve --port 0`` in a child; its process and URL once it listens."""
    return start_process(
        [
            *(sys.executable, "-m", "catalog.cli", "serve", "--index", str(index)),
            *("--port", "0", "--address", "127.0.0.1", "--no-browser", *args),
        ],
        timeout,
    )


def start_process(argv: list[str], timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """A server process that prints ``... at http://127.0.0.1:PORT/...`` once listening."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    env.pop("VOXCAT_USER", None)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r" at (http://127\.0\.0\.1:\d+\S*)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("voxcat serve did not start:\n" + "".join(lines))


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


@pytest.fixture(scope="module")
def served(lab_index, tmp_path_factory) -> Iterator[Served]:
    """The server on a copy of the index, under ``--base-url /voxcat``; it trusts
    X-Real-IP (as behind a proxy), which lets the rate-limit test come from elsewhere."""
    index, drive, ids, tokens = lab_index
    folder = tmp_path_factory.mktemp("served")
    shutil.copytree(index.parent, folder / "index")
    copy = folder / "index" / index.name
    proc, url = start_server(
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
