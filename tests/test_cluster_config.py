"""Which Dask scheduler voxcat uses: ``scheduler=`` > ``$VOXCAT_DASK_SCHEDULER`` >
Dask's own ``scheduler-address`` setting (a YAML file in Dask's config folder, or
``$DASK_SCHEDULER_ADDRESS``) > none (the local pool). The CLI is run against an
address nobody listens on, so the error names the address it chose."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import dask.config
import numpy as np
import pytest
import tifffile

from catalog import scan
from catalog.cluster import SCHEDULER_ENV, scheduler_address

REPO = Path(__file__).resolve().parents[1]


def _nobody() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def test_the_argument_then_the_variable_then_dask_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with dask.config.set({"scheduler-address": None}):
        assert scheduler_address() is None
        assert scheduler_address("tcp://a:8786") == "tcp://a:8786"
    with dask.config.set({"scheduler-address": "tcp://from-dask:8786"}):
        assert scheduler_address() == "tcp://from-dask:8786"
        monkeypatch.setenv(SCHEDULER_ENV, "tcp://from-voxcat:8786")
        assert scheduler_address() == "tcp://from-voxcat:8786"
        assert scheduler_address("tcp://given:8786") == "tcp://given:8786"


@pytest.fixture
def index(tmp_path: Path, rng: np.random.Generator) -> Path:
    drive = tmp_path / "drive"
    drive.mkdir()
    tifffile.imwrite(
        drive / "a.tif", rng.integers(0, 255, (4, 16, 16), np.uint8), photometric="minisblack"
    )
    path = tmp_path / "lab.duckdb"
    scan(drive, path, jobs=1, progress=False)
    return path


def _verify(index: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    full.pop(SCHEDULER_ENV, None)
    full.update(env, VOXCAT_DASK_CONNECT_TIMEOUT="1", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "catalog.cli", "verify", "--index", str(index)],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_the_cli_takes_the_scheduler_from_dask_config(index: Path, tmp_path: Path) -> None:
    nobody = _nobody()
    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "distributed.yaml").write_text(f"scheduler-address: {nobody}\n")
    out = _verify(index, {"DASK_CONFIG": str(config)})
    assert out.returncode == 1
    assert out.stderr.startswith("voxcat: error: cannot reach the Dask scheduler at " + nobody)

    other = _nobody()
    out = _verify(index, {"DASK_SCHEDULER_ADDRESS": other})
    assert out.stderr.startswith("voxcat: error: cannot reach the Dask scheduler at " + other)

    # without any of them: the local threads, and the files are unchanged
    out = _verify(index, {})
    assert out.returncode == 0, out.stderr
    assert "unchanged: 1" in out.stdout


def test_a_gateway_address_without_the_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from catalog.cluster import cluster_client
    from catalog.errors import BadSchedulerAddress

    monkeypatch.setitem(sys.modules, "dask_gateway", None)  # not installed
    address = "gateway://127.0.0.1:8000/0123abcd"
    with (
        pytest.raises(BadSchedulerAddress, match="install the dask-gateway package"),
        cluster_client(address),
    ):
        pass
