"""The REST route table under ``/voxcat/api/``: the routes of
:mod:`catalog.service.rest` on Jupyter's :class:`~jupyter_server.base.handlers.APIHandler`.

Every handler requires Jupyter's authentication (and authorisation on the ``voxcat``
resource; POST and DELETE need Jupyter's XSRF token or a token header, as any Jupyter
API) and acts as the local user: ``account`` is ``None``, who sees and may change
everything, audited as the server's user (the Hub's user under JupyterHub).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join

from catalog.service.rest import Service, routes

if TYPE_CHECKING:  # pragma: no cover
    from catalog.users import User

    from .app import VoxcatExtension

PREFIX = "/voxcat/api"


class VoxcatHandler(ExtensionHandlerMixin, APIHandler):
    """Base of the voxcat handlers in Jupyter: its authentication, the extension's
    service, the local user."""

    auth_resource = "voxcat"
    account: User | None = None  # the local user: full access

    @classmethod
    def guard(cls, method: Callable[..., Any]) -> Callable[..., Any]:
        """Jupyter's authentication and authorisation around a route method."""
        return tornado.web.authenticated(authorized(method))

    @property
    def voxcat(self) -> VoxcatExtension:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def service(self) -> Service:
        return self.voxcat.service

    def api_url(self, *parts: str) -> str:
        return url_path_join(self.base_url, PREFIX, *parts)

    def finish_typed(self, body: bytes | str, content_type: str) -> None:
        self.finish(body, set_content_type=content_type)


ROUTES = routes(VoxcatHandler, PREFIX)
