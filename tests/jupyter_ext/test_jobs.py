"""Background jobs: a scan that lands in the index without blocking the server,
cancelling, preview pyramids, exports, and bad job requests."""

from __future__ import annotations

import asyncio
import time

import psutil

from catalog import open_catalog
from catalog.index import connect
from catalog.index.audit import list_audit

from .conftest import write_tiffs


async def wait_for(api, job_id: str, timeout: float = 60.0) -> dict:
    """Poll a job until it has finished; returns its last state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await api("jobs", job_id)
        assert r.status == 200
        if r.json["status"] in ("done", "failed", "cancelled"):
            return r.json
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} still {r.json['status']} after {timeout} s")


async def test_a_scan_job_runs_without_blocking_and_its_datasets_appear(
    api, lab, jp_root_dir
) -> None:
    write_tiffs(jp_root_dir / "newdrive", ["granite_a.tif", "granite_b.tif"], seed=3)
    r = await api("jobs", method="POST", body={"kind": "scan", "path": "newdrive", "jobs": 1})
    assert r.status == 202, r.body
    job = r.json
    assert job["kind"] == "scan" and job["status"] in ("queued", "running")
    assert job["args"]["path"] == str((jp_root_dir / "newdrive").resolve())
    assert r.headers["Location"].endswith(f"/voxcat/api/jobs/{job['id']}")

    # the server answers while the scan runs in its own process
    t0 = time.perf_counter()
    r = await api("search", params={"q": "sandstone"})
    assert r.status == 200 and time.perf_counter() - t0 < 5
    listed = (await api("jobs")).json["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]

    done = await wait_for(api, job["id"])
    assert done["status"] == "done", done["error"]
    assert done["progress"] == 1.0
    assert done["started"] and done["finished"] >= done["started"]
    assert done["result"]["counts"]["added"] == 2
    assert done["detail"]["datasets"] == 2
    assert done["detail"]["bytes"] == done["detail"]["bytes_total"] > 0

    r = await api("search", params={"q": "granite"})
    assert [row["name"] for row in r.json["rows"]] == ["granite_a.tif", "granite_b.tif"]
    new_id = r.json["rows"][0]["id"]
    assert any(a["action"].startswith("scan") for a in list_audit(lab.index, dataset=new_id))
    r = await api("thumbnails", f"{new_id}.png")
    assert r.status == 200


async def test_a_running_scan_cancelled_stops_cleanly(api, lab, jp_root_dir) -> None:
    write_tiffs(jp_root_dir / "big", [f"slab_{i:02d}.tif" for i in range(60)], seed=5)
    r = await api("jobs", method="POST", body={"kind": "scan", "path": "big", "jobs": 1})
    job_id = r.json["id"]
    deadline = time.monotonic() + 30
    while "scan_id" not in (await api("jobs", job_id)).json["detail"]:
        assert time.monotonic() < deadline, "the scan never showed up in the index"
        await asyncio.sleep(0.05)
    r = await api("jobs", job_id, method="DELETE")
    assert r.status == 202
    done = await wait_for(api, job_id)
    assert done["status"] == "cancelled" and done["error"] is None
    with connect(lab.index, read_only=True) as con:
        status, pid = con.execute(
            "SELECT status, pid FROM scans WHERE scan_id = ?", [done["detail"]["scan_id"]]
        ).fetchone()
    # interrupted while processing: recorded at once; while still walking the tree the
    # row stays "running" with a dead pid, which the next scan marks interrupted
    assert status == "interrupted" or (status == "running" and not psutil.pid_exists(pid))
    cat = open_catalog(lab.index)
    assert len(cat.search(name="slab_*")) < 60
    assert len(cat.search(status="failed")) == 0  # no dataset blamed for the interrupt
    r = await api("jobs", job_id, method="DELETE")
    assert r.status == 409 and "already finished" in r.json["error"]


async def test_a_queued_job_cancelled_never_runs(api, lab, jp_root_dir) -> None:
    write_tiffs(jp_root_dir / "d1", ["one.tif"], seed=1)
    first = (await api("jobs", method="POST", body={"kind": "scan", "path": "d1"})).json
    second = (await api("jobs", method="POST", body={"kind": "scan", "path": "d1"})).json
    assert second["status"] == "queued"  # scans of one server run one at a time
    await api("jobs", second["id"], method="DELETE")
    await api("jobs", first["id"], method="DELETE")
    assert (await wait_for(api, second["id"]))["status"] == "cancelled"
    assert (await wait_for(api, second["id"]))["started"] is None


async def test_a_pyramid_job_builds_through_catalog_preview(api, lab) -> None:
    ident = lab.id("sandstone_2.tif")
    r = await api("jobs", method="POST", body={"kind": "pyramid", "id": ident})
    assert r.status == 202
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"] == {"id": ident, "built": False}  # small: read directly
    assert done["progress"] == 1.0


async def test_an_export_job_writes_a_self_contained_folder(api, lab, jp_root_dir) -> None:
    body = {"kind": "export", "dest": "exports/rocks", "search": {"q": "sandstone"}}
    r = await api("jobs", method="POST", body=body)
    assert r.status == 202, r.body
    assert r.json["args"]["datasets"] == 3
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["datasets"] == 3
    dest = jp_root_dir / "exports" / "rocks"
    assert (dest / "catalog.yaml").is_file()
    assert any(a["action"].startswith("export") for a in list_audit(lab.index, limit=20))


async def test_bad_job_requests_are_refused_before_anything_starts(api, lab) -> None:
    ident = lab.id("cell_a.tif")
    cases = [
        ({"kind": "dance"}, 400, "kind must be one of"),
        ({"path": "x"}, 400, "needs 'kind'"),
        ({"kind": "scan", "path": "", "extra": 1}, 400, "not ['extra']"),
        ({"kind": "scan", "path": ".", "jobs": 0}, 400, "jobs must be"),
        ({"kind": "scan", "path": ".", "pattern": 5}, 400, "pattern must be"),
        ({"kind": "pyramid", "id": "../x"}, 400, "not a dataset id"),
        ({"kind": "export", "dest": "out", "ids": [ident], "mode": "zip"}, 400, "mode must"),
        ({"kind": "export", "dest": "out"}, 400, "either 'ids'"),
        ({"kind": "export", "dest": "out", "ids": ["zzzzzzzzzzzz"]}, 400, "no dataset"),
        ({"kind": "export", "dest": "out", "search": {"q": "nothing-like-it"}}, 400, "empty"),
        ({"kind": "export", "dest": "out", "search": {"modalty": "CT"}}, 400, "Did you mean"),
    ]
    for body, status, words in cases:
        r = await api("jobs", method="POST", body=body)
        assert r.status == status, (body, r.body)
        assert words in r.json["error"], r.json
    assert (await api("jobs")).json["jobs"] == []
    r = await api("jobs", "no-such-job")
    assert r.status == 404 and r.json["error"]


async def test_an_export_job_refuses_or_skips_unreadable_datasets(api, lab, jp_root_dir) -> None:
    """The pre-flight check of the export: a dataset that cannot be read fails the job
    with its id and cause, before anything is written; ``skip_unreadable`` exports the
    rest and lists it."""
    from catalog.index import transaction

    bad = lab.id("sandstone_1.tif")
    with transaction(lab.index) as con:  # as a scan records a file it could not read
        con.execute(
            "UPDATE datasets SET status = 'failed', error = 'truncated TIFF' WHERE id = ?", [bad]
        )
    body = {"kind": "export", "dest": "exports/a", "search": {"q": "sandstone"}}
    r = await api("jobs", method="POST", body=body)
    done = await wait_for(api, r.json["id"])
    assert (
        done["status"] == "failed" and bad in done["error"] and "truncated TIFF" in done["error"]
    )
    assert not (jp_root_dir / "exports" / "a").exists()  # nothing left half-written
    body = {**body, "dest": "exports/b", "skip_unreadable": True, "organization": "Rock Lab"}
    r = await api("jobs", method="POST", body=body)
    assert r.status == 202, r.body
    done = await wait_for(api, r.json["id"])
    assert done["status"] == "done", done["error"]
    assert done["result"]["datasets"] == 2 and list(done["result"]["skipped"]) == [bad]
    crate = (jp_root_dir / "exports" / "b" / "ro-crate-metadata.json").read_text()
    assert "Rock Lab" in crate


async def test_a_scan_job_can_ask_for_full_checksums(api, lab, jp_root_dir) -> None:
    """Big non-image files get a sampled checksum unless the job asks for full ones."""
    from catalog.scanner.checksum import SAMPLED_PREFIX, file_checksum

    folder = jp_root_dir / "bigfiles"
    folder.mkdir()
    big = folder / "capture.bin"
    with open(big, "wb") as f:  # sparse: 80 MiB of zeros, one marker byte in the middle
        f.truncate(80 << 20)
        f.seek(40 << 20)
        f.write(b"x")
    sums = {}
    for full in (False, True):
        body = {"kind": "scan", "path": "bigfiles", "jobs": 1}
        if full:
            body["full_checksums"] = True
        r = await api("jobs", method="POST", body=body)
        assert r.status == 202, r.body
        assert r.json["args"].get("full_checksums", False) is full
        done = await wait_for(api, r.json["id"])
        assert done["status"] == "done", done["error"]
        with connect(lab.index, read_only=True) as con:
            ((sums[full],),) = con.execute(
                "SELECT checksum FROM files WHERE path LIKE ?", ["%capture.bin"]
            ).fetchall()
    assert sums[False].startswith(SAMPLED_PREFIX)
    assert sums[True] == file_checksum(big)


def test_a_full_disk_is_507_with_the_message() -> None:
    from catalog.errors import DiskFullError
    from jupyter_ext.errors import status_and_message

    exc = DiskFullError("no space left on device writing /x/lab.duckdb", "nothing was changed")
    assert status_and_message(exc) == (507, str(exc))
