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
