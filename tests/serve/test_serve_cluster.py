"""``voxcat serve --scheduler``: a curator's scan job runs on the Dask cluster and its
JSON links the cluster's dashboard."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog import open_catalog
from catalog.cluster import SCHEDULER_ENV

from ..clusters import local_cluster
from ..servers import start_voxcat_serve
from .conftest import BASE, Served, stop_server, write_tiffs

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with local_cluster(
        n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0"
    ) as cluster:
        yield cluster


@pytest.fixture
def served_on_cluster(lab_index, tmp_path: Path, cluster: Any) -> Iterator[Served]:
    index, _drive, ids, tokens = lab_index
    shutil.copytree(index.parent, tmp_path / "index")
    copy = tmp_path / "index" / index.name
    old = os.environ.pop(SCHEDULER_ENV, None)
    try:
        proc, url = start_voxcat_serve(
            copy, "--base-url", BASE, "--allowed-root", str(tmp_path), "--scheduler",
            cluster.scheduler_address,
        )  # fmt: skip
    finally:
        if old is not None:
            os.environ[SCHEDULER_ENV] = old
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stdout.readline, "")))
    reader.start()
    try:
        yield Served(url, copy, tmp_path, ids, tokens, proc, log)
    finally:
        stop_server(proc)
        reader.join(timeout=10)


def _tasks_done(client: Any) -> int:
    def count(dask_scheduler: Any) -> int:
        return sum(
            1
            for key, _start, finish, *_ in dask_scheduler.transition_log
            if str(key).startswith("process_on_cluster-") and finish == "memory"
        )

    return client.run_on_scheduler(count)


def test_a_scan_job_of_voxcat_serve_runs_on_its_scheduler(
    served_on_cluster: Served, cluster: Any
) -> None:
    served = served_on_cluster
    write_tiffs(served.drive / "far", ["far_0.tif", "far_1.tif"], seed=161)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        before = _tasks_done(client)
        r = served.post("jobs", user="cura", json={"kind": "scan", "path": "far"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["args"]["scheduler"] == cluster.scheduler_address
        deadline = time.monotonic() + 120
        while job["status"] not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
            job = served.get("jobs", job["id"], user="cura").json()
        assert job["status"] == "done", job
        assert job["result"]["counts"]["added"] == 2
        assert _tasks_done(client) - before == 2
        assert job["dashboard"] == client.dashboard_link
    assert len(open_catalog(served.index).search(name="far_*")) == 2
