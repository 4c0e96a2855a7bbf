"""Lab accounts stored in the index: names, roles, groups, passwords and API tokens.

The embedded catalogue (``open_catalog("lab.duckdb")``) needs no account: its user is
the OS user and sees everything. Accounts are for a lab server (coming next), which
checks a password or a token and then searches with the account's access predicate
(:func:`catalog.catalogue.access.access_predicate`).

- ``role``: ``viewer`` (reads), ``curator`` (reads and annotates), ``admin`` (all,
  including restricted data and accounts);
- ``groups``: a user in group ``G`` sees datasets whose access is
  ``collaborator:G``; a user in the group ``restricted`` sees restricted datasets;
- passwords are kept as ``scrypt$N$r$p$SALT$HASH`` (``hashlib.scrypt``, a random salt
  per password), never the password itself;
- API tokens are random (``secrets.token_urlsafe``), shown once by
  :func:`create_token`; the index keeps only their SHA-256.

Every change appends an audit row (``user.add``, ``user.password``, ``user.token``,
``user.disable``).

>>> add_user("lab.duckdb", "ada", role="curator", groups=["tomo"])   # doctest: +SKIP
User(name='ada', role='curator', groups=('tomo',), created=..., disabled=None)
>>> token = create_token("lab.duckdb", "ada")                       # doctest: +SKIP
>>> user_for_token("lab.duckdb", token).name                         # doctest: +SKIP
'ada'
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable

import duckdb

from .errors import UserDisabledError, UserError, UserExistsError, UserNotFound
from .index import connect, transaction
from .index.store import append_audit, current_user, now

#: the roles an account can have, least to most
ROLES = ("viewer", "curator", "admin")
#: the group whose members see ``restricted`` datasets (admins see them anyway)
RESTRICTED_GROUP = "restricted"
#: scrypt cost parameters of new password hashes (16 MiB, about 50 ms)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
TOKEN_PREFIX = "vxc_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_MAX_PASSWORD = 1024


@dataclasses.dataclass(frozen=True)
class User:
    """One lab account, as read from the index (no password or token in it)."""

    name: str
    role: str
    groups: tuple[str, ...] = ()
    created: dt.datetime | None = None
    disabled: dt.datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the account may log in (not disabled)."""
        return self.disabled is None


def check_name(name: str, what: str = "user name") -> str:
    """``name`` if it is a valid account or group name (letters, digits, ``_.@-``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserError(
            f"{what} {name!r} is not valid: 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def _check_groups(groups: Iterable[str]) -> list[str]:
    if isinstance(groups, str):
        groups = [groups]
    return sorted({check_name(g, "group") for g in groups})


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, with its parameters.

    >>> hash_password("s3cret").startswith("scrypt$16384$8$1$")
    True
    """
    if not isinstance(password, str) or not password:
        raise UserError("a password must be non-empty text")
    if len(password) > _MAX_PASSWORD:
        raise UserError(f"a password is at most {_MAX_PASSWORD} characters")
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password_hash(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`.

    >>> check_password_hash(hash_password("s3cret"), "s3cret")
    True
    """
    if not stored or not isinstance(password, str) or len(password) > _MAX_PASSWORD:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expect = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expect),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, expect)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) of an API token: what the index keeps of it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_COLS = "name, role, groups, created, disabled"


def _user(row: tuple) -> User:
    name, role, groups, created, disabled = row
    return User(name, role, tuple(groups or ()), created, disabled)


def _get(con: duckdb.DuckDBPyConnection, name: str) -> User:
    row = con.execute(f"SELECT {_COLS} FROM users WHERE name = ?", [name]).fetchone()
    if row is None:
        raise UserNotFound(f"no user {name!r} in this index")
    return _user(row)


def add_user(
    index: str | os.PathLike[str],
    name: str,
    *,
    role: str = "viewer",
    groups: Iterable[str] = (),
    password: str | None = None,
) -> User:
    """Create an account; ``password`` is hashed (an account without one logs in only
    with tokens).

    >>> add_user("lab.duckdb", "ada", role="viewer", groups=["tomo"]).role  # doctest: +SKIP
    'viewer'
    """
    check_name(name)
    _check_role(role)
    clean_groups = _check_groups(groups)
    stored = None if password is None else hash_password(password)
    with transaction(index) as con:
        if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise UserExistsError(f"user {name!r} already exists")
        con.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?, NULL)",
            [name, role, clean_groups, stored, now()],
        )
        detail = {"name": name, "role": role, "groups": clean_groups, "password": bool(stored)}
        append_audit(con, [("user.add", None, detail)], current_user())
        return _get(con, name)


def set_password(index: str | os.PathLike[str], name: str, password: str) -> None:
    """Replace the password of account ``name`` (its hash; audited, not the password).

    >>> set_password("lab.duckdb", "ada", "correct horse")   # doctest: +SKIP
    """
    stored = hash_password(password)
    with transaction(index) as con:
        _get(con, name)
        con.execute("UPDATE users SET password = ? WHERE name = ?", [stored, name])
        append_audit(con, [("user.password", None, {"name": name})], current_user())


def verify_password(index: str | os.PathLike[str], name: str, password: str) -> User | None:
    """The account if ``password`` is its password and it is active, else ``None``.

    >>> verify_password("lab.duckdb", "ada", "correct horse").name   # doctest: +SKIP
    'ada'
    """
    row = _read(index, f"SELECT {_COLS}, password FROM users WHERE name = ?", [name])
    if not row:
        # spend the same time as a real check, so timing does not tell names apart
        check_password_hash(_DUMMY_HASH, password)
        return None
    user, stored = _user(row[0][:5]), row[0][5]
    if not check_password_hash(stored, password) or not user.active:
        return None
    return user


def create_token(index: str | os.PathLike[str], name: str) -> str:
    """A new API token for account ``name``: returned once, only its hash is kept.

    >>> create_token("lab.duckdb", "ada")[:4]                  # doctest: +SKIP
    'vxc_'
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = hash_token(token)
    with transaction(index) as con:
        user = _get(con, name)
        if not user.active:
            raise UserDisabledError(f"user {name!r} is disabled")
        con.execute("INSERT INTO tokens VALUES (?, ?, ?)", [digest, name, now()])
        detail = {"name": name, "token": digest[:12]}
        append_audit(con, [("user.token", None, detail)], current_user())
    return token


def user_for_token(index: str | os.PathLike[str], token: str) -> User | None:
    """The active account a token belongs to, else ``None``.

    >>> user_for_token("lab.duckdb", "vxc_not-a-token")        # doctest: +SKIP
    """
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    rows = _read(
        index,
        f"SELECT {', '.join('u.' + c.strip() for c in _COLS.split(','))} "
        "FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = ?",
        [hash_token(token)],
    )
    if not rows:
        return None
    user = _user(rows[0])
    return user if user.active else None


def disable_user(index: str | os.PathLike[str], name: str) -> User:
    """Disable account ``name``: no password or token of it works any more (its
    tokens are deleted). Disabling a disabled account changes nothing.

    >>> disable_user("lab.duckdb", "ada").active               # doctest: +SKIP
    False
    """
    with transaction(index) as con:
        user = _get(con, name)
        if not user.active:
            return user
        con.execute("UPDATE users SET disabled = ? WHERE name = ?", [now(), name])
        con.execute("DELETE FROM tokens WHERE user_name = ?", [name])
        append_audit(con, [("user.disable", None, {"name": name})], current_user())
        return _get(con, name)


def get_user(index: str | os.PathLike[str], name: str) -> User:
    """The account ``name`` (:class:`UserNotFound` if the index has none).

    >>> get_user("lab.duckdb", "ada").role                     # doctest: +SKIP
    'viewer'
    """
    rows = _read(index, f"SELECT {_COLS} FROM users WHERE name = ?", [name])
    if not rows:
        raise UserNotFound(f"no user {name!r} in {os.fspath(index)}")
    return _user(rows[0])


def list_users(index: str | os.PathLike[str]) -> list[User]:
    """All accounts, by name (disabled ones included; see ``User.active``).

    >>> [u.name for u in list_users("lab.duckdb")]             # doctest: +SKIP
    ['ada', 'grace']
    """
    return [_user(r) for r in _read(index, f"SELECT {_COLS} FROM users ORDER BY name", [])]


def _read(index: str | os.PathLike[str], sql: str, params: list) -> list[tuple]:
    """Rows of a read; an index from before accounts existed has none."""
    with connect(index, read_only=True) as con:
        try:
            return con.execute(sql, params).fetchall()
        except duckdb.CatalogException:  # schema < 8, opened read-only: no users table
            return []


_DUMMY_HASH = (
    f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$"
    f"{base64.b64encode(b'0' * 16).decode()}${base64.b64encode(b'0' * 32).decode()}"
)

__all__ = [
    "RESTRICTED_GROUP",
    "ROLES",
    "User",
    "add_user",
    "check_password_hash",
    "create_token",
    "disable_user",
    "get_user",
    "hash_password",
    "list_users",
    "set_password",
    "user_for_token",
    "verify_password",
]
