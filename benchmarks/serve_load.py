"""Load benchmark of ``voxcat serve``: a lab of users on one catalogue server.

    python -m benchmarks.serve_load                       # 100,000 datasets, 20 users, 60 s
    python -m benchmarks.serve_load --datasets 10000 --seconds 20   # a quick look

An index of ``--datasets`` generated datasets is built once (the catalogue benchmark's
table, imported; kept in ``--data``), with access levels like a lab's: 5 % restricted,
10 % for the collaborator group ``tomo``, the rest internal. Accounts: ``--users``
viewers (half of them in ``tomo``), two curators and an admin, each with a token.
A real ``voxcat serve`` is started on 127.0.0.1, then, in the same run:

- baseline: one viewer alone sends the searches of the load phase one after another;
- load: for ``--seconds``, every viewer searches and browses like a person (a search
  with words and facet filters and its facet counts, half the time a later page, then
  one dataset's page and thumbnail, as fast as the server answers; then 1-3 s before
  the next search), two curators each tag a dataset they find every 2-4 s, and a scan
  job started through the server adds ``--scan-files`` new TIFF volumes, so the
  server is the one writer while everyone reads.

Printed: requests/s, p50/p95/p99 latency per kind of request and overall, errors
(any status that is not 2xx, any failed request), the ratio of search p95 under load
to the baseline, the scan job's time, and a check that no viewer was ever shown a
dataset outside her access levels. Target: 0 errors and search p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

TARGET_P95 = 0.300
KINDS = ("search", "facets", "dataset", "thumbnail", "tag", "job")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(rows: int, data: Path) -> tuple[Path, set[str], set[str]]:
    """The index (built once) with access levels set; returns it, the ids of the
    restricted datasets (no viewer may see them) and of those for the group ``tomo``
    (only viewers in it may)."""
    from benchmarks.catalogue import prepare as build
    from catalog import open_catalog
    from catalog.index import listing

    index = build(rows, data)
    marker = index.with_suffix(".access-done")
    cat = open_catalog(index)
    if not marker.exists():
        t = time.perf_counter()
        ids = list(cat)
        rng = random.Random(15)
        rng.shuffle(ids)
        n = len(ids)
        cat.set(ids[: n // 20], access="restricted")
        cat.set(ids[n // 20 : n // 20 + n // 10], access="collaborator:tomo")
        marker.write_text("ok")
        print(f"  set access levels in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    if listing.current(index) is None:  # as a server finds it after the last rebuild
        listing.refresh(index, force=True)
        print(f"  listing snapshot built in {time.perf_counter() - t:.1f} s")
    return index, set(cat.search(access="restricted")), set(cat.search(access="collaborator:tomo"))


def accounts(index: Path, users: int) -> dict[str, str]:
    """name -> token for ``users`` viewers, two curators and an admin (made once)."""
    from catalog.users import add_user, create_token, list_users

    have = {u.name for u in list_users(index)}
    wanted = [(f"viewer{i:02d}", "viewer", ["tomo"] if i % 2 else []) for i in range(users)]
    wanted += [("curator1", "curator", []), ("curator2", "curator", []), ("boss", "admin", [])]
    for name, role, groups in wanted:
        if name not in have:
            add_user(index, name, role=role, groups=groups)
    return {name: create_token(index, name) for name, _, _ in wanted}


def write_scan_tree(root: Path, n: int, seed: int) -> None:
    """``n`` small TIFF volumes a scan job adds while the users work."""
    import numpy as np
    import tifffile

    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / f"batch{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        vol = rng.integers(0, 4000, (8, 64, 64), dtype=np.uint16)
        name = "".join(chr(ord("a") + (i // 26**k) % 26) for k in range(4))
        tifffile.imwrite(folder / f"vol_{name}.tif", vol, imagej=True, metadata={"axes": "ZYX"})


class Client:
    """One simulated person: an aiohttp session with a token, timing every request."""

    #: the first few failed answers of each kind, for the report
    failures: ClassVar[dict[str, list[str]]] = {}

    def __init__(self, session: Any, base: str, token: str, log: list) -> None:
        self.session, self.base, self.log = session, base, log
        self.headers = {"Authorization": f"token {token}"}

    async def call(self, kind: str, method: str, path: str, **kw: Any) -> Any:
        t = time.perf_counter()
        status, body = 0, None
        try:
            async with self.session.request(
                method, self.base + path, headers=self.headers, **kw
            ) as r:
                status = r.status
                raw = await r.read()
                if r.content_type == "application/json":
                    body = json.loads(raw)
        except Exception as exc:  # a refused connection, a timeout: an error
            body = {"error": f"{type(exc).__name__}: {exc}"}
        self.log.append((kind, time.perf_counter() - t, status, t))
        if not 200 <= status < 300:
            seen = Client.failures.setdefault(kind, [])
            if len(seen) < 3:
                seen.append(f"{method} {path}: {status} {str(body)[:200]}")
        return status, body


def _search_params(rng: random.Random) -> dict[str, str]:
    from benchmarks.catalogue import WORDS

    params: dict[str, str] = {"limit": "48"}
    roll = rng.random()
    if roll < 0.5:
        params["q"] = rng.choice(WORDS)
    if roll > 0.3:
        params["modality"] = rng.choice(["CT", "MR", "EM", "LM"])
    if rng.random() < 0.3:
        params["data_level"] = rng.choice(["raw", "processed", "segmentation"])
    if rng.random() < 0.2:
        params["acquired"] = f">={rng.randint(2016, 2024)}"
    return params


async def viewer(client: Client, rng: random.Random, until: float, shown: set) -> None:
    """Search, look at facets, page on, open a dataset and its thumbnail; think."""
    while time.perf_counter() < until:
        params = _search_params(rng)
        status, page = await client.call("search", "GET", "/api/search", params=params)
        rows = (page or {}).get("rows", []) if status == 200 else []
        shown.update(r["id"] for r in rows)
        await client.call(
            "facets", "GET", "/api/facets", params={**params, "fields": "modality,format"}
        )
        if rows and rng.random() < 0.5:
            total = page["total"]
            offset = min(total - 1, 48 * rng.randint(1, 20))
            await client.call("search", "GET", "/api/search", params={**params, "offset": offset})
        if rows:
            row = rng.choice(rows)
            await client.call("dataset", "GET", f"/api/datasets/{row['id']}")
            if row.get("thumbnail"):  # imported rows have none
                await client.call("thumbnail", "GET", f"/api/thumbnails/{row['id']}.png")
        await asyncio.sleep(rng.uniform(1.0, 3.0))


async def curator(client: Client, rng: random.Random, until: float) -> None:
    """Find datasets and tag them, one every 2-4 s."""
    from benchmarks.catalogue import TAGS

    while time.perf_counter() < until:
        status, page = await client.call(
            "search", "GET", "/api/search", params=_search_params(rng)
        )
        rows = (page or {}).get("rows", []) if status == 200 else []
        if rows:
            target = rng.choice(rows)["id"]
            body = {"tags": [rng.choice(TAGS)]}
            await client.call("tag", "POST", f"/api/datasets/{target}/tags", json=body)
        await asyncio.sleep(rng.uniform(2.0, 4.0))


async def scanner(client: Client, folder: Path, result: dict) -> None:
    """Start a scan job through the server and wait for it to end."""
    t = time.perf_counter()
    status, job = await client.call(
        "job", "POST", "/api/jobs", json={"kind": "scan", "path": str(folder)}
    )
    if status != 202:
        result["scan"] = f"refused: {status} {job}"
        return
    while True:
        await asyncio.sleep(1.0)
        status, job = await client.call("job", "GET", f"/api/jobs/{job['id']}")
        if status != 200 or job.get("status") in ("done", "failed", "cancelled"):
            break
    result["scan"] = job.get("status") if isinstance(job, dict) else job
    result["scan_seconds"] = time.perf_counter() - t
    result["scan_span"] = (t, time.perf_counter())
    result["scan_summary"] = job.get("result") if isinstance(job, dict) else None


async def _run(base: str, tokens: dict[str, str], args: Any, folder: Path) -> dict:
    import aiohttp

    out: dict[str, Any] = {}
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # baseline: one viewer alone, the same kind of searches, one after another
        base_log: list = []
        alone = Client(session, base, tokens["viewer00"], base_log)
        rng = random.Random(1)
        for _ in range(args.baseline):
            await alone.call("search", "GET", "/api/search", params=_search_params(rng))
        out["baseline"] = base_log
        # load
        log: list = []
        shown: dict[int, set[str]] = {i: set() for i in range(args.users)}
        until = time.perf_counter() + args.seconds
        tasks = [
            viewer(
                Client(session, base, tokens[f"viewer{i:02d}"], log),
                random.Random(i),
                until,
                shown[i],
            )
            for i in range(args.users)
        ]
        tasks += [
            curator(Client(session, base, tokens[name], log), random.Random(100 + k), until)
            for k, name in enumerate(("curator1", "curator2"))
        ]
        scan_result: dict = {}
        tasks.append(scanner(Client(session, base, tokens["curator1"], log), folder, scan_result))
        t0 = time.perf_counter()
        await asyncio.gather(*tasks)
        out["elapsed"] = time.perf_counter() - t0
        out["log"], out["shown"], out["scan"] = log, shown, scan_result
    return out


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _row(name: str, entries: list) -> str:
    times = [e[1] for e in entries]
    errors = sum(1 for e in entries if not 200 <= e[2] < 300)
    return (
        f"  {name:<10} {len(entries):>6} {_pct(times, 50) * 1000:>8.1f} "
        f"{_pct(times, 95) * 1000:>8.1f} {_pct(times, 99) * 1000:>8.1f} {errors:>6}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline", type=int, default=100, help="searches of the baseline")
    parser.add_argument("--scan-files", type=int, default=300)
    parser.add_argument("--data", type=Path, default=Path("/tmp/voxcat-bench/catalogue"))
    args = parser.parse_args(argv)

    t = time.perf_counter()
    index, restricted, tomo = prepare(args.datasets, args.data)
    tokens = accounts(index, args.users)
    folder = args.data / "incoming" / f"run{int(time.time())}"
    write_scan_tree(folder, args.scan_files, seed=int(time.time()) % 1000)
    print(f"prepared {args.datasets:,} datasets in {time.perf_counter() - t:.1f} s: {index}")

    port = _free_port()
    cmd = [sys.executable, "-m", "catalog.cli", "serve", "--index", str(index)]
    cmd += ["--port", str(port), "--address", "127.0.0.1", "--no-browser"]
    cmd += ["--allowed-root", str(args.data)]
    log_path = args.data / "serve.log"
    with open(log_path, "w") as log_file:
        server = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, tokens["boss"], server, log_path)
        out = asyncio.run(_run(base, tokens, args, folder))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)
    _report(out, args, restricted, tomo)


def _wait_up(base: str, token: str, server: subprocess.Popen, log_path: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"voxcat serve exited:\n{log_path.read_text()[-3000:]}")
        try:
            req = urllib.request.Request(
                base + "/api/info", headers={"Authorization": f"token {token}"}
            )
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"voxcat serve did not answer in 120 s:\n{log_path.read_text()[-3000:]}")


def _report(out: dict, args: Any, restricted: set[str], tomo: set[str]) -> None:
    log, elapsed = out["log"], out["elapsed"]
    print(f"\nload: {args.users} viewers + 2 curators + 1 scan job for {elapsed:.1f} s")
    print(
        f"  {'request':<10} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    for kind in KINDS:
        entries = [e for e in log if e[0] == kind]
        if entries:
            print(_row(kind, entries))
    print(_row("all", log))
    print(f"  throughput: {len(log) / elapsed:.1f} requests/s")
    if log:  # when the slow ones came: search p95 per 5 s of the run
        t0 = min(e[3] for e in log)
        spans: dict[int, list[float]] = {}
        for e in log:
            if e[0] == "search":
                spans.setdefault(int((e[3] - t0) // 5), []).append(e[1])
        print(
            "  search p95 per 5 s: "
            + " ".join(f"{_pct(v, 95) * 1000:.0f}" for _, v in sorted(spans.items()))
        )
    base = [e[1] for e in out["baseline"]]
    base_errors = sum(1 for e in out["baseline"] if not 200 <= e[2] < 300)
    print(f"\nbaseline (one viewer alone): {len(base)} searches, errors {base_errors}")
    print(_row("search", out["baseline"]))
    search = [e[1] for e in log if e[0] == "search"]
    p95, b95 = _pct(search, 95), _pct(base, 95)
    print(
        f"  search p95 under load / alone: {p95 * 1000:.1f} / {b95 * 1000:.1f} ms = {p95 / b95:.2f}x"
    )
    scan = out["scan"]
    if "scan_span" in scan:
        lo, hi = scan["scan_span"]
        during = [e[1] for e in log if e[0] == "search" and lo <= e[3] <= hi]
        after = [e[1] for e in log if e[0] == "search" and e[3] > hi]
        print(
            f"  search p95 while the scan job ran: {_pct(during, 95) * 1000:.1f} ms "
            f"({len(during)} searches); after it: {_pct(after, 95) * 1000:.1f} ms ({len(after)})"
        )
    print(
        f"\nscan job: {scan.get('scan')} in {scan.get('scan_seconds', float('nan')):.1f} s "
        f"({args.scan_files} files; {scan.get('scan_summary')})"
    )
    errors = sum(1 for e in log if not 200 <= e[2] < 300) + base_errors
    # viewers with an odd number are in the group tomo; none is in "restricted"
    leaked = sum(
        len(ids & restricted) + (0 if i % 2 else len(ids & tomo))
        for i, ids in out["shown"].items()
    )
    seen = len(set().union(*out["shown"].values()))
    for kind, first in Client.failures.items():
        print(f"  failed {kind}: " + "; ".join(first))
    print(f"datasets shown to viewers: {seen:,}; outside their access levels: {leaked}")
    ok = errors == 0 and p95 < TARGET_P95 and not leaked and scan.get("scan") == "done"
    print(
        f"\ntarget (0 errors, search p95 < {TARGET_P95 * 1000:.0f} ms, nothing leaked, scan done): "
        f"{'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
