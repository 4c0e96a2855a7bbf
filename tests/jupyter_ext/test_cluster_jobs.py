"""Scan and verify jobs of the Jupyter server on a real Dask cluster
(``VoxcatExtension.scheduler``): the job runs its work as tasks there, its status links
the Dask dashboard, and cancelling the job removes its tasks from the scheduler."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog import open_catalog
from catalog.cluster import SCHEDULER_ENV
from catalog.index.audit import list_audit

from ..clusters import local_cluster
from .conftest import Lab, write_tiffs
from .test_jobs import wait_for

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A scheduler with one worker process of one thread, and its dashboard."""
    with local_cluster(
        n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0"
    ) as cluster:
        yield cluster


@pytest.fixture
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as c:
        yield c


@pytest.fixture
def jp_server_config(lab: Lab, cluster: Any, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "VoxcatExtension": {"index": str(lab.index), "scheduler": cluster.scheduler_address},
    }


def _scan_tasks(client: Any, prefix: str = "process_on_cluster-") -> tuple[int, int]:
    """Scan (or other) tasks the scheduler saw finish, and those it still holds."""

    def count(dask_scheduler: Any) -> tuple[int, int]:
        done = sum(
            1
            for key, _start, finish, *_ in dask_scheduler.transition_log
            if str(key).startswith(prefix) and finish == "memory"
        )
        return done, sum(1 for key in dask_scheduler.tasks if str(key).startswith(prefix))

    return client.run_on_scheduler(count)


async def test_a_scan_job_runs_on_the_cluster_and_links_its_dashboard(
    api, lab, jp_root_dir, client
) -> None:
    write_tiffs(jp_root_dir / "far", ["basalt_a.tif", "basalt_b.tif"], seed=11)
    before, _ = _scan_tasks(client)
    r = await api("jobs", method="POST", body={"kind": "scan", "path": "far", "jobs": 1})
    assert r.status == 202, r.body
    assert r.json["args"]["scheduler"] == client.scheduler.address
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["counts"]["added"] == 2
    assert _scan_tasks(client)[0] - before == 2  # read on the cluster
    assert done["dashboard"] == client.dashboard_link
    assert done["dashboard"].startswith("http://127.0.0.1:")
    assert done["detail"]["dashboard"] == done["dashboard"]
    cat = open_catalog(lab.index)
    assert len(cat.search(name="basalt_*")) == 2
    r = await api("thumbnails", f"{cat.search(name='basalt_a.tif').df.index[0]}.png")
    assert r.status == 200  # written by the job's process from the worker's PNG


async def test_cancelling_a_job_on_the_cluster_cancels_its_tasks(
    api, lab, jp_root_dir, client
) -> None:
    write_tiffs(jp_root_dir / "held", [f"shale_{i}.tif" for i in range(6)], seed=12)

    def hold(name: str) -> None:  # occupies the only worker thread until released
        distributed.Event(name).wait(120)

    gate = distributed.Event("voxcat-test-hold", client=client)
    blocker = client.submit(hold, "voxcat-test-hold", pure=False)
    try:
        before, _ = _scan_tasks(client)
        job = (await api("jobs", method="POST", body={"kind": "scan", "path": "held"})).json
        deadline = time.monotonic() + 60
        while True:  # the job's tasks are on the scheduler, waiting for the worker
            state = (await api("jobs", job["id"])).json
            assert state["status"] in ("queued", "running"), state
            if state["dashboard"] and _scan_tasks(client)[1] == 6:
                break
            assert time.monotonic() < deadline, f"the tasks never reached the cluster: {state}"
            await asyncio.sleep(0.1)
        assert state["dashboard"] == client.dashboard_link
        r = await api("jobs", job["id"], method="DELETE")
        assert r.status == 202
        done = await wait_for(api, job["id"])
        assert done["status"] == "cancelled" and done["error"] is None
        assert _scan_tasks(client) == (before, 0)  # none ran, none is left on the cluster
    finally:
        gate.set()
        blocker.result(timeout=60)
    assert len(open_catalog(lab.index).search(name="shale_*")) == 0


async def test_a_verify_job_runs_on_the_cluster(api, lab, client) -> None:
    before, _ = _scan_tasks(client, "_numbered_check-")
    r = await api("jobs", method="POST", body={"kind": "verify", "search": {"q": "sandstone"}})
    assert r.status == 202, r.body
    assert r.json["args"]["scheduler"] == client.scheduler.address
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["ok"] is True
    assert done["result"]["counts"]["unchanged"] == done["args"]["datasets"] > 0
    assert _scan_tasks(client, "_numbered_check-")[0] > before  # hashed on the cluster
    assert done["dashboard"] == client.dashboard_link
    assert done["detail"]["files"] == done["detail"]["files_total"] > 0
    assert list_audit(lab.index, action="verify.run", limit=None)


async def test_cancelling_a_verify_job_on_the_cluster_cancels_its_tasks(api, lab, client) -> None:
    def hold(name: str) -> None:
        distributed.Event(name).wait(120)

    gate = distributed.Event("voxcat-test-hold-verify", client=client)
    blocker = client.submit(hold, "voxcat-test-hold-verify", pure=False)
    try:
        body = {"kind": "verify", "search": {"q": "sandstone"}}
        job = (await api("jobs", method="POST", body=body)).json
        deadline = time.monotonic() + 60
        while True:
            state = (await api("jobs", job["id"])).json
            assert state["status"] in ("queued", "running"), state
            if state["dashboard"] and _scan_tasks(client, "_numbered_check-")[1] > 0:
                break
            assert time.monotonic() < deadline, f"the tasks never reached the cluster: {state}"
            await asyncio.sleep(0.1)
        assert (await api("jobs", job["id"], method="DELETE")).status == 202
        done = await wait_for(api, job["id"])
        assert done["status"] == "cancelled" and done["error"] is None
        assert _scan_tasks(client, "_numbered_check-")[1] == 0
    finally:
        gate.set()
        blocker.result(timeout=60)
    assert list_audit(lab.index, action="verify.run", limit=None) == []  # nothing recorded
