"""The REST route table under ``/voxcat/api/``: thin handlers over :mod:`.api`,
:mod:`.images` and :mod:`.tasks`.

Every handler requires Jupyter's authentication (and authorisation on the
``voxcat`` resource), runs catalogue work in a thread pool, and answers errors as
``{"error": message}`` with the status from :func:`.errors.status_and_message`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join

from catalog.errors import BadRequest, NotFound
from catalog.paths import json_text
from catalog.service import api, images
from catalog.service.params import (
    MAX_LIMIT,
    int_arg,
    json_body,
    list_arg,
    multiselect_arg,
    search_args,
    text_list,
)
from catalog.service.paths import check_id
from catalog.service.status import status_and_message
from catalog.service.tasks import plan

if TYPE_CHECKING:  # pragma: no cover
    from .app import VoxcatExtension

T = TypeVar("T")
PREFIX = "/voxcat/api"
JSON_TYPE = "application/json; charset=UTF-8"


class VoxcatHandler(ExtensionHandlerMixin, APIHandler):
    """Base of the voxcat handlers: JSON errors, query arguments, a thread pool."""

    auth_resource = "voxcat"

    @property
    def voxcat(self) -> VoxcatExtension:
        return self.extensionapp  # type: ignore[return-value]

    def query(self) -> dict[str, list[str]]:
        """The query string as ``{name: [values]}``, decoded."""
        return {k: self.get_query_arguments(k) for k in self.request.query_arguments}

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the extension's thread pool (catalogue calls may wait for
        the index lock or read files; the event loop must not)."""
        return await asyncio.wrap_future(self.voxcat.executor.submit(fn, *args))

    def url(self, *parts: str) -> str:
        return url_path_join(self.base_url, PREFIX, *parts)

    def thumbnail_url(self, dataset_id: str) -> str:
        return self.url("thumbnails", f"{dataset_id}.png")

    def slice_url(self, dataset_id: str) -> str:
        return self.url("datasets", dataset_id, "slice.png")

    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        # file names that are not UTF-8 go out as \udcXX escapes (json_text)
        self.finish(json_text(data), set_content_type=JSON_TYPE)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError):
            message = exc.log_message or exc.reason or self._reason
            status = exc.status_code
        elif exc is not None:
            status, message = status_and_message(exc)
        else:
            status, message = status_code, self._reason
        self.set_status(status)
        self.finish(json_text({"error": message}), set_content_type=JSON_TYPE)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if value is not None and not isinstance(value, tornado.web.HTTPError):
            status, _ = status_and_message(value)
            if status < 500:
                self.log.info("voxcat %s %s: %s", self.request.method, self.request.path, value)
                return
        super().log_exception(typ, value, tb)


class InfoHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """Which index the server uses, whether it exists, and the search fields."""
        self.send(await self.blocking(self.voxcat.info))


class SearchHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """``?q=words&field=value&sort=-size&offset=0&limit=50``"""
        args = self.query()
        parsed = search_args(args)
        offset = int_arg(args, "offset", 0, 0, 10**9)
        limit = int_arg(args, "limit", 50, 1, MAX_LIMIT)
        index = self.voxcat.index_path
        page = await self.blocking(api.search, index, parsed, offset, limit, self.thumbnail_url)
        self.send(page)


class FacetsHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """``?fields=modality,tags&ranges=voxel_size,size&limit=50`` plus search filters;
        ``multiselect=false`` counts filtered fields with their own filter on."""
        args = self.query()
        parsed = search_args(args)
        fields, ranges = list_arg(args, "fields"), list_arg(args, "ranges")
        limit = int_arg(args, "limit", 50, 1, MAX_LIMIT)
        multi = multiselect_arg(args)
        index = self.voxcat.index_path
        self.send(await self.blocking(api.facets, index, parsed, fields, ranges, limit, multi))


class DatasetHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, dataset_id: str) -> None:
        """The dataset's row, tags, notes and lineage graph."""
        urls = {"thumbnail": self.thumbnail_url, "slice": self.slice_url}
        index = self.voxcat.index_path
        self.send(await self.blocking(api.dataset, index, check_id(dataset_id), urls))


class TagsHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, dataset_id: str) -> None:
        """Body ``{"tags": ["porosity", ...]}``; answers the dataset's tags."""
        tags = text_list(json_body(self.request.body, ["tags"], ["tags"]), "tags")
        index = self.voxcat.index_path
        self.send(await self.blocking(api.add_tags, index, check_id(dataset_id), tags))

    @tornado.web.authenticated
    @authorized
    async def delete(self, dataset_id: str) -> None:
        """``?tag=a&tag=b`` (or a body ``{"tags": [...]}``); answers the tags left."""
        if self.request.body:
            tags = text_list(json_body(self.request.body, ["tags"], ["tags"]), "tags")
        else:
            tags = self.get_query_arguments("tag")
            if not tags:
                raise BadRequest("name the tags to remove: ?tag=a&tag=b")
        index = self.voxcat.index_path
        self.send(await self.blocking(api.remove_tags, index, check_id(dataset_id), tags))


class NotesHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, dataset_id: str) -> None:
        """Body ``{"text": "..."}``; answers all notes of the dataset."""
        text = json_body(self.request.body, ["text"], ["text"])["text"]
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("text must be a non-empty string")
        index = self.voxcat.index_path
        self.send(await self.blocking(api.add_note, index, check_id(dataset_id), text), 201)


class ImageHandler(VoxcatHandler):
    def send_png(self, png: bytes) -> None:
        self.set_header("Cache-Control", "private, max-age=60")
        self.finish(png, set_content_type="image/png")  # APIHandler's finish sets the type


class ThumbnailHandler(ImageHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, dataset_id: str) -> None:
        """The scan's thumbnail, from the index's cache folder."""
        index = self.voxcat.index_path
        self.send_png(await self.blocking(api.thumbnail, index, check_id(dataset_id)))


class SliceHandler(ImageHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, dataset_id: str) -> None:
        """``?dims=y,x&z=57&size=512`` or ``&level=2``; ``percentiles=1,99.5``."""
        req = images.slice_request(self.query())
        index = self.voxcat.index_path
        out = await self.blocking(images.slice_png, index, check_id(dataset_id), req)
        self.set_header("X-Voxcat-Level", str(out.level))
        self.set_header("X-Voxcat-Contrast", f"{out.contrast[0]:.6g},{out.contrast[1]:.6g}")
        self.set_header("X-Voxcat-Source", out.source)
        self.send_png(out.png)


class JobsHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        """All jobs of this server, newest first."""
        self.send({"jobs": [j.to_dict() for j in self.voxcat.jobs.list()]})

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        """Start a job: ``{"kind": "scan" | "pyramid" | "export", ...}`` (see tasks)."""
        body = json_body(self.request.body, ["kind"])
        kind, args, fn = await self.blocking(plan, self.voxcat.context(), body)
        job = self.voxcat.jobs.submit(kind, args, fn)
        self.set_header("Location", self.url("jobs", job.id))
        self.send(job.to_dict(), 202)


class JobHandler(VoxcatHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.send(self.voxcat.jobs.get(job_id).to_dict())

    @tornado.web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        """Cancel a queued or running job (it stops soon after; poll its status)."""
        self.send(self.voxcat.jobs.cancel(job_id).to_dict(), 202)


class MissingHandler(VoxcatHandler):
    """A JSON 404 for any other path under the prefix (after authentication)."""

    def _missing(self, path: str) -> None:
        raise NotFound(f"no voxcat endpoint {path[:80]!r}; see {self.url('info')}")

    @tornado.web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        self._missing(path)

    @tornado.web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        self._missing(path)

    @tornado.web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        self._missing(path)


_ID = r"(?P<dataset_id>[^/]+)"
ROUTES = [
    (rf"{PREFIX}/info", InfoHandler),
    (rf"{PREFIX}/search", SearchHandler),
    (rf"{PREFIX}/facets", FacetsHandler),
    (rf"{PREFIX}/datasets/{_ID}", DatasetHandler),
    (rf"{PREFIX}/datasets/{_ID}/tags", TagsHandler),
    (rf"{PREFIX}/datasets/{_ID}/notes", NotesHandler),
    (rf"{PREFIX}/datasets/{_ID}/slice\.png", SliceHandler),
    (rf"{PREFIX}/thumbnails/{_ID}\.png", ThumbnailHandler),
    (rf"{PREFIX}/jobs", JobsHandler),
    (rf"{PREFIX}/jobs/(?P<job_id>[^/]+)", JobHandler),
    (rf"{PREFIX}/(?P<path>.*)", MissingHandler),
]
