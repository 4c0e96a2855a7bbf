"""Progress of scan and export jobs comes from the ``progress`` callback of
``catalog.scan`` / ``export_catalog`` in the child process (not from the index)."""

from __future__ import annotations

import asyncio

from .conftest import write_tiffs
from .test_jobs import wait_for


async def test_a_scan_job_shows_the_progress_its_scan_reported(api, lab, jp_root_dir) -> None:
    folder = jp_root_dir / "drive3"
    write_tiffs(folder, [f"basalt_{i}.tif" for i in range(3)], seed=9)
    r = await api("jobs", method="POST", body={"kind": "scan", "path": "drive3", "jobs": 1})
    assert r.status == 202, r.body
    phases = set()
    while (state := (await api("jobs", r.json["id"])).json)["status"] not in ("done", "failed"):
        phases.add(state["detail"].get("phase", "queued"))
        await asyncio.sleep(0.05)
    assert state["status"] == "done", state["error"]
    detail = state["detail"]
    # the phases of catalog.progress.Progress, the totals of what the scan read
    assert detail["phase"] == "done" and phases <= {
        "queued",
        "scanning",
        "walking",
        "reading",
        "done",
    }
    assert detail["scan_id"] == state["result"]["scan_id"]
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert detail["bytes"] == detail["bytes_total"] == size
    assert detail["datasets"] == 3 and state["progress"] == 1.0


async def test_an_export_job_shows_the_progress_its_export_reported(api, lab) -> None:
    body = {"kind": "export", "dest": "exports/p", "search": {"q": "sandstone"}}
    r = await api("jobs", method="POST", body=body)
    assert r.status == 202, r.body
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    detail = done["detail"]
    assert detail["phase"] == "done" and detail["datasets"] == 3
    assert detail["bytes"] == detail["bytes_total"] == r.json["args"]["bytes"] > 0


async def test_an_export_job_cancelled_through_the_route_stops_and_resumes(
    api, lab, jp_root_dir, monkeypatch
) -> None:
    """DELETE on a running export job: the child's export stops at its next check (a
    Zarr chunk), keeps what it wrote, and the same export run again finishes it."""
    monkeypatch.setenv("VOXCAT_PAUSE_AT", "export.chunk#2")  # hold the child there
    monkeypatch.setenv("VOXCAT_PAUSE_SECONDS", "4")
    body = {"kind": "export", "dest": "exports/c", "search": {"q": "sandstone"}, "mode": "zarr"}
    r = await api("jobs", method="POST", body=body)
    assert r.status == 202, r.body
    job_id = r.json["id"]
    deadline = asyncio.get_running_loop().time() + 60
    while (await api("jobs", job_id)).json["detail"].get("phase") != "converting":
        assert asyncio.get_running_loop().time() < deadline, "the export never converted"
        await asyncio.sleep(0.05)
    assert (await api("jobs", job_id, method="DELETE")).status == 202
    done = await wait_for(api, job_id)
    assert done["status"] == "cancelled" and done["error"] is None
    dest = jp_root_dir / "exports" / "c"
    assert dest.is_dir() and not (dest / "catalog.yaml").exists()

    monkeypatch.delenv("VOXCAT_PAUSE_AT")
    r = await api("jobs", method="POST", body=body)
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["datasets"] == 3 and (dest / "catalog.yaml").is_file()
