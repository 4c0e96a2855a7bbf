"""Who is asking: the accounts of the index (:mod:`catalog.users`) on a standalone
server (``voxcat serve``).

- **Token**: ``Authorization: token vxc_...`` (or ``Bearer vxc_...``) on every request;
  such requests need no XSRF token. A browser's first visit may carry ``?token=vxc_...``
  instead: the server then sets the login cookie and redirects to the same URL without
  the token.
- **Password**: the ``/login`` form (user and password, checked with
  :func:`catalog.users.verify_password`) sets a signed cookie (``voxcat_login``,
  HttpOnly, SameSite=Lax), and a second signed cookie ``user`` with the account's name,
  which Panel's ``pn.state.user`` reads. Only the first logs anybody in: Bokeh copies
  the second into the page's session token, where a script could read it, and a
  signature binds each value to its cookie's name. Requests authenticated by
  the cookie that change something (POST, PUT, PATCH, DELETE) must carry the ``_xsrf``
  cookie's value in an ``X-XSRFToken`` header (or an ``_xsrf`` form field).
- The cookie secret is made once per index and kept in its cache folder
  (``lab.voxcat/server-secret``, mode 0600): cookies survive a restart, and deleting
  the file logs everybody out.
- Accounts are looked up on every request (from a cache kept at most
  :data:`ACCOUNT_SECONDS`, and dropped as soon as the index changes), so a disabled
  account is refused at once.
- Failed logins are logged and counted per user name and per address; after
  :data:`MAX_FAILURES` for one name (or :data:`MAX_ADDRESS_FAILURES` from one address,
  which may be a whole lab behind one NAT) in :data:`FAILURE_WINDOW` seconds, further
  attempts are refused (429) until the window has passed.

>>> auth = Authenticator("lab.duckdb")                               # doctest: +SKIP
>>> auth.for_token("vxc_...").name                                   # doctest: +SKIP
'ada'
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import UserNotFound
from ..index import cache_dir
from ..users import TOKEN_PREFIX, User, get_user, hash_token, user_for_token, verify_password

log = logging.getLogger("voxcat.auth")

#: the login cookie (never given to Panel's pages)
COOKIE = "voxcat_login"
#: the account's name for Panel (``pn.state.user``); it logs nobody in
PANEL_COOKIE = "user"
COOKIE_DAYS = 7
#: how long an account looked up is trusted at most (an index change drops it sooner)
ACCOUNT_SECONDS = 2.0
#: failed logins allowed per user name and per address in ``FAILURE_WINDOW`` seconds
MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
FAILURE_WINDOW = 300.0
SECRET_FILE = "server-secret"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cookie_secret(index: str | os.PathLike[str]) -> str:
    """The secret that signs login cookies of the server of ``index``: made once
    (``secrets.token_hex``) in the index's cache folder, readable by its owner only.

    >>> len(cookie_secret("lab.duckdb"))                           # doctest: +SKIP
    64
    """
    folder = cache_dir(index)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        secret = path.read_text().strip()
        if len(secret) >= 32:
            return secret
        raise OSError(f"{path}: the cookie secret is too short; delete the file") from None
    secret = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def _stamp(index: Path) -> tuple:
    """What changes when the index is written (the file or its WAL)."""
    out: list[Any] = []
    for path in (index, Path(str(index) + ".wal")):
        try:
            st = os.stat(path)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class Accounts:
    """Accounts of an index by token and by name, cached for at most ``seconds``
    and only while the index file is unchanged."""

    def __init__(self, index: str | os.PathLike[str], seconds: float = ACCOUNT_SECONDS) -> None:
        self.index = Path(index)
        self.seconds = seconds
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, tuple, User | None]] = {}

    def _cached(self, key: tuple[str, str], look_up: Any) -> User | None:
        now, stamp = time.monotonic(), _stamp(self.index)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.seconds and hit[1] == stamp:
            return hit[2]
        user = look_up()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, stamp, user)
        return user

    def by_token(self, token: str) -> User | None:
        """The active account of an API token, else ``None``."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        return self._cached(
            ("token", hash_token(token)), lambda: user_for_token(self.index, token)
        )

    def by_name(self, name: str) -> User | None:
        """The active account called ``name``, else ``None``."""

        def look_up() -> User | None:
            try:
                user = get_user(self.index, name)
            except UserNotFound:
                return None
            return user if user.active else None

        return self._cached(("name", name), look_up)


class LoginLimiter:
    """Failed logins per user name and per address in a sliding window."""

    def __init__(
        self,
        most: int = MAX_FAILURES,
        most_per_address: int = MAX_ADDRESS_FAILURES,
        window: float = FAILURE_WINDOW,
    ) -> None:
        self.most, self.most_per_address, self.window = most, most_per_address, window
        self._lock = threading.Lock()
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        times = self._failures.setdefault(key, collections.deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until ``name`` from ``address`` may try again (0: now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, most in (
                (f"user:{name}", self.most),
                (f"addr:{address}", self.most_per_address),
            ):
                times = self._recent(key, now)
                if len(times) >= most:
                    wait = max(wait, self.window - (now - times[-most]))
        return wait

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # bounded memory under a flood
                self._failures.clear()
            for key in (f"user:{name}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name}", None)


class Authenticator:
    """The identity of requests to the server of one index (see the module)."""

    def __init__(self, index: str | os.PathLike[str], cookie_path: str = "/") -> None:
        self.index = Path(index)
        self.secret = cookie_secret(index)
        self.cookie_path = cookie_path or "/"
        self.accounts = Accounts(index)
        self.limiter = LoginLimiter()

    # -- credentials of a request (on the event loop: no index access) --------------
    def credentials(self, handler: Any) -> tuple[str, str] | None:
        """``("token", token)`` from the Authorization header, ``("cookie", name)``
        from a valid login cookie, else ``None``. A malformed or unknown scheme in the
        header counts as a (wrong) token, never falls back to the cookie."""
        header = handler.request.headers.get("Authorization", "")
        if header:
            scheme, _, value = header.strip().partition(" ")
            if scheme.lower() in ("token", "bearer"):
                return ("token", value.strip())
            return ("token", "")
        raw = handler.get_signed_cookie(COOKIE, max_age_days=COOKIE_DAYS)
        if raw:
            with contextlib.suppress(UnicodeDecodeError):
                return ("cookie", raw.decode("utf-8"))
        return None

    def account(self, creds: tuple[str, str] | None) -> User | None:
        """The active account of ``credentials`` (reads the index; run it in a thread)."""
        if creds is None:
            return None
        kind, value = creds
        return self.accounts.by_token(value) if kind == "token" else self.accounts.by_name(value)

    def check_password(self, name: str, password: str) -> User | None:
        """The account if ``password`` is its password (scrypt: run it in a thread)."""
        return verify_password(self.index, name, password)

    # -- cookies --------------------------------------------------------------------
    def set_login(self, handler: Any, user: User) -> None:
        """Log ``user`` in on this browser: the signed, HttpOnly, SameSite=Lax cookie."""
        for name in (COOKIE, PANEL_COOKIE):
            handler.set_signed_cookie(
                name,
                user.name,
                expires_days=COOKIE_DAYS,
                path=self.cookie_path,
                httponly=True,
                samesite="Lax",
                secure=handler.request.protocol == "https",
            )
        handler.xsrf_token  # noqa: B018 - sets the _xsrf cookie clients send back

    def clear_login(self, handler: Any) -> None:
        for name in (COOKIE, PANEL_COOKIE):
            handler.clear_cookie(name, path=self.cookie_path)


def without_token(uri: str) -> str:
    """``uri`` without its ``token`` query parameter.

    >>> without_token("/voxcat/search?token=vxc_abc&q=rock")
    '/voxcat/search?q=rock'
    """
    import urllib.parse

    parts = urllib.parse.urlsplit(uri)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, True) if k != "token"]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def safe_next(target: str | None, base_url: str) -> str:
    """Where to go after logging in: a path on this server only (never another site).

    >>> safe_next("//evil.example/", "/voxcat"), safe_next("/voxcat/search?q=a", "/voxcat")
    ('/voxcat/', '/voxcat/search?q=a')
    """
    home = (base_url or "") + "/"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    if base_url and not (target == base_url or target.startswith(base_url + "/")):
        return home
    return target
