"""The HTTP side of the remote catalogue: finding the REST API behind a URL, sending
requests with the token, and turning every failure into a named error.

Only the standard library is used (``urllib``), so the client adds no dependency.

>>> api_candidates("http://lab:8000")
['http://lab:8000/api', 'http://lab:8000/voxcat/api']
>>> api_candidates("https://hub.example.org/user/ada/voxcat/api/")
['https://hub.example.org/user/ada/voxcat/api']
>>> api_candidates("http://127.0.0.1:8888/lab/tree/a.ipynb")[-1]
'http://127.0.0.1:8888/voxcat/api'
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import (
    BadRequest,
    CatalogError,
    Conflict,
    DatasetNotFound,
    Forbidden,
    NotAVoxcatServer,
    NotFound,
    PayloadTooLarge,
    RemoteQueryError,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
    ServiceError,
    Unauthenticated,
)

#: where the token comes from when ``open_remote`` is given none
TOKEN_ENV = "VOXCAT_TOKEN"
#: seconds to wait for a connection and for each answer, unless told otherwise
DEFAULT_TIMEOUT = 30.0
#: routes whose 400 answers are search errors (:class:`RemoteQueryError`)
_QUERY_ROUTES = ("search", "facets")

Params = Sequence[tuple[str, str]]


def api_candidates(url: str) -> list[str]:
    """The API base URLs to try for a server URL, in order: ``<url>/api`` (``voxcat
    serve``, also behind ``--base-url``) then ``<url>/voxcat/api`` (a Jupyter server
    with the voxcat extension); a URL that already ends in ``/api`` is used as it is."""
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    if base.endswith("/api"):
        return [base]
    out = [f"{base}/api", f"{base}/voxcat/api"]
    page = re.search(r"/(lab|tree|notebooks)(/.*)?$", parts.path)
    if page:  # a JupyterLab page's URL, as Jupyter prints it: the server is above it
        root = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path[: page.start()], "", "")
        )
        out.append(f"{root}/voxcat/api")
    return out


def split_url(url: str) -> tuple[str, str | None]:
    """``url`` without its query and fragment, and the ``token`` its query holds (the
    form Jupyter prints: ``http://127.0.0.1:8888/?token=...``)."""
    if not isinstance(url, str):
        raise NotAVoxcatServer(f"open_remote takes the server's URL as text, not {url!r:.60}")
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise NotAVoxcatServer(
            f"{url!r:.200} is not an http(s) URL; give the catalogue server's address, "
            "e.g. open_remote('http://lab-server:8000')"
        )
    tokens = urllib.parse.parse_qs(parts.query).get("token")
    clean = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return clean, (tokens[0] if tokens else None)


class Server:
    """One catalogue server's REST API: its base URL (``.../api``), the token sent as
    ``Authorization: token <token>``, the timeout, and what ``info`` said.

    >>> server = Server.discover("http://127.0.0.1:8000", token="vxc_...")  # doctest: +SKIP
    >>> server.get("search", [("q", "sandstone"), ("limit", "1")])["total"]  # doctest: +SKIP
    """

    def __init__(
        self, api: str, token: str | None, timeout: float, info: dict[str, Any] | None = None
    ) -> None:
        self.api = api.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.info: dict[str, Any] = info or {}

    @classmethod
    def discover(
        cls, url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Server:
        """The voxcat REST API behind ``url`` (see :func:`api_candidates`), checked by
        asking its ``info`` route; the token defaults to the URL's ``?token=`` and then
        to ``$VOXCAT_TOKEN``."""
        clean, url_token = split_url(url)
        token = token or url_token or os.environ.get(TOKEN_ENV) or None
        tried = []
        for api in api_candidates(clean):
            server = cls(api, token, timeout)
            try:
                info = server.get("info")
            except (NotFound, NotAVoxcatServer):
                tried.append(f"{api}/info")
                continue
            except Forbidden as exc:  # Jupyter answers a bad token with 403
                raise server.unauthenticated(str(exc), 403) from None
            if isinstance(info, dict) and "version" in info and "columns" in info:
                server.info = info
                return server
            tried.append(f"{api}/info")
        raise NotAVoxcatServer(
            f"no voxcat catalogue server at {clean}: tried {' and '.join(tried)}. Give the "
            "URL `voxcat serve` prints (with its --base-url), or a Jupyter server's URL "
            "when it runs the voxcat extension"
        )

    # -- requests -----------------------------------------------------------------------
    def url(self, route: str, params: Params = ()) -> str:
        """The absolute URL of ``route`` (relative to the API base) with ``params``."""
        quoted = "/".join(urllib.parse.quote(p, safe="") for p in route.split("/"))
        query = urllib.parse.urlencode(list(params))
        return f"{self.api}/{quoted}" + (f"?{query}" if query else "")

    def absolute(self, path: str) -> str:
        """A URL the server gave as a path (``/voxcat/api/thumbnails/x.png``) made
        absolute."""
        return urllib.parse.urljoin(self.api + "/", path)

    def get(self, route: str, params: Params = ()) -> Any:
        """``GET`` a JSON route."""
        return self._json(self.send("GET", route, params), f"GET {route}")

    def post(self, route: str, body: Mapping[str, Any]) -> Any:
        """``POST`` a JSON body to a route; its JSON answer."""
        return self._json(self.send("POST", route, body=body), f"POST {route}")

    def delete(self, route: str, params: Params = ()) -> Any:
        """``DELETE`` a route; its JSON answer."""
        return self._json(self.send("DELETE", route, params), f"DELETE {route}")

    def _json(self, body: bytes, what: str) -> Any:
        try:
            return json.loads(body)
        except ValueError:  # a login page or a proxy's page, not the REST API
            start = body[:80].decode("utf-8", "replace")
            raise NotAVoxcatServer(
                f"{self.api}: {what} answered with something else than JSON ({start!r}); "
                "is this the voxcat REST API?"
            ) from None

    def send(
        self,
        method: str,
        route: str,
        params: Params = (),
        body: Mapping[str, Any] | None = None,
        *,
        url: str | None = None,
    ) -> bytes:
        """One request; the answer's body, or the named error for a failure."""
        target = url or self.url(route, params)
        headers = {"Accept": "application/json", "User-Agent": _agent()}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(target, data=data, headers=headers, method=method)
        what = f"{method} {target.split('?', 1)[0]}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise self.error(exc.code, exc.reason, _read(exc), route, what) from None
        except urllib.error.URLError as exc:
            raise self.unreachable(exc.reason, what) from None
        except TimeoutError:
            raise self.unreachable(TimeoutError(), what) from None
        except (OSError, http.client.HTTPException) as exc:  # reset while reading
            raise self.unreachable(exc, what) from None

    # -- errors -------------------------------------------------------------------------
    def unreachable(self, reason: object, what: str) -> ServerUnreachable:
        if isinstance(reason, TimeoutError):
            return ServerTimeout(
                f"the catalogue server at {self.api} did not answer {what} within "
                f"{self.timeout:g} s; it may be busy or stuck (open_remote(url, timeout=...) "
                "waits longer)"
            )
        if isinstance(reason, ConnectionRefusedError):
            cause = "connection refused: no server is listening there"
        elif isinstance(reason, socket.gaierror):
            cause = f"unknown host ({reason.strerror or reason})"
        elif isinstance(reason, ssl.SSLError):
            cause = f"TLS failed ({reason})"
        else:
            cause = str(reason) or type(reason).__name__
        return ServerUnreachable(
            f"cannot reach the catalogue server at {self.api}: {cause}. Is it running, and "
            "is this its address? (start one with `voxcat serve --index lab.duckdb`)"
        )

    def unauthenticated(self, message: str, status: int) -> Unauthenticated:
        given = "the token given was not accepted" if self.token else "no token was given"
        return Unauthenticated(
            f"the catalogue server at {self.api} refused the request ({status}: {message}): "
            f"{given}. Pass open_remote(url, token=...) or set ${TOKEN_ENV}; `voxcat user "
            "token NAME` makes a token for `voxcat serve`, a Jupyter server prints its own"
        )

    def error(self, status: int, reason: str, body: bytes, route: str, what: str) -> CatalogError:
        """The named error for an HTTP error answer."""
        message = _message(body) or reason or f"HTTP {status}"
        if status == 400:
            cls = RemoteQueryError if route in _QUERY_ROUTES else BadRequest
            return cls(message)
        if status == 401:
            return self.unauthenticated(message, status)
        if status == 403:
            return Forbidden(message)
        if status == 404:
            if route.startswith("datasets/") and _is_json(body):
                return DatasetNotFound(message)
            if not _is_json(body):  # no voxcat route here (a web page's 404)
                return NotAVoxcatServer(f"{what}: 404, not a voxcat API")
            return NotFound(message)
        if status == 409:
            return Conflict(message)
        if status == 413:
            return PayloadTooLarge(message)
        if status >= 500:
            return ServerError(
                f"the catalogue server at {self.api} failed on {what} ({status} {reason}): "
                f"{message}",
                status,
            )
        out = ServiceError(f"{what}: {status} {reason}: {message}")
        out.status = status
        return out

    def __repr__(self) -> str:
        return f"<voxcat server {self.api}>"


def _agent() -> str:
    from .. import __version__

    return f"voxcat-client/{__version__}"


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() or b""
    except (OSError, ValueError):
        return b""


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _message(body: bytes) -> str:
    """The server's message: ``{"error": ...}`` (voxcat), ``{"message": ...}``
    (Jupyter), else the start of a short text answer."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return "" if text.startswith("<") or len(text) > 300 else text
    if isinstance(data, dict):
        for key in ("error", "message", "reason", "detail"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
    return ""


__all__ = ["DEFAULT_TIMEOUT", "TOKEN_ENV", "Server", "api_candidates", "split_url"]
