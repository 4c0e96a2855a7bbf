"""``voxcat serve`` as a client sees it: refusals without an account, token and
password logins, XSRF on cookie requests, roles, what a viewer can never see or
fetch, disabled accounts, the base URL and the login rate limit."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
import requests

from catalog import open_catalog
from catalog.index.audit import list_audit
from catalog.users import disable_user

from ..servers import start_voxcat_serve
from .conftest import (
    BASE,
    HIDDEN_FROM_VERA,
    PASSWORDS,
    Served,
    stop_server,
    write_tiffs,
)

pytestmark = pytest.mark.slow  # each module starts a server (a few seconds)

ENDPOINTS = [
    ("GET", "info", None),
    ("GET", "search", None),
    ("GET", "facets", None),
    ("GET", "datasets/{id}", None),
    ("GET", "datasets/{id}/tags", None),
    ("POST", "datasets/{id}/tags", {"tags": ["x"]}),
    ("DELETE", "datasets/{id}/tags", {"tags": ["x"]}),
    ("GET", "datasets/{id}/notes", None),
    ("POST", "datasets/{id}/notes", {"text": "x"}),
    ("GET", "thumbnails/{id}.png", None),
    ("GET", "datasets/{id}/slice.png", None),
    ("GET", "jobs", None),
    ("POST", "jobs", {"kind": "pyramid", "id": "{id}"}),
    ("GET", "jobs/abc", None),
    ("DELETE", "jobs/abc", None),
    ("GET", "no/such/route", None),
]


def _call(served: Served, method: str, path: str, body, ident: str, **kw) -> requests.Response:
    url = served.api(path.replace("{id}", ident))
    data = None if body is None else json.dumps(body).replace("{id}", ident)
    return requests.request(method, url, data=data, timeout=60, allow_redirects=False, **kw)


def test_every_route_refuses_requests_without_an_account(served: Served) -> None:
    ident = served.ids["rock_0.tif"]
    forged = "voxcat_login=2|1:0|10:1796472219|12:voxcat_login|4:cm9vdA==|" + "0" * 64  # "root"
    for headers in (
        {},
        {"Authorization": "token vxc_not-a-token"},
        {"Authorization": "Basic cm9vdDpyb290"},
        {"Cookie": forged},
    ):
        for method, path, body in ENDPOINTS:
            r = _call(served, method, path, body, ident, headers=headers)
            assert r.status_code == 401, (headers, method, path, r.status_code)
            assert r.headers["Content-Type"].startswith("application/json")
            assert "log in" in r.json()["error"]
    # pages send the browser to the login form (the root to the search page first)
    r = requests.get(served.page(), timeout=30)
    assert r.history[0].headers["Location"] == f"{BASE}/search"
    assert r.url.startswith(served.page("login?next=")) and 'type="password"' in r.text
    # nothing changed
    meta = open_catalog(served.index)[ident].metadata
    assert meta["tags"] == [] and meta["notes"] == []


def test_a_token_header_works_and_a_token_in_the_url_logs_a_browser_in(served: Served) -> None:
    r = served.get("info", user="vera")
    assert r.status_code == 200
    assert r.json()["user"] == {"name": "vera", "role": "viewer"}
    s = requests.Session()
    r = s.get(served.page() + f"?token={served.tokens['cura']}&x=1", allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == f"{BASE}/?x=1"  # the token leaves the address bar
    cookies = r.raw.headers.getlist("Set-Cookie")
    for name in ("voxcat_login=", "user="):
        cookie = next(c for c in cookies if c.startswith(name))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and f"Path={BASE}/" in cookie
    assert s.get(served.api("info"), timeout=30).json()["user"]["name"] == "cura"
    # Panel's "user" cookie (which pages can see) logs nobody in, under either name
    panel_cookie = s.cookies["user"]
    for name in ("user", "voxcat_login"):
        r = requests.get(served.api("info"), cookies={name: panel_cookie}, timeout=30)
        assert r.status_code == 401
    home = s.get(served.page() + "?x=1", timeout=30)  # the search page, logged in
    assert home.status_code == 200 and home.url == served.page("search?x=1")


def test_the_root_opens_the_search_page_with_its_query(served: Served) -> None:
    for root in (served.url, served.url.rstrip("/")):  # /voxcat/ and /voxcat
        r = requests.get(root + "?q=rock&modality=CT&page=2", allow_redirects=False)
        assert r.status_code == 302
        assert r.headers["Location"] == f"{BASE}/search?q=rock&modality=CT&page=2"
        # the _xsrf cookie for scripts, under the base URL (not "/", which other apps
        # on the host use for theirs)
        xsrf = r.headers["Set-Cookie"]
        assert xsrf.startswith("_xsrf=") and f"Path={BASE}/" in xsrf
    # after the login form, the search the address asked for
    s = requests.Session()
    first = s.get(served.page() + "?q=rock", timeout=30)
    assert first.url == served.page("login?next=%2Fvoxcat%2Fsearch%3Fq%3Drock")
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', first.text).group(1)
    nxt = re.search(r'name="next" value="([^"]+)"', first.text).group(1)
    done = s.post(
        served.page("login"),
        data={"_xsrf": xsrf, "user": "vera", "password": PASSWORDS["vera"], "next": nxt},
        timeout=60,
    )
    assert done.status_code == 200 and done.url == served.page("search?q=rock")
    # the API and the login page are where they were
    assert s.get(served.api("info"), timeout=30).json()["user"]["name"] == "vera"
    assert served.get("search", user="vera").json()["total"] > 0
    assert 'type="password"' in requests.get(served.page("login"), timeout=30).text


def test_password_login_and_logout(served: Served) -> None:
    s = requests.Session()
    form = s.get(served.page("login"), timeout=30)
    assert form.status_code == 200 and 'type="password"' in form.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
    bad = s.post(
        served.page("login"),
        data={"_xsrf": xsrf, "user": "vera", "password": "wrong"},
        allow_redirects=False,
    )
    assert bad.status_code == 403 and "Wrong user name or password" in bad.text
    assert s.get(served.api("info"), timeout=30).status_code == 401
    good = s.post(
        served.page("login"),
        data={
            "_xsrf": xsrf,
            "user": "vera",
            "password": PASSWORDS["vera"],
            "next": f"{BASE}/api/info",
        },
        allow_redirects=False,
    )
    assert good.status_code == 302 and good.headers["Location"] == f"{BASE}/api/info"
    assert s.get(served.api("info"), timeout=30).json()["user"]["name"] == "vera"
    s.get(served.page("logout"), timeout=30)
    assert s.get(served.api("info"), timeout=30).status_code == 401


def test_login_refuses_a_form_from_another_site_and_redirects_only_here(served: Served) -> None:
    r = requests.post(
        served.page("login"),
        data={"user": "vera", "password": PASSWORDS["vera"]},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 403 and "Set-Cookie" not in r.headers
    s = requests.Session()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', s.get(served.page("login")).text).group(1)
    r = s.post(
        served.page("login"),
        data={
            "_xsrf": xsrf,
            "user": "vera",
            "password": PASSWORDS["vera"],
            "next": "//x.example/",
        },
        allow_redirects=False,
    )
    assert r.headers["Location"] == f"{BASE}/"


def test_cookie_requests_that_change_something_need_the_xsrf_token(served: Served) -> None:
    ident = served.ids["rock_1.tif"]
    s = served.login("cura")
    r = s.post(served.api("datasets", ident, "tags"), json={"tags": ["no-xsrf"]})
    assert r.status_code == 403 and "_xsrf" in r.json()["error"]
    r = s.delete(served.api("datasets", ident, "tags"), params={"tag": "x"})
    assert r.status_code == 403
    assert "no-xsrf" not in open_catalog(served.index)[ident].metadata["tags"]
    xsrf = s.cookies["_xsrf"]
    r = s.post(
        served.api("datasets", ident, "tags"),
        json={"tags": ["with-xsrf"]},
        headers={"X-XSRFToken": xsrf},
    )
    assert r.status_code == 200 and "with-xsrf" in r.json()["tags"]
    # a token header needs none: browsers never send it on their own
    r = served.post("datasets", ident, "tags", user="cura", json={"tags": ["by-token"]})
    assert r.status_code == 200 and "by-token" in r.json()["tags"]


def test_viewers_read_curators_annotate_and_the_audit_names_them(served: Served) -> None:
    ident = served.ids["rock_2.tif"]
    assert served.get("datasets", ident, user="vera").status_code == 200
    for method, body in (("post", {"tags": ["v"]}), ("delete", {"tags": ["v"]})):
        r = getattr(served, method)("datasets", ident, "tags", user="vera", json=body)
        assert r.status_code == 403, r.text
        assert "viewer" in r.json()["error"] and "curator" in r.json()["error"]
    r = served.post("datasets", ident, "notes", user="vera", json={"text": "hi"})
    assert r.status_code == 403
    r = served.post("jobs", user="vera", json={"kind": "scan", "path": str(served.drive)})
    assert r.status_code == 403
    assert open_catalog(served.index)[ident].metadata["tags"] == []

    r = served.post("datasets", ident, "tags", user="cura", json={"tags": ["porous"]})
    assert r.status_code == 200 and r.json()["tags"] == ["porous"]
    r = served.post("datasets", ident, "notes", user="cura", json={"text": "checked"})
    assert r.status_code == 201
    assert r.json()["notes"][-1]["user"] == "cura"
    rows = list_audit(served.index, dataset=ident, limit=5)
    assert {row["user"] for row in rows if row["action"] in ("tag", "note")} == {"cura"}


def test_jobs_run_for_their_account_and_only_it_sees_them(served: Served) -> None:
    fresh = served.drive / "fresh"
    write_tiffs(fresh, ["fresh_0.tif"], seed=99)
    r = served.post("jobs", user="cura", json={"kind": "scan", "path": "fresh"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["user"] == "cura"
    deadline = time.monotonic() + 120
    while job["status"] not in ("done", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = served.get("jobs", job["id"], user="cura").json()
    assert job["status"] == "done", job
    # the scan ran as the curator: its audit rows name it
    new = open_catalog(served.index).search(name="fresh_0.tif")
    assert len(new) == 1
    scan_rows = list_audit(served.index, dataset=next(iter(new)), limit=3)
    assert scan_rows and {row["user"] for row in scan_rows} == {"cura"}
    # another account does not see it; an admin does
    assert served.get("jobs", job["id"], user="vera").status_code == 404
    assert job["id"] not in {j["id"] for j in served.get("jobs", user="vera").json()["jobs"]}
    assert job["id"] in {j["id"] for j in served.get("jobs", user="root").json()["jobs"]}


def test_a_viewer_never_sees_nor_fetches_hidden_datasets(served: Served) -> None:
    everything = served.get("search", user="root", params={"limit": 100}).json()
    seen = served.get("search", user="vera", params={"limit": 100}).json()
    assert everything["total"] >= len(served.ids)  # (a scan job may have added more)
    assert seen["total"] == everything["total"] - len(HIDDEN_FROM_VERA)
    names = {row["name"] for row in seen["rows"]}
    assert not names & set(HIDDEN_FROM_VERA) and "tomo_scan.tif" in names
    for words in ("patient_ct", "partner_scan", "consent"):
        assert served.get("search", user="vera", params={"q": words}).json()["total"] == 0
    assert served.get("search", user="vera", params={"tags": "patient"}).json()["total"] == 0
    facets = served.get("facets", user="vera", params={"fields": "access,tags,format"}).json()
    assert facets["total"] == seen["total"]
    access = {f["value"]: f["count"] for f in facets["facets"]["access"]}
    assert "restricted" not in access and "collaborator:other" not in access
    assert access == {"public": 1, "collaborator:tomo": 1}  # the others: unset (internal)
    assert sum(f["count"] for f in facets["facets"]["format"]) == seen["total"]
    assert "patient" not in {f["value"] for f in facets["facets"]["tags"]}

    missing = "zzzzzzzzzzzz"
    for name in HIDDEN_FROM_VERA:
        ident = served.ids[name]
        for method, path, body in ENDPOINTS[3:11]:
            r = _call(served, method, path, body, ident, headers=served.auth("vera"))
            assert r.status_code == 404, (name, method, path, r.status_code)
            # the same answer as for an id that does not exist
            r2 = _call(served, method, path, body, missing, headers=served.auth("vera"))
            assert r.json()["error"].replace(ident, missing) == r2.json()["error"]
        r = served.post("jobs", user="vera", json={"kind": "pyramid", "id": ident})
        assert r.status_code == 404
        # a curator outside the group cannot export it either, by id or by search
        dest = f"exports/{name}"
        r = served.post(
            "jobs",
            user="cura",
            json={"kind": "export", "dest": dest, "ids": [ident], "allow_restricted": True},
        )
        assert r.status_code == 400 and f"no dataset with id {ident}" in r.json()["error"]
        assert served.get("datasets", ident, user="root").status_code == 200
    assert served.get("datasets", served.ids["tomo_scan.tif"], user="vera").status_code == 200
    assert served.get("datasets", served.ids["tomo_scan.tif"], user="cura").status_code == 404
    r = served.post(
        "jobs",
        user="cura",
        json={"kind": "export", "dest": "exports/all", "search": {"q": "scan"}},
    )
    assert r.status_code == 202, r.text
    assert r.json()["args"]["datasets"] == 1  # open_scan only: no restricted, no other group


def test_a_disabled_account_is_refused_at_once(served: Served) -> None:
    assert served.get("info", user="gone").status_code == 200
    disable_user(served.index, "gone")
    r = served.get("info", user="gone")
    assert r.status_code == 401
    assert served.get("search", user="gone").status_code == 401


def test_the_base_url_prefixes_every_route(served: Served) -> None:
    root = served.url[: -len(BASE) - 1]
    assert requests.get(root + "/api/info", headers=served.auth("vera")).status_code == 404
    assert requests.get(root + "/login").status_code == 404
    assert served.get("info", user="vera").status_code == 200
    r = requests.get(served.url.rstrip("/"), allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/search"
    r = served.get("datasets", served.ids["rock_0.tif"], user="vera").json()
    assert r["thumbnail"].startswith(f"{BASE}/api/thumbnails/")
    png = requests.get(root + r["thumbnail"], headers=served.auth("vera"))
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    png = requests.get(root + r["slice"], headers=served.auth("vera"))
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"


def test_failed_logins_are_limited_per_user_and_address(served: Served) -> None:
    s = requests.Session()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', s.get(served.page("login")).text).group(1)

    def attempt(password: str, address: str, name: str = "lim") -> requests.Response:
        return s.post(
            served.page("login"),
            data={"_xsrf": xsrf, "user": name, "password": password},
            headers={"X-Real-IP": address},
            allow_redirects=False,
        )

    for _ in range(5):
        assert attempt("guess", "10.9.9.9").status_code == 403
    limited = attempt(PASSWORDS["lim"], "10.9.9.9")  # even the right password now
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # the account is protected from other addresses too, other accounts are not
    assert attempt(PASSWORDS["lim"], "10.1.1.1").status_code == 429
    assert attempt(PASSWORDS["vera"], "10.1.1.1", "vera").status_code == 302
    # many failures from one address (any names) stop logins from it
    for i in range(20):
        assert attempt("guess", "10.7.7.7", f"nobody{i}").status_code == 403
    assert attempt(PASSWORDS["vera"], "10.7.7.7", "vera").status_code == 429
    assert any("login failed: user=lim from=10.9.9.9" in line for line in served.log)


def test_without_a_base_url_the_root_opens_search_and_the_rest_stays(lab_index, tmp_path) -> None:
    index, _, _, tokens = lab_index
    shutil.copytree(index.parent, tmp_path / "index")
    proc, url = start_voxcat_serve(tmp_path / "index" / index.name)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        r = requests.get(url + "?q=rock", allow_redirects=False, timeout=30)
        assert r.status_code == 302 and r.headers["Location"] == "/search?q=rock"
        auth = {"Authorization": f"token {tokens['vera']}"}
        info = requests.get(url + "api/info", headers=auth, timeout=30)
        assert info.status_code == 200 and info.json()["user"]["name"] == "vera"
        assert 'type="password"' in requests.get(url + "login", timeout=30).text
        s = requests.Session()
        page = s.get(url + f"?token={tokens['vera']}&q=rock", timeout=30)
        assert page.status_code == 200 and page.url == url + "search?q=rock"
    finally:
        assert stop_server(proc) == 0
