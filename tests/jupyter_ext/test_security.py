"""Refusals: no token, bad and unknown ids, paths outside the allowed roots, bad
queries, SQL-looking input, a locked index, and unexpected errors kept vague."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from catalog import open_catalog
from catalog.index import connection
from catalog.service import api as api_module
from catalog.service.paths import check_id, resolve_user_path
from jupyter_ext.errors import SAFE_500, BadRequest, Forbidden

ENDPOINTS = [
    ("GET", ("info",), None),
    ("GET", ("search",), None),
    ("GET", ("facets",), None),
    ("GET", ("datasets", "{id}"), None),
    ("POST", ("datasets", "{id}", "tags"), {"tags": ["x"]}),
    ("DELETE", ("datasets", "{id}", "tags"), {"tags": ["porosity"]}),
    ("POST", ("datasets", "{id}", "notes"), {"text": "x"}),
    ("GET", ("thumbnails", "{id}.png"), None),
    ("GET", ("datasets", "{id}", "slice.png"), None),
    ("GET", ("jobs",), None),
    ("POST", ("jobs",), {"kind": "pyramid", "id": "{id}"}),
    ("GET", ("jobs", "abc"), None),
    ("DELETE", ("jobs", "abc"), None),
]


@pytest.mark.parametrize("auth", ["", "token wrong-token"])
async def test_every_endpoint_refuses_requests_without_a_valid_token(api, lab, auth) -> None:
    ident = lab.id("sandstone_0.tif")
    for method, parts, body in ENDPOINTS:
        parts = tuple(p.replace("{id}", ident) for p in parts)
        if isinstance(body, dict):
            body = {
                k: (v.replace("{id}", ident) if isinstance(v, str) else v) for k, v in body.items()
            }
        r = await api(*parts, method=method, body=body, headers={"Authorization": auth})
        assert r.status in (401, 403), (method, parts, r.status)
    # nothing changed
    meta = open_catalog(lab.index)[ident].metadata
    assert meta["tags"] == ["porosity"] and meta["notes"] == []


BAD_IDS = ["ABCDEFGH", "abc", "a" * 33, "abc-def-ghi", "abcdef.png", "abcdef%00"]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_malformed_ids_are_400(api, bad) -> None:
    for parts in (("datasets", bad), ("datasets", bad, "slice.png"), ("thumbnails", f"{bad}.png")):
        r = await api(*parts)
        assert r.status == 400, (parts, r.status)
        assert "not a dataset id" in r.json["error"]
    r = await api("datasets", bad, "tags", method="POST", body={"tags": ["t"]})
    assert r.status == 400


async def test_unknown_ids_are_404(api, lab) -> None:
    missing = "zzzzzzzzzzzz"
    for parts in (("datasets", missing), ("thumbnails", f"{missing}.png")):
        r = await api(*parts)
        assert r.status == 404
        assert missing in r.json["error"]
    r = await api("datasets", missing, "slice.png")
    assert r.status == 404
    r = await api("datasets", missing, "notes", method="POST", body={"text": "hello"})
    assert r.status == 404
    r = await api("jobs", method="POST", body={"kind": "pyramid", "id": missing})
    assert r.status == 404


async def test_dot_dot_in_image_urls_reaches_no_file(api, lab, tmp_path) -> None:
    (tmp_path / "secret.png").write_bytes(b"\x89PNG secret")
    for parts in (("thumbnails", "..", "..", "secret.png"), ("thumbnails", "..%2Fsecret.png")):
        r = await api(*parts)
        assert r.status in (400, 404)
        assert b"PNG secret" not in r.body
        assert r.json["error"]


def test_check_id_pattern() -> None:
    assert check_id("k2x9q4m1abcd") == "k2x9q4m1abcd"
    for bad in ["", "abcde", "a" * 33, "Abcdef", "abc/../def", "abcdef\n", "abc def"]:
        with pytest.raises(BadRequest):
            check_id(bad)


def test_user_paths_stay_in_the_allowed_roots(tmp_path: Path) -> None:
    root, other = tmp_path / "root", tmp_path / "index"
    (root / "drive").mkdir(parents=True)
    other.mkdir()
    (root / "escape").symlink_to("/etc")
    roots = [root, other]
    assert resolve_user_path("drive", root, roots, "p") == (root / "drive").resolve()
    assert resolve_user_path(str(other), root, roots, "p") == other.resolve()
    assert resolve_user_path("new/folder", root, roots, "p") == (root / "new/folder").resolve()
    for bad in ["..", "../index", "drive/../../etc", "drive\\..\\..", "a\x00b", "", 5]:
        with pytest.raises(BadRequest):
            resolve_user_path(bad, root, roots, "p")
    for outside in ["/etc", str(tmp_path), "escape", "escape/passwd"]:
        with pytest.raises(Forbidden):
            resolve_user_path(outside, root, roots, "p")


async def test_job_paths_outside_the_roots_are_refused(api, lab, jp_root_dir) -> None:
    (jp_root_dir / "link").symlink_to("/etc")
    cases = [
        ({"kind": "scan", "path": "../"}, 400),
        ({"kind": "scan", "path": "../../etc"}, 400),
        ({"kind": "scan", "path": "/etc"}, 403),
        ({"kind": "scan", "path": "link"}, 403),
        ({"kind": "scan", "path": "/"}, 403),
        ({"kind": "scan", "path": "no-such-folder"}, 400),
        ({"kind": "export", "dest": "../out", "ids": [lab.id("cell_a.tif")]}, 400),
        ({"kind": "export", "dest": "/tmp/voxcat-elsewhere", "ids": [lab.id("cell_a.tif")]}, 403),
    ]
    for body, status in cases:
        r = await api("jobs", method="POST", body=body)
        assert r.status == status, (body, r.status, r.body)
        assert r.json["error"]
    r = await api("jobs")
    assert r.json["jobs"] == []  # none was started


async def test_unknown_field_is_400_with_a_hint(api, lab) -> None:
    r = await api("search", params={"modalty": "CT"})
    assert r.status == 400
    assert "unknown search field 'modalty'" in r.json["error"]
    assert "modality" in r.json["error"].split("Did you mean:")[1]
    r = await api("facets", params={"fields": "modalty"})
    assert r.status == 400 and "Did you mean" in r.json["error"]
    r = await api("search", params={"sort": "sizee"})
    assert r.status == 400 and "cannot sort by 'sizee'" in r.json["error"]


@pytest.mark.parametrize(
    "params",
    [
        {"voxel_size": "big"},
        {"size": "lots..1GB"},
        {"limit": "0"},
        {"limit": "many"},
        {"offset": "-1"},
        {"text": "sand"},
        {"meta": "x"},
        {"files": "maybe"},
        {"ranges": "notes"},
        [("voxel_size", "1um..2um"), ("voxel_size", "3um")],
    ],
)
async def test_bad_query_values_are_400(api, params) -> None:
    path = "facets" if "ranges" in dict(params) else "search"
    r = await api(path, params=params)
    assert r.status == 400, r.body
    assert r.json["error"]


async def test_sql_looking_input_is_inert(api, lab) -> None:
    r = await api("search", params={"q": "'; DROP TABLE datasets; --"})
    assert r.status == 200 and r.json["total"] == 0
    r = await api("search", params={"name": "x' OR '1'='1"})
    assert r.status == 200 and r.json["total"] == 0
    r = await api("search", params={"name) OR 1=1 --": "x"})
    assert r.status == 400
    r = await api("search", params={"sort": "name; DROP TABLE datasets"})
    assert r.status == 400
    ident = lab.id("cell_a.tif")
    evil = "x'); DELETE FROM tags; --"
    r = await api("datasets", ident, "tags", method="POST", body={"tags": [evil]})
    assert r.status == 200 and evil in r.json["tags"]
    r = await api("search", params={"tags": evil})
    assert [row["id"] for row in r.json["rows"]] == [ident]
    cat = open_catalog(lab.index)
    assert len(cat) == 4
    assert cat[lab.id("sandstone_0.tif")].metadata["tags"] == ["porosity"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", {"tag": "x"}, {"tags": []}, {"tags": [1]}, {"tags": [""]}],
)
async def test_bad_annotation_bodies_are_400(api, lab, body) -> None:
    r = await api("datasets", lab.id("cell_a.tif"), "tags", method="POST", body=body)
    assert r.status == 400
    assert r.json["error"]


async def test_a_locked_index_is_409(api, lab, monkeypatch) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "for _ in range(400):\n"
            "    try:\n"
            "        con = duckdb.connect(sys.argv[1])\n"
            "        break\n"
            "    except duckdb.IOException:\n"
            "        time.sleep(0.05)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
            str(lab.index),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(connection, "DEFAULT_TIMEOUT", 0.3)
        r = await api("search", params={"q": "sandstone"})
        assert r.status == 409
        assert "locked by another process" in r.json["error"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


async def test_unexpected_errors_are_500_without_details(api, monkeypatch) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("secret detail /etc/shadow")

    monkeypatch.setattr(api_module, "search", boom)
    r = await api("search")
    assert r.status == 500
    assert r.json == {"error": SAFE_500}
    assert b"secret" not in r.body and b"Traceback" not in r.body


def test_no_handler_module_builds_sql_from_input() -> None:
    """No module of the server extension holds SQL: ``catalog`` runs every query (job
    progress comes from the scan's and the export's progress callbacks, not from
    polling the index)."""
    folder = Path(api_module.__file__).parent
    for path in folder.glob("*.py"):
        text = path.read_text()
        assert "execute(" not in text and 'f"SELECT' not in text, path.name
