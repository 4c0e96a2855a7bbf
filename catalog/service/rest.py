"""The REST route table of both servers, written once: ``jupyter_ext`` (JupyterLab's
server, its own authentication) and ``voxcat serve`` (:mod:`.server`, accounts of the
index). Each route is a handler *mixin* here; :func:`routes` crosses them with a base
handler class of the server, which supplies who is asking and how a reply is sent::

    class MyBase(tornado.web.RequestHandler):
        service: Service                 # index, jobs, thread pool
        account: User | None             # the account of this request (None: local user)
        def api_url(self, *parts) -> str: ...
        def finish_typed(self, body, content_type) -> None: ...
        @classmethod
        def guard(cls, method): ...      # wraps each get/post/delete (authentication)

    app = tornado.web.Application(routes(MyBase, "/api"))

Routes (under the prefix): ``info``, ``search``, ``facets``, ``complete``, ``drives``, ``datasets/{id}``,
``datasets/{id}/tags`` (GET, POST, DELETE), ``datasets/{id}/notes`` (GET, POST),
``datasets/{id}/slice.png``, ``thumbnails/{id}.png``, ``jobs`` (GET, POST),
``jobs/{job}`` (GET, DELETE); anything else under the prefix is a JSON 404. Errors are
``{"error": message}`` with the status of :func:`.status.status_and_message`. The work
itself is :mod:`.api`, :mod:`.images` and :mod:`.tasks`, run in the service's thread
pool on the catalogue bound to the account.

This module imports tornado, never Jupyter or Panel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tornado.web

from ..errors import BadRequest, NotFound
from ..paths import json_text
from . import api, images, tasks
from .jobs import FINISHED, JobManager
from .params import (
    MAX_LIMIT,
    bool_arg,
    int_arg,
    json_body,
    list_arg,
    multiselect_arg,
    search_args,
    text_list,
)
from .paths import check_id
from .status import status_and_message

if TYPE_CHECKING:  # pragma: no cover
    from ..users import User

T = TypeVar("T")
JSON_TYPE = "application/json; charset=UTF-8"
log = logging.getLogger("voxcat.rest")


class Service:
    """What the REST handlers of one server share: the index, the jobs, the thread
    pool catalogue calls run in, and where jobs may read and write.

    >>> from catalog.service.tasks import Context
    >>> svc = Service(Context(Path("/data/lab.duckdb"), Path("/data")))   # doctest: +SKIP
    >>> svc.info(None)["index"]                                          # doctest: +SKIP
    '/data/lab.duckdb'
    """

    def __init__(self, context: tasks.Context, threads: int = 8) -> None:
        self.context = context
        self.jobs = JobManager()
        self.executor = cf.ThreadPoolExecutor(max(1, threads), thread_name_prefix="voxcat-api")

    @property
    def index(self) -> Path:
        return self.context.index

    def info(self, user: User | None) -> dict[str, Any]:
        """:func:`.api.info` for ``user``, with the number of running jobs it sees."""
        out = api.info(self.index, user)
        out["jobs"] = sum(1 for j in self.jobs.list(user) if j.status not in FINISHED)
        return out

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel every job (scans stop cleanly), wait for them, stop the threads."""
        self.jobs.shutdown(timeout)
        self.executor.shutdown(wait=False, cancel_futures=True)


class RestHandler:
    """What every route shares: JSON replies and errors, query arguments, the thread
    pool. Mixed in before the server's base handler class (see the module)."""

    service: Service
    account: User | None

    # supplied by the base class
    request: Any
    api_url: Callable[..., str]
    finish_typed: Callable[[bytes | str, str], None]

    def query(self) -> dict[str, list[str]]:
        """The query string as ``{name: [values]}``, decoded."""
        get = self.get_query_arguments  # type: ignore[attr-defined]
        return {k: get(k) for k in self.request.query_arguments}

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the service's thread pool (catalogue calls may wait for
        the index lock or read files; the event loop must not)."""
        return await asyncio.wrap_future(self.service.executor.submit(fn, *args))

    def thumbnail_url(self, dataset_id: str) -> str:
        return self.api_url("thumbnails", f"{dataset_id}.png")

    def slice_url(self, dataset_id: str) -> str:
        return self.api_url("datasets", dataset_id, "slice.png")

    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)  # type: ignore[attr-defined]
        # file names that are not UTF-8 go out as \udcXX escapes (json_text)
        self.finish_typed(json_text(data), JSON_TYPE)

    def send_png(self, png: bytes) -> None:
        self.set_header("Cache-Control", "private, max-age=60")  # type: ignore[attr-defined]
        self.finish_typed(png, "image/png")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError):
            message = exc.log_message or exc.reason or self._reason  # type: ignore[attr-defined]
            status = exc.status_code
        elif exc is not None:
            status, message = status_and_message(exc)
        else:
            status, message = status_code, self._reason  # type: ignore[attr-defined]
        self.set_status(status)  # type: ignore[attr-defined]
        if status == 401:
            self.set_header("WWW-Authenticate", "token")  # type: ignore[attr-defined]
        self.finish_typed(json_text({"error": message}), JSON_TYPE)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if value is not None and not isinstance(value, tornado.web.HTTPError):
            status, _ = status_and_message(value)
            if status < 500:
                logger = getattr(self, "log", log)
                logger.info("voxcat %s %s: %s", self.request.method, self.request.path, value)
                return
        super().log_exception(typ, value, tb)  # type: ignore[misc]


class InfoRoute(RestHandler):
    async def get(self) -> None:
        """Which index the server uses, whether it exists, the search fields, the
        dataset columns and the account asking."""
        self.send(await self.blocking(self.service.info, self.account))


class SearchRoute(RestHandler):
    async def get(self) -> None:
        """``?q=words&field=value&sort=-size&offset=0&limit=50``"""
        args = self.query()
        parsed = search_args(args)
        offset = int_arg(args, "offset", 0, 0, 10**9)
        limit = int_arg(args, "limit", 50, 1, MAX_LIMIT)
        page = await self.blocking(
            api.search, self.service.index, self.account, parsed, offset, limit, self.thumbnail_url
        )
        self.send(page)


class FacetsRoute(RestHandler):
    async def get(self) -> None:
        """``?fields=modality,tags&ranges=voxel_size,size&limit=50`` plus search filters;
        ``multiselect=false`` counts filtered fields with their own filter on."""
        args = self.query()
        parsed = search_args(args)
        fields, ranges = list_arg(args, "fields"), list_arg(args, "ranges")
        limit = int_arg(args, "limit", 50, 1, MAX_LIMIT)
        multi = multiselect_arg(args)
        index, user = self.service.index, self.account
        self.send(
            await self.blocking(api.facets, index, user, parsed, fields, ranges, limit, multi)
        )


class CompleteRoute(RestHandler):
    async def get(self) -> None:
        """``?query=modality:C&cursor=10``: what may complete the search box term at
        ``cursor`` (default: the end): field names, or values of the field."""
        args = self.query()
        text = _one_text(args, "query")
        cursor = int_arg(args, "cursor", len(text), 0, len(text))
        assert cursor is not None
        index, user = self.service.index, self.account
        self.send(await self.blocking(api.complete, index, user, text, cursor))


def _one_text(args: dict[str, list[str]], name: str, most: int = 2000) -> str:
    values = args.get(name) or [""]
    if len(values) > 1:
        raise BadRequest(f"give {name!r} once, not {len(values)} times")
    if len(values[0]) > most:
        raise BadRequest(f"{name}: {len(values[0]):,} characters; at most {most:,}")
    return values[0]


class DatasetRoute(RestHandler):
    async def get(self, dataset_id: str) -> None:
        """The dataset's row, tags, notes and lineage graph."""
        urls = {"thumbnail": self.thumbnail_url, "slice": self.slice_url}
        index, user = self.service.index, self.account
        self.send(await self.blocking(api.dataset, index, user, check_id(dataset_id), urls))


class DrivesRoute(RestHandler):
    async def get(self) -> None:
        """``?check=true`` first looks which drives are mounted (curators)."""
        check = bool_arg(self.query(), "check")
        self.send(await self.blocking(api.drives, self.service.index, self.account, check))


class TagsRoute(RestHandler):
    async def get(self, dataset_id: str) -> None:
        """``{"tags": [...]}``"""
        index, user = self.service.index, self.account
        self.send({"tags": await self.blocking(api.tags, index, user, check_id(dataset_id))})

    async def post(self, dataset_id: str) -> None:
        """Body ``{"tags": ["porosity", ...]}``; answers the dataset's tags."""
        tags = text_list(json_body(self.request.body, ["tags"], ["tags"]), "tags")
        index, user = self.service.index, self.account
        self.send(await self.blocking(api.add_tags, index, user, check_id(dataset_id), tags))

    async def delete(self, dataset_id: str) -> None:
        """``?tag=a&tag=b`` (or a body ``{"tags": [...]}``); answers the tags left."""
        if self.request.body:
            tags = text_list(json_body(self.request.body, ["tags"], ["tags"]), "tags")
        else:
            tags = self.get_query_arguments("tag")  # type: ignore[attr-defined]
            if not tags:
                raise BadRequest("name the tags to remove: ?tag=a&tag=b")
        index, user = self.service.index, self.account
        self.send(await self.blocking(api.remove_tags, index, user, check_id(dataset_id), tags))


class NotesRoute(RestHandler):
    async def get(self, dataset_id: str) -> None:
        """``{"notes": [{"text", "user", "time"}, ...]}``, oldest first."""
        index, user = self.service.index, self.account
        self.send(await self.blocking(api.notes, index, user, check_id(dataset_id)))

    async def post(self, dataset_id: str) -> None:
        """Body ``{"text": "..."}``; answers all notes of the dataset."""
        text = json_body(self.request.body, ["text"], ["text"])["text"]
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("text must be a non-empty string")
        index, user = self.service.index, self.account
        reply = await self.blocking(api.add_note, index, user, check_id(dataset_id), text)
        self.send(reply, 201)


class ThumbnailRoute(RestHandler):
    async def get(self, dataset_id: str) -> None:
        """The scan's thumbnail, from the index's cache folder."""
        index, user = self.service.index, self.account
        self.send_png(await self.blocking(api.thumbnail, index, user, check_id(dataset_id)))


class SliceRoute(RestHandler):
    async def get(self, dataset_id: str) -> None:
        """``?dims=y,x&z=57&size=512`` or ``&level=2``; ``percentiles=1,99.5``."""
        req = images.slice_request(self.query())
        index, user = self.service.index, self.account
        out = await self.blocking(images.slice_png, index, user, check_id(dataset_id), req)
        self.set_header("X-Voxcat-Level", str(out.level))  # type: ignore[attr-defined]
        contrast = f"{out.contrast[0]:.6g},{out.contrast[1]:.6g}"
        self.set_header("X-Voxcat-Contrast", contrast)  # type: ignore[attr-defined]
        self.set_header("X-Voxcat-Source", out.source)  # type: ignore[attr-defined]
        self.send_png(out.png)


class JobsRoute(RestHandler):
    async def get(self) -> None:
        """The jobs the account may see (its own; all for an admin), newest first."""
        self.send({"jobs": [j.to_dict() for j in self.service.jobs.list(self.account)]})

    async def post(self) -> None:
        """Start a job: ``{"kind": "scan" | "pyramid" | "export", ...}`` (see tasks)."""
        body = json_body(self.request.body, ["kind"])
        user = self.account
        kind, args, fn = await self.blocking(tasks.plan, self.service.context, user, body)
        job = self.service.jobs.submit(kind, args, fn, None if user is None else user.name)
        self.set_header("Location", self.api_url("jobs", job.id))  # type: ignore[attr-defined]
        self.send(job.to_dict(), 202)


class JobRoute(RestHandler):
    async def get(self, job_id: str) -> None:
        self.send(self.service.jobs.get(job_id, self.account).to_dict())

    async def delete(self, job_id: str) -> None:
        """Cancel a queued or running job (it stops soon after; poll its status)."""
        self.send(self.service.jobs.cancel(job_id, self.account).to_dict(), 202)


class MissingRoute(RestHandler):
    """A JSON 404 for any other path under the prefix (after authentication)."""

    def _missing(self, path: str) -> None:
        raise NotFound(f"no voxcat endpoint {path[:80]!r}; see {self.api_url('info')}")

    async def get(self, path: str) -> None:
        self._missing(path)

    async def post(self, path: str) -> None:
        self._missing(path)

    async def delete(self, path: str) -> None:
        self._missing(path)


_ID = r"(?P<dataset_id>[^/]+)"
#: the route table: path patterns under the prefix and their handler mixins
TABLE: list[tuple[str, type[RestHandler]]] = [
    ("/info", InfoRoute),
    ("/search", SearchRoute),
    ("/facets", FacetsRoute),
    ("/complete", CompleteRoute),
    ("/drives", DrivesRoute),
    (rf"/datasets/{_ID}", DatasetRoute),
    (rf"/datasets/{_ID}/tags", TagsRoute),
    (rf"/datasets/{_ID}/notes", NotesRoute),
    (rf"/datasets/{_ID}/slice\.png", SliceRoute),
    (rf"/thumbnails/{_ID}\.png", ThumbnailRoute),
    ("/jobs", JobsRoute),
    ("/jobs/(?P<job_id>[^/]+)", JobRoute),
    ("/(?P<path>.*)", MissingRoute),
]
_METHODS = ("get", "post", "delete")


def routes(base: type, prefix: str, init: dict[str, Any] | None = None) -> list[tuple]:
    """The route table under ``prefix`` as tornado rules: each handler is a route
    mixin on top of ``base``, its methods wrapped by ``base.guard``; ``init`` (if
    given) is passed to the handlers' ``initialize``.

    >>> [r[0] for r in routes(tornado.web.RequestHandler, "/api")][:2]
    ['/api/info', '/api/search']
    """
    guard = getattr(base, "guard", None) or (lambda method: method)
    out: list[tuple] = []
    for pattern, mixin in TABLE:
        methods = {m: guard(vars(mixin)[m]) for m in _METHODS if m in vars(mixin)}
        name = mixin.__name__.replace("Route", "Handler")
        cls = type(name, (mixin, base), {**methods, "__module__": base.__module__})
        out.append((prefix + pattern, cls) if init is None else (prefix + pattern, cls, init))
    return out
