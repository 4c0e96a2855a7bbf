"""Finding the index ($VOXCAT_INDEX, paths relative to root_dir, none yet), enabling
the extension on install, and the job bookkeeping on its own."""

from __future__ import annotations

import json
import shutil
import threading
import time
import tomllib
from pathlib import Path

import pytest

import jupyter_ext
from catalog.service.jobs import JobCancelled, JobManager
from jupyter_ext.app import VoxcatExtension
from jupyter_ext.errors import SAFE_500, Conflict, NotFound

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def jp_server_config(lab, jp_root_dir, monkeypatch, how: str) -> dict:
    """The index named by $VOXCAT_INDEX, by a path relative to root_dir, or missing."""
    config: dict = {"ServerApp": {"jpserver_extensions": {"jupyter_ext": True}}}
    if how == "env":
        monkeypatch.setenv("VOXCAT_INDEX", str(lab.index))
    elif how == "relative":
        shutil.copytree(lab.index.parent, jp_root_dir / "idx")
        config["VoxcatExtension"] = {"index": "idx/lab.duckdb"}
    elif how == "default":  # started in a folder holding voxcat.duckdb, as the demo's
        monkeypatch.delenv("VOXCAT_INDEX", raising=False)
        shutil.copyfile(lab.index, jp_root_dir / "voxcat.duckdb")
    else:
        monkeypatch.delenv("VOXCAT_INDEX", raising=False)
    return config


@pytest.mark.parametrize("how", ["env"])
async def test_index_from_the_environment(api, lab) -> None:
    r = await api("info")
    assert r.json["index"] == str(lab.index)
    r = await api("search", params={"q": "sandstone"})
    assert r.json["total"] == 3


@pytest.mark.parametrize("how", ["relative"])
async def test_relative_index_paths_start_at_root_dir(api, jp_root_dir) -> None:
    r = await api("info")
    assert r.json["index"] == str(jp_root_dir / "idx" / "lab.duckdb")
    assert r.json["datasets"] == 4


@pytest.mark.parametrize("how", ["default"])
async def test_the_sidebar_finds_the_index_by_the_rule_open_catalog_uses(
    api, jp_root_dir, monkeypatch
) -> None:
    """Started in a folder with ``voxcat.duckdb`` (the demo folder), the server serves
    the index ``open_catalog()`` opens there: one rule for notebooks and the sidebar."""
    from catalog import open_catalog

    monkeypatch.chdir(jp_root_dir)
    r = await api("info")
    assert r.json["index_exists"] is True
    assert r.json["index"] == str(jp_root_dir / "voxcat.duckdb")
    assert r.json["datasets"] == len(open_catalog()) == 4


@pytest.mark.parametrize("how", ["none"])
async def test_without_an_index_search_says_to_scan_first(api, jp_root_dir) -> None:
    r = await api("info")
    assert r.status == 200
    assert r.json["index"] == str(jp_root_dir / "voxcat.duckdb")
    assert r.json["index_exists"] is False
    r = await api("search")
    assert r.status == 404
    assert "scan a folder first" in r.json["error"]


def test_the_wheel_enables_the_server_extension() -> None:
    config = json.loads((REPO / "jupyter-config" / "server-config" / "voxcat.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"jupyter_ext": True}}}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    shared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared["jupyter-config/server-config"] == "etc/jupyter/jupyter_server_config.d"
    [point] = jupyter_ext._jupyter_server_extension_points()
    assert point == {"module": "jupyter_ext", "app": VoxcatExtension}
    assert VoxcatExtension.name == "voxcat"


def _wait(job, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while job.status not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_job_manager_outcomes() -> None:
    jobs = JobManager()
    ok = jobs.submit("a", {}, lambda job: {"n": 1})
    bad = jobs.submit("a", {}, lambda job: 1 / 0)
    stopped = jobs.submit("a", {}, lambda job: (_ for _ in ()).throw(JobCancelled()))
    for job in (ok, bad, stopped):
        _wait(job)
    assert (ok.status, ok.result, ok.progress) == ("done", {"n": 1}, 1.0)
    assert bad.status == "failed" and bad.error == f"{SAFE_500} (ZeroDivisionError)"
    assert stopped.status == "cancelled"
    assert [j.id for j in jobs.list()] == [stopped.id, bad.id, ok.id]
    with pytest.raises(Conflict):
        jobs.cancel(ok.id)
    with pytest.raises(NotFound):
        jobs.get("nope")
    jobs.shutdown()


def test_job_manager_cancels_running_and_queued_jobs_on_shutdown() -> None:
    jobs = JobManager()
    started = threading.Event()

    def wait_for_cancel(job) -> None:
        started.set()
        while not job.cancel_requested:
            time.sleep(0.01)
        raise JobCancelled()

    running = jobs.submit("k", {}, wait_for_cancel)
    queued = jobs.submit("k", {}, lambda job: "never")
    assert started.wait(5)
    assert queued.status == "queued" and [j.id for j in jobs.active()] == [queued.id, running.id]
    jobs.shutdown(timeout=5)
    assert running.status == "cancelled" and queued.status == "cancelled"
    assert queued.started is None
    with pytest.raises(Conflict):
        jobs.submit("k", {}, lambda job: None)
