"""The parts of ``voxcat serve`` that need no running server: the cookie secret, the
account cache, the login limiter, redirects, the base URL and the command's refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from catalog.cli import build_parser, main
from catalog.index import cache_dir
from catalog.service.auth import (
    Accounts,
    LoginLimiter,
    cookie_secret,
    safe_next,
    without_token,
)
from catalog.service.server import normalize_base_url
from catalog.users import add_user, create_token, disable_user


def test_the_cookie_secret_is_made_once_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    add_user(index, "ada", role="viewer")
    first = cookie_secret(index)
    path = cache_dir(index) / "server-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and cookie_secret(index) == first  # kept across restarts
    path.chmod(0o644)
    assert cookie_secret(index) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short\n")
    with pytest.raises(OSError, match="too short"):
        cookie_secret(index)


def test_accounts_are_looked_up_again_as_soon_as_the_index_changes(tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    add_user(index, "ada", role="curator", groups=["tomo"])
    token = create_token(index, "ada")
    accounts = Accounts(index, seconds=3600)  # the cache alone would keep her for an hour
    assert accounts.by_token(token).name == "ada"
    assert accounts.by_name("ada").groups == ("tomo",)
    assert accounts.by_name("nobody") is None and accounts.by_token("vxc_nope") is None
    disable_user(index, "ada")
    assert accounts.by_token(token) is None
    assert accounts.by_name("ada") is None


def test_the_limiter_counts_per_name_and_per_address() -> None:
    limiter = LoginLimiter(most=3, most_per_address=5, window=60)
    for _ in range(3):
        assert limiter.retry_after("ada", "10.0.0.1") == 0
        limiter.failed("ada", "10.0.0.1")
    assert 0 < limiter.retry_after("ada", "10.0.0.2") <= 60  # the name, from anywhere
    assert limiter.retry_after("bob", "10.0.0.1") == 0
    limiter.failed("bob", "10.0.0.1")
    limiter.failed("cy", "10.0.0.1")
    assert limiter.retry_after("dee", "10.0.0.1") > 0  # the address, any name
    assert limiter.retry_after("dee", "10.0.0.3") == 0
    limiter.succeeded("ada")
    assert limiter.retry_after("ada", "10.0.0.2") == 0


def test_redirects_stay_on_this_server() -> None:
    assert safe_next("https://evil.example/", "") == "/"
    assert safe_next("//evil.example/x", "") == "/"
    assert safe_next("/\\evil.example", "") == "/"
    assert safe_next("/other-app/", "/voxcat") == "/voxcat/"
    assert safe_next("/voxcat/search?q=a", "/voxcat") == "/voxcat/search?q=a"
    assert without_token("/api/info?token=vxc_x") == "/api/info"


@pytest.mark.parametrize("bad", ["/a/../b", "/a?x=1", "/a b", "/a%2F"])
def test_base_urls_are_plain_paths(bad: str) -> None:
    assert normalize_base_url("/voxcat/") == "/voxcat"
    with pytest.raises(ValueError, match="plain path"):
        normalize_base_url(bad)


def test_serve_refuses_a_missing_index_and_a_bad_base_url(tmp_path: Path, capsys) -> None:
    assert build_parser().parse_args(["serve", "--port", "0"]).func.__name__ == "_cmd_serve"
    assert main(["serve", "--index", str(tmp_path / "none.duckdb"), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert "no voxcat index at" in err and "voxcat user add" in err
    index = tmp_path / "lab.duckdb"
    add_user(index, "ada", role="admin")
    assert main(["serve", "--index", str(index), "--base-url", "/a/../b", "--no-browser"]) == 1
    assert "plain path" in capsys.readouterr().err
