"""In a real browser: a scan started from the JupyterLab sidebar of a server given a
Dask scheduler runs on that cluster, its job links the Dask dashboard, and *Cancel*
removes its tasks from the scheduler."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from playwright.sync_api import Page, expect

from catalog.cluster import SCHEDULER_ENV
from catalog.demo import install_demo_notebook, run_demo

from ..clusters import local_cluster
from .lab import LabServer, LabStartError, running_lab

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 60_000  # ms
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A scheduler with one worker process of one thread, and its dashboard."""
    with local_cluster(
        n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0"
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def cluster_lab(tmp_path_factory: pytest.TempPathFactory, cluster: Any) -> Iterator[LabServer]:
    """JupyterLab on a demo index, with ``$VOXCAT_DASK_SCHEDULER`` naming the cluster."""
    work = tmp_path_factory.mktemp("cluster-sidebar")
    index = run_demo(work / "demo")
    notebook = install_demo_notebook(work / "root")
    rng = np.random.default_rng(16)
    new = work / "root" / "far"
    new.mkdir()
    for i in range(4):
        tifffile.imwrite(new / f"far_{i}.tif", rng.integers(0, 4000, (8, 32, 32), np.uint16))
    old = os.environ.get(SCHEDULER_ENV)
    os.environ[SCHEDULER_ENV] = cluster.scheduler_address
    try:
        with running_lab(notebook, index, work) as server:
            yield server
    except LabStartError as exc:
        pytest.fail(str(exc))
    finally:
        if old is None:
            os.environ.pop(SCHEDULER_ENV, None)
        else:
            os.environ[SCHEDULER_ENV] = old


def _held_scan_tasks(client: Any) -> int:
    def count(dask_scheduler: Any) -> int:
        return sum(1 for k in dask_scheduler.tasks if str(k).startswith("process_on_cluster-"))

    return client.run_on_scheduler(count)


def test_a_sidebar_scan_on_the_cluster_links_the_dashboard_and_cancels(
    page: Page, cluster_lab: LabServer, cluster: Any, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:

        def hold(name: str) -> None:  # occupies the only worker thread until released
            distributed.Event(name).wait(180)

        gate = distributed.Event("voxcat-sidebar-hold", client=client)
        blocker = client.submit(hold, "voxcat-sidebar-hold", pure=False)
        try:
            page.goto(f"{cluster_lab.url}/lab?reset&token={cluster_lab.token}")
            expect(page.locator("#voxcat-sidebar")).to_be_visible(timeout=2 * TIMEOUT)
            page.locator(".voxcat-scan-path").fill("far")
            page.locator(".voxcat-scan-start").click()
            link = page.locator(".voxcat-job-running .voxcat-job-dashboard")
            expect(link).to_be_visible(timeout=TIMEOUT)
            assert link.get_attribute("href") == client.dashboard_link
            assert link.get_attribute("target") == "_blank"
            expect(link).to_have_text("Dask dashboard")
            for width in (1400, 900, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(300)
                page.screenshot(path=tmp_path / f"cluster-job-{width}.png")
            assert _held_scan_tasks(client) == 4  # waiting on the cluster for the worker
            page.locator(".voxcat-job-running .voxcat-job-cancel").click()
            expect(page.locator(".voxcat-job-cancelled").first).to_be_visible(timeout=TIMEOUT)
            assert _held_scan_tasks(client) == 0
            page.screenshot(path=tmp_path / "cluster-job-cancelled.png")
        finally:
            gate.set()
            blocker.result(timeout=60)
    assert errors == [], errors
