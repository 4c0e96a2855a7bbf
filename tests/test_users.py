"""Lab accounts (catalog.users) and who may see what (catalogue.access.access_predicate),
on real index files: passwords and tokens are kept only as hashes, every change is
audited, old indexes get the tables, and the predicate admits the right datasets."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan
from catalog.catalogue.access import access_predicate
from catalog.cli import main
from catalog.errors import (
    AnnotationError,
    UserDisabledError,
    UserError,
    UserExistsError,
    UserNotFound,
)
from catalog.index import SCHEMA_VERSION, connect
from catalog.index.audit import verify_chain
from catalog.users import (
    User,
    add_user,
    check_password_hash,
    create_token,
    disable_user,
    hash_password,
    hash_token,
    list_users,
    set_password,
    user_for_token,
    verify_password,
)
from tests.conftest import q


@pytest.fixture
def index(tmp_path: Path) -> Path:
    path = tmp_path / "lab.duckdb"
    with connect(path):
        pass
    return path


def _all_text(index: Path) -> str:
    """Every value of the users, tokens and audit tables, as one string."""
    rows = q(index, "SELECT * FROM users") + q(index, "SELECT * FROM tokens")
    rows += q(index, "SELECT * FROM audit")
    return repr(rows)


def test_a_password_is_kept_as_a_salted_scrypt_hash(index: Path) -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$16384$8$1$")  # a random salt each
    assert check_password_hash(one, "correct horse") and check_password_hash(two, "correct horse")
    assert not check_password_hash(one, "correct hors") and not check_password_hash(None, "x")
    assert not check_password_hash("md5$abc", "x") and not check_password_hash("scrypt$1$2", "x")
    with pytest.raises(UserError):
        hash_password("")

    add_user(index, "ada", role="curator", groups=["tomo"], password="correct horse")
    assert "correct horse" not in _all_text(index)
    stored = q(index, "SELECT password FROM users WHERE name = 'ada'")[0][0]
    assert stored.startswith("scrypt$") and check_password_hash(stored, "correct horse")
    user = verify_password(index, "ada", "correct horse")
    assert user == User("ada", "curator", ("tomo",), user.created, None)
    assert verify_password(index, "ada", "wrong") is None
    assert verify_password(index, "nobody", "correct horse") is None

    set_password(index, "ada", "battery staple")
    assert verify_password(index, "ada", "correct horse") is None
    assert verify_password(index, "ada", "battery staple").name == "ada"
    assert "battery staple" not in _all_text(index)
    with pytest.raises(UserNotFound, match="nobody"):
        set_password(index, "nobody", "x")


def test_a_token_is_shown_once_and_only_its_hash_is_kept(index: Path) -> None:
    add_user(index, "ada")  # no password: tokens only
    assert verify_password(index, "ada", "") is None
    token = create_token(index, "ada")
    other = create_token(index, "ada")
    assert token != other and token.startswith("vxc_") and len(token) > 40
    assert sorted(q(index, "SELECT hash, user_name FROM tokens")) == sorted(
        [(hash_token(token), "ada"), (hash_token(other), "ada")]
    )
    assert token not in _all_text(index) and other not in _all_text(index)
    assert user_for_token(index, token).name == "ada"
    assert user_for_token(index, "vxc_" + "A" * 43) is None
    assert user_for_token(index, "not a token") is None
    with pytest.raises(UserNotFound):
        create_token(index, "nobody")

    disabled = disable_user(index, "ada")
    assert not disabled.active and disabled.disabled is not None
    assert user_for_token(index, token) is None and q(index, "SELECT * FROM tokens") == []
    with pytest.raises(UserDisabledError):
        create_token(index, "ada")
    assert disable_user(index, "ada").disabled == disabled.disabled  # no change


def test_accounts_are_checked_listed_and_audited(index: Path) -> None:
    add_user(index, "grace", role="admin", password="pw")
    add_user(index, "ada", role="viewer", groups=["tomo", "geo", "tomo"])
    with pytest.raises(UserExistsError):
        add_user(index, "ada")
    with pytest.raises(UserError, match="role"):
        add_user(index, "bob", role="owner")
    with pytest.raises(UserError, match="user name"):
        add_user(index, "../bob")
    with pytest.raises(UserError, match="group"):
        add_user(index, "bob", groups=["a b"])
    users = list_users(index)
    assert [(u.name, u.role, u.groups, u.active) for u in users] == [
        ("ada", "viewer", ("geo", "tomo"), True),
        ("grace", "admin", (), True),
    ]
    set_password(index, "ada", "pw")
    create_token(index, "ada")
    disable_user(index, "ada")
    actions = q(index, "SELECT action, detail->>'name' FROM audit ORDER BY seq")
    assert actions == [
        ("user.add", "grace"),
        ("user.add", "ada"),
        ("user.password", "ada"),
        ("user.token", "ada"),
        ("user.disable", "ada"),
    ]
    assert verify_chain(index).ok


def test_an_index_from_before_accounts_gets_them_on_open(index: Path) -> None:
    con = duckdb.connect(str(index))
    try:  # what schema 7 looked like: no users or tokens tables
        con.execute("DROP TABLE users")
        con.execute("DROP TABLE tokens")
        con.execute("UPDATE settings SET value = '7' WHERE key = 'schema_version'")
    finally:
        con.close()
    assert list_users(index) == []  # read-only: no tables yet, no accounts
    assert verify_password(index, "ada", "pw") is None
    assert user_for_token(index, "vxc_x") is None
    with connect(index):
        pass
    assert q(index, "SELECT value FROM settings WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    add_user(index, "ada", password="pw")
    assert verify_password(index, "ada", "pw").name == "ada"


@pytest.fixture
def lab(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, str]]:
    """A real index of seven TIFFs, one per access level (and one left unset)."""
    drive = tmp_path / "drive"
    drive.mkdir()
    levels = {
        "pub.tif": "public",
        "old_open.tif": "open",
        "internal.tif": "internal",
        "unset.tif": None,
        "tomo.tif": "collaborator:tomo",
        "geo.tif": "collaborator:geo",
        "patient.tif": "restricted",
    }
    for name in levels:
        vol = rng.integers(0, 4000, (4, 16, 20), dtype=np.uint16)
        tifffile.imwrite(drive / name, vol, imagej=True, metadata={"axes": "ZYX"})
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    for name, level in levels.items():
        if level:
            cat.set(ids[name], access=level)
    return index, ids


def _seen(index: Path, user: User | None, ids: dict[str, str]) -> set[str]:
    sql, params = access_predicate(user)
    names = {v: k for k, v in ids.items()}
    return {names[i] for (i,) in q(index, f"SELECT id FROM datasets WHERE {sql}", params)}


def test_the_access_predicate_admits_what_each_user_may_see(lab) -> None:
    index, ids = lab
    everything = set(ids)
    open_to_lab = {"pub.tif", "old_open.tif", "internal.tif", "unset.tif"}
    assert _seen(index, None, ids) == everything  # the local embedded user, as today
    assert _seen(index, add_user(index, "root", role="admin"), ids) == everything
    assert _seen(index, add_user(index, "v", role="viewer"), ids) == open_to_lab
    tomo = add_user(index, "t", role="viewer", groups=["tomo"])
    assert _seen(index, tomo, ids) == open_to_lab | {"tomo.tif"}
    both = add_user(index, "b", role="curator", groups=["geo", "tomo"])
    assert _seen(index, both, ids) == open_to_lab | {"tomo.tif", "geo.tif"}
    curator = add_user(index, "c", role="curator")
    assert _seen(index, curator, ids) == open_to_lab  # a role alone grants no restricted
    granted = add_user(index, "g", role="curator", groups=["restricted"])
    assert _seen(index, granted, ids) == open_to_lab | {"patient.tif"}
    assert _seen(index, disable_user(index, "root"), ids) == set()
    # with a table alias, as a join would use it
    sql, params = access_predicate(tomo, alias="d")
    rows = q(index, f"SELECT d.id FROM datasets d WHERE {sql}", params)
    assert len(rows) == len(open_to_lab) + 1


def test_access_levels_are_checked_when_set(lab) -> None:
    index, ids = lab
    cat = open_catalog(index)
    cat.set(ids["pub.tif"], access="collaborator:geo-lab.2")
    for bad in ("collaborator:", "collaborator:a b", "secret", "Public"):
        with pytest.raises(AnnotationError, match="not one of"):
            cat.set(ids["pub.tif"], access=bad)


def test_user_commands(index: Path, capsys, monkeypatch) -> None:
    i = ["-i", str(index)]
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\n"))
    assert (
        main(["user", "add", "ada", "--role", "curator", "-g", "tomo", "--password-stdin", *i])
        == 0
    )
    assert "added ada (curator; groups tomo)" in capsys.readouterr().out
    assert verify_password(index, "ada", "s3cret pass").name == "ada"
    assert main(["user", "add", "bob", *i]) == 0
    capsys.readouterr()
    assert main(["user", "token", "ada", *i]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert user_for_token(index, token).name == "ada" and "only once" in err
    assert main(["user", "list", *i]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["ada\tcurator\ttomo\tactive", "bob\tviewer\t-\tactive"]
    assert main(["user", "disable", "bob", *i]) == 0
    capsys.readouterr()
    assert main(["user", "list", *i]) == 0
    assert "bob\tviewer\t-\tdisabled" in capsys.readouterr().out
    assert main(["user", "add", "ada", *i]) == 1
    err = capsys.readouterr().err
    assert "voxcat: error:" in err and "already exists" in err
    assert main(["user", "token", "nobody", *i]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["user", "add", "eve", "--role", "owner", *i])


def test_an_export_carries_no_accounts(lab, tmp_path: Path) -> None:
    from catalog import export_catalog

    index, ids = lab
    add_user(index, "ada", password="pw")
    create_token(index, "ada")
    cat = open_catalog(index)
    export_catalog(cat.search(id=[ids["pub.tif"]]), tmp_path / "out", progress=False)
    out = tmp_path / "out" / "voxcat.duckdb"
    assert len(q(out, "SELECT id FROM datasets")) == 1
    assert q(out, "SELECT * FROM users") == [] and q(out, "SELECT * FROM tokens") == []
