"""``voxcat serve``: one long-running catalogue server for a lab.

One process owns the index (it is the one writer; tags, notes and jobs' writes happen
in it or in its child jobs) and serves, under ``base_url``:

- the REST API of :mod:`.rest` under ``/api/``, for accounts of the index (:mod:`.auth`);
- ``/login`` and ``/logout``, and ``/``: a redirect to the search page (the query
  string kept), or, without one, a page saying who is logged in and listing the pages;
- the web app pages (``widgets.webapp.pages(index)``, when installed) as Panel apps,
  where ``pn.state.user`` is the account's name.

It runs on Panel's (Bokeh's) tornado server, with the API and login as extra routes and
a Bokeh auth provider that asks :mod:`.auth` who is logged in. Catalogue calls run in
a thread pool; every request is logged with its account. SIGINT or SIGTERM cancels
the jobs (scans stop cleanly) and stops the server.

>>> lab = Lab(Path("lab.duckdb"), base_url="/voxcat")         # doctest: +SKIP
>>> lab.run(port=8000, address="127.0.0.1")                     # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tornado.web
from tornado.escape import url_escape, xhtml_escape

from ..errors import Unauthenticated
from ..users import TOKEN_PREFIX
from .auth import COOKIE, UNSAFE_METHODS, Authenticator, safe_next, without_token
from .hub import HubIdentity
from .rest import Service, routes
from .tasks import Context

log = logging.getLogger("voxcat.serve")
access_log = logging.getLogger("voxcat.access")

#: the web app's pages: a name (URL path) and a function making a Panel viewable
Pages = dict[str, Callable[[], Any]]
#: the page ``/`` leads to, when the server has it
HOME = "search"


def normalize_base_url(base_url: str | None) -> str:
    """``/voxcat`` from ``voxcat``, ``/voxcat/`` or ``/voxcat``; ``""`` for the root.

    >>> normalize_base_url("voxcat/"), normalize_base_url("/"), normalize_base_url(None)
    ('/voxcat', '', '')
    """
    text = (base_url or "").strip().strip("/")
    if any(c in text for c in "?#%\\ ") or ".." in text.split("/"):
        raise ValueError(f"--base-url {base_url!r}: give a plain path such as /voxcat")
    return "/" + text if text else ""


def find_pages(index: Path) -> Pages:
    """The web app's pages from ``widgets.webapp.pages(index)``; none when that
    module is not installed."""
    try:
        from widgets.webapp import pages
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(("widgets.webapp", "widgets")):
            return {}
        raise
    return dict(pages(index))


class Lab:
    """Everything one ``voxcat serve`` holds: the service (index, jobs, threads),
    the authenticator, the URL prefix and the web app's pages."""

    def __init__(
        self,
        index: Path,
        *,
        base_url: str = "",
        allowed_roots: Sequence[Path | str] = (),
        pages: Pages | None = None,
        threads: int = 8,
        hub: bool = False,
        hub_role: str = "viewer",
        local: bool = False,
        scheduler: str | None = None,
    ) -> None:
        self.index = Path(os.path.abspath(index))
        self.base_url = normalize_base_url(base_url)
        from ..remote import is_remote

        urls = tuple(str(r).rstrip("/") for r in allowed_roots if is_remote(str(r)))
        roots = [
            Path(os.path.abspath(Path(r).expanduser()))
            for r in allowed_roots
            if not is_remote(str(r))
        ]
        root_dir = roots[0] if roots else self.index.parent
        context = Context(self.index, root_dir, tuple(roots[1:]), scheduler, urls)
        self.service = Service(context, threads)
        self.auth = Authenticator(self.index, cookie_path=self.base_url + "/")
        #: as a JupyterHub service: people known by the Hub (:mod:`.hub`)
        self.hub = HubIdentity(self.index, self.auth.accounts, hub_role) if hub else None
        #: on a private Unix socket behind jupyter-server-proxy: every request is the
        #: person running Jupyter (the local user, who sees everything), no login
        self.local = local
        self.login_path = "hub-login" if hub else "login"
        self.pages: Pages = find_pages(self.index) if pages is None else pages

    def url(self, *parts: str) -> str:
        return self.base_url + "/" + "/".join(parts)

    def patterns(self) -> list[tuple]:
        """The tornado rules (relative to the base URL, which Bokeh prepends)."""
        init = {"lab": self}
        return [
            *(self.hub.handlers(self) if self.hub is not None else []),
            *routes(ApiHandler, "/api", init),
            (r"/login", LoginHandler, init),
            (r"/logout", LogoutHandler, init),
            (r"/?", HomeHandler, init),
        ]

    # -- running ------------------------------------------------------------------
    def run(
        self,
        port: int = 8000,
        address: str = "127.0.0.1",
        websocket_origins: Sequence[str] = (),
        open_browser: bool = False,
        trust_proxy_headers: bool = False,
        unix_socket: str | None = None,
    ) -> None:
        """Serve until SIGINT or SIGTERM; prints the URL once listening (or listens on
        ``unix_socket`` instead of ``address:port``).
        ``trust_proxy_headers``: take the client's address and scheme from
        ``X-Forwarded-For``/``X-Real-IP`` and ``X-Forwarded-Proto`` (behind a proxy)."""
        from bokeh.server.auth_provider import NullAuth
        from panel.io.server import get_server

        origins = list(websocket_origins) or [f"{address}:{port}", f"localhost:{port}"]
        where: dict[str, Any] = {"port": port, "address": address}
        if unix_socket is not None:
            # behind jupyter-server-proxy, which checks the browser's origin itself
            where, origins = {"unix_socket": unix_socket}, ["*"]
        server = get_server(
            {name: fn for name, fn in self.pages.items()},
            **where,
            websocket_origin=origins,
            show=False,
            start=False,
            title={name: f"voxcat {name}" for name in self.pages} or None,
            prefix=self.base_url,
            extra_patterns=self.patterns(),
            cookie_secret=self.auth.secret,
            cookie_path=self.base_url + "/",
            auth_provider=NullAuth() if self.local else bokeh_auth(self),
            use_xheaders=trust_proxy_headers,
            # the page's session token carries cookies and headers to Panel: never
            # the login cookie or a token (pn.state.user reads the "user" cookie)
            exclude_cookies=[COOKIE, "_xsrf"],
            exclude_headers=["Authorization", "Cookie"],
        )
        server._tornado.settings["log_function"] = log_request
        # the _xsrf cookie under the base URL only, like the login cookie: at "/" it would
        # meet other apps' _xsrf on the same host (JupyterHub's, single-user servers')
        server._tornado.settings["xsrf_cookie_kwargs"] = {"path": self.base_url + "/"}
        if port == 0 and not websocket_origins and unix_socket is None:
            server._tornado._websocket_origins |= {
                f"{address}:{server.port}",
                f"localhost:{server.port}",
            }
        loop = server.io_loop
        stopping = asyncio.Event()

        async def stop() -> None:
            if stopping.is_set():
                return
            stopping.set()
            log.info("voxcat serve: stopping; cancelling %d jobs", len(self.service.jobs.active()))
            await asyncio.get_running_loop().run_in_executor(None, self.service.shutdown)
            server.stop()
            loop.stop()

        def on_signal(_signum: int, _frame: Any) -> None:
            aio = loop.asyncio_loop  # type: ignore[attr-defined]
            aio.call_soon_threadsafe(lambda: asyncio.ensure_future(stop()))

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        server.start()
        host = "localhost" if address in ("", "0.0.0.0", "::") else address
        url = f"http://{host}:{server.port}{self.base_url}/"
        if unix_socket is not None:
            url = f"unix:{unix_socket} {self.base_url}/"
        print(f"voxcat serve: {self.index} at {url}", flush=True)
        if self.pages:
            print(f"voxcat serve: pages {', '.join(sorted(self.pages))}", flush=True)
        if open_browser:
            import webbrowser

            loop.add_callback(webbrowser.open, url)
        loop.start()
        print("voxcat serve: stopped", flush=True)


def bokeh_auth(lab: Lab) -> Any:
    """A Bokeh auth provider asking :mod:`.auth` who is logged in: Panel pages (and
    their websockets) need a login, ``?token=`` logs a browser in."""
    from bokeh.server.auth_provider import AuthProvider

    class VoxcatAuth(AuthProvider):
        @property
        def get_user_async(self) -> Callable[[Any], Any]:
            async def get_user(handler: Any) -> str | None:
                user = await identify(lab, handler)
                return None if user is None else user.name

            return get_user

        @property
        def login_url(self) -> str:
            return "/" + lab.login_path

        @property
        def logout_url(self) -> str:
            return "/logout"

    return VoxcatAuth()


async def identify(lab: Lab, handler: tornado.web.RequestHandler) -> Any:
    """The account of a request (``None`` if none); a GET with a valid ``?token=``
    sets the login cookie and redirects to the same URL without it (raises
    :class:`tornado.web.Finish`)."""
    loop = asyncio.get_running_loop()
    executor = lab.service.executor
    if lab.local:
        return None
    token = handler.get_query_argument("token", None)
    if token is not None and handler.request.method in ("GET", "HEAD"):
        user = await loop.run_in_executor(executor, lab.auth.accounts.by_token, token)
        if user is not None:
            lab.auth.set_login(handler, user)
            handler._voxcat_user = user.name  # type: ignore[attr-defined]
            handler.redirect(without_token(handler.request.uri or "/"))
            raise tornado.web.Finish()
    creds = lab.auth.credentials(handler)
    if creds is None:
        return None
    if lab.hub is not None and creds[0] == "token" and not creds[1].startswith(TOKEN_PREFIX):
        model = await lab.hub.model_for_token(creds[1])  # a Hub API token
        user = None
        if model is not None:
            user = await loop.run_in_executor(executor, lab.hub.account_for, model)
    else:
        user = await loop.run_in_executor(executor, lab.auth.account, creds)
    if user is not None:
        handler._voxcat_user = user.name  # type: ignore[attr-defined]
        handler._voxcat_via = creds[0]  # type: ignore[attr-defined]
    return user


def log_request(handler: tornado.web.RequestHandler) -> None:
    """The access log: status, method, path (no query: it may hold a token), account,
    address and time."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING
    if status >= 500:
        level = logging.ERROR
    user = getattr(handler, "_voxcat_user", None) or "-"
    request = handler.request
    ms = 1000.0 * request.request_time()
    access_log.log(
        level,
        "%d %s %s user=%s from=%s %.1fms",
        status,
        request.method,
        request.path,
        user,
        request.remote_ip,
        ms,
    )


class LabHandler(tornado.web.RequestHandler):
    """Base of the server's own handlers: the :class:`Lab` and the account."""

    lab: Lab
    account: Any = None

    def initialize(self, lab: Lab) -> None:
        self.lab = lab

    @property
    def service(self) -> Service:
        return self.lab.service

    def finish_typed(self, body: bytes | str, content_type: str) -> None:
        self.set_header("Content-Type", content_type)
        self.finish(body)

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")


class ApiHandler(LabHandler):
    """The REST routes' base: an account by token or login cookie, else 401; cookie
    requests that change something need the XSRF token."""

    async def prepare(self) -> None:
        user = await identify(self.lab, self)
        if user is None and not self.lab.local:
            raise Unauthenticated(
                "log in first: send 'Authorization: token vxc_...' (voxcat user token NAME) "
                f"or log in at {self.lab.url(self.lab.login_path)}"
            )
        if getattr(self, "_voxcat_via", None) == "cookie" and self.request.method in (
            UNSAFE_METHODS
        ):
            self.check_xsrf_cookie()  # a token header needs none: no browser sends it
        self.account = user

    def api_url(self, *parts: str) -> str:
        return self.lab.url("api", *parts)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;
color:#222;line-height:1.5}
form{display:grid;gap:.8rem}label{display:grid;gap:.25rem}
input{font-size:1rem;padding:.45rem;box-sizing:border-box;width:100%}
button{font-size:1rem;padding:.5rem;cursor:pointer}.error{color:#a00}
a{color:#0b5cad}ul{padding-left:1.2rem}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{xhtml_escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


class LoginHandler(LabHandler):
    """``GET /login``: the form; ``POST /login``: check the password, set the cookie."""

    def _form(self, error: str = "", name: str = "", status: int = 200) -> None:
        nxt = safe_next(self.get_argument("next", None), self.lab.base_url)
        message = f'<p class="error" role="alert">{xhtml_escape(error)}</p>' if error else ""
        body = (
            "<h1>voxcat</h1><p>Log in to the catalogue.</p>"
            f"{message}"
            f'<form method="post" action="{xhtml_escape(self.lab.url("login"))}">'
            f"{self.xsrf_form_html()}"
            f'<input type="hidden" name="next" value="{xhtml_escape(nxt)}">'
            '<label>User <input name="user" autocomplete="username" required '
            f'value="{xhtml_escape(name)}" autofocus></label>'
            '<label>Password <input name="password" type="password" '
            'autocomplete="current-password" required></label>'
            '<button type="submit">Log in</button></form>'
        )
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(_page("voxcat: log in", body))

    def get(self) -> None:
        if self.lab.hub is not None:  # the Hub's login page, not a password form
            nxt = url_escape(safe_next(self.get_argument("next", None), self.lab.base_url))
            self.redirect(f"{self.lab.url(self.lab.login_path)}?next={nxt}")
            return
        self._form()

    async def post(self) -> None:
        name = self.get_body_argument("user", "").strip()[:64]
        password = self.get_body_argument("password", "")
        address = self.request.remote_ip or "?"
        wait = self.lab.auth.limiter.retry_after(name, address)
        if wait > 0:
            log.warning("login refused: too many failures (user=%s from=%s)", name, address)
            self.set_header("Retry-After", str(int(wait) + 1))
            self._form(
                f"Too many failed logins; try again in {int(wait) // 60 + 1} minutes.", name, 429
            )
            return
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(
            self.service.executor, self.lab.auth.check_password, name, password
        )
        if user is None:
            self.lab.auth.limiter.failed(name, address)
            log.warning("login failed: user=%s from=%s", name, address)
            self._form("Wrong user name or password.", name, 403)
            return
        self.lab.auth.limiter.succeeded(name)
        self.lab.auth.set_login(self, user)
        self._voxcat_user = user.name
        log.info("login: user=%s from=%s", user.name, address)
        self.redirect(safe_next(self.get_body_argument("next", None), self.lab.base_url))

    def prepare(self) -> None:
        if self.request.method == "POST":
            self.check_xsrf_cookie()  # no login by another site's form


class LogoutHandler(LabHandler):
    """``/logout``: forget the login cookie, back to the login page."""

    def get(self) -> None:
        self.lab.auth.clear_login(self)
        if self.lab.hub is not None:  # out of the Hub too, or its session logs back in
            hub_auth = self.lab.hub.hub_auth
            hub_auth.clear_cookie(self)
            self.redirect(hub_auth.hub_host + hub_auth.hub_prefix + "logout")
            return
        self.redirect(self.lab.url(self.lab.login_path))

    def post(self) -> None:
        self.get()  # logging out needs no XSRF proof


class HomeHandler(LabHandler):
    """``/``: the search page, with the query string (``/?q=rock`` opens
    ``/search?q=rock``); a server without it (no web app installed, or other pages)
    shows who is logged in, its pages and the API instead."""

    async def get(self) -> None:
        self.xsrf_token  # noqa: B018 - the _xsrf cookie for scripts that POST
        if HOME in self.lab.pages:
            if self.get_query_argument("token", None) is not None:
                # a valid ?token= logs the browser in here and comes back without it
                await identify(self.lab, self)
            query = self.request.query
            self.redirect(self.lab.url(HOME) + (f"?{query}" if query else ""))
            return
        user = await identify(self.lab, self)
        if user is None and not self.lab.local:
            target = url_escape(self.request.uri or self.lab.url(""), plus=False)
            self.redirect(f"{self.lab.url(self.lab.login_path)}?next={target}")
            return
        links = "".join(
            f'<li><a href="{xhtml_escape(self.lab.url(name))}">{xhtml_escape(name)}</a></li>'
            for name in sorted(self.lab.pages)
        )
        pages = (
            f"<h2>Pages</h2><ul>{links}</ul>"
            if links
            else "<p>No web app pages: <code>widgets.webapp</code> is not installed here.</p>"
        )
        api = self.lab.url("api", "info")
        who = (
            "opened by the local user (no login)."
            if user is None
            else f"logged in as <b>{xhtml_escape(user.name)}</b> ({xhtml_escape(user.role)}). "
            f'<a href="{xhtml_escape(self.lab.url("logout"))}">Log out</a>'
        )
        body = (
            f"<h1>voxcat</h1><p>Catalogue <code>{xhtml_escape(self.lab.index.name)}</code>; "
            f"{who}</p>{pages}<h2>REST API</h2><p>"
            f'<a href="{xhtml_escape(api)}"><code>{xhtml_escape(api)}</code></a></p>'
        )
        self.set_header("Cache-Control", "no-store")
        self.finish(_page("voxcat", body))


def serve(
    index: Path,
    *,
    port: int = 8000,
    address: str = "127.0.0.1",
    base_url: str = "",
    allowed_roots: Sequence[Path | str] = (),
    websocket_origins: Sequence[str] = (),
    open_browser: bool = False,
    trust_proxy_headers: bool = False,
    hub: bool = False,
    hub_role: str = "viewer",
    unix_socket: str | None = None,
    scheduler: str | None = None,
) -> int:
    """Run ``voxcat serve`` (see the module) until stopped; returns the exit status.
    ``hub``: as a JupyterHub service (:mod:`.hub`); ``unix_socket``: listen there, for
    the person who owns it, with no login (behind jupyter-server-proxy); ``scheduler``:
    the Dask scheduler scan and verify jobs run on (default ``$VOXCAT_DASK_SCHEDULER``, else
    Dask's configuration, else local worker processes)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    for noisy in ("tornado.access", "bokeh.server.tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.monotonic()
    lab = Lab(
        index,
        base_url=base_url,
        allowed_roots=allowed_roots,
        hub=hub,
        hub_role=hub_role,
        local=unix_socket is not None,
        scheduler=scheduler,
    )
    log.info("voxcat serve: index %s ready in %.1fs", lab.index, time.monotonic() - started)
    lab.run(port, address, websocket_origins, open_browser, trust_proxy_headers, unix_socket)
    return 0
