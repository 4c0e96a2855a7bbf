"""``voxcat serve --hub``: the lab server as a JupyterHub service, people known by the
Hub (OAuth), what they may do decided by the accounts of the index.

JupyterHub starts the service (or it runs beside the Hub, see the README) with its
``JUPYTERHUB_*`` environment: the API token, the Hub's API URL, the service's URL
prefix and OAuth client. A browser without a login is sent to ``/hub-login``, which
hands it to the Hub's OAuth (the Hub's own login page, then back to
``/oauth_callback``); once the Hub names the person, the server sets its own login
cookie, as a password login does, and the web app and REST API see that account.
Scripts may send a Hub API token (``Authorization: token $JUPYTERHUB_API_TOKEN`` from a
notebook on the Hub) instead of a voxcat token.

The Hub says who someone is; the index says what they may do. A Hub user with an
account of the same name in the index has that account's role and groups (a disabled
one is refused); a Hub user without one gets an account on first login, with the role
given by ``--hub-role`` (``viewer`` by default) and the groups the Hub has them in,
recorded in the audit log like any new account. An admin changes it with
``voxcat user ...``.

>>> hub = HubIdentity(Path("lab.duckdb"), accounts)        # doctest: +SKIP
>>> hub.account_for({"name": "ada", "groups": ["tomo"]})    # doctest: +SKIP
User(name='ada', role='viewer', groups=('tomo',), ...)
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import tornado.web

from ..errors import UserExistsError, UserNotFound
from ..users import ROLES, User, add_user, get_user

log = logging.getLogger("voxcat.hub")

#: what a group name of the Hub must look like to become a voxcat group
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
#: the JupyterHub environment a service gets
HUB_ENV = ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "JUPYTERHUB_SERVICE_PREFIX")


def hub_environment() -> dict[str, str]:
    """The ``JUPYTERHUB_*`` variables a Hub service needs; :class:`RuntimeError`
    naming the missing ones when this process was not started as a Hub service."""
    missing = [k for k in HUB_ENV if not os.environ.get(k)]
    if missing:
        raise RuntimeError(
            f"--hub: {', '.join(missing)} not set; run voxcat serve --hub as a JupyterHub "
            "service (c.JupyterHub.services in jupyterhub_config.py, see the README)"
        )
    return {k: os.environ[k] for k in os.environ if k.startswith("JUPYTERHUB_")}


class HubIdentity:
    """Who a request is, asked of JupyterHub; accounts of ``index`` for their rights."""

    def __init__(self, index: Path, accounts: Any, role: str = "viewer") -> None:
        from jupyterhub.services.auth import HubOAuth

        hub_environment()
        if role not in ROLES:
            raise ValueError(f"--hub-role {role!r}: one of {', '.join(ROLES)}")
        self.index = Path(index)
        self.accounts = accounts  # catalog.service.auth.Accounts
        self.role = role
        self.hub_auth = HubOAuth.instance(cache_max_age=60)
        self._lock = threading.Lock()

    @property
    def prefix(self) -> str:
        """The service's URL prefix on the Hub (``/services/voxcat``)."""
        return os.environ["JUPYTERHUB_SERVICE_PREFIX"].rstrip("/")

    def account_for(self, model: dict[str, Any]) -> User | None:
        """The account of the Hub user ``model`` (made on first login); ``None`` for a
        disabled account. Reads (and may write) the index: run it in a thread."""
        name = str(model.get("name") or "")
        known = self.accounts.by_name(name)
        if known is not None:
            return known
        with self._lock:  # two first requests of one person make one account
            try:
                existing = get_user(self.index, name)
            except UserNotFound:
                existing = None
            if existing is not None:
                return existing if existing.active else None
            groups = sorted(g for g in model.get("groups") or () if _GROUP.fullmatch(str(g)))
            try:
                user = add_user(self.index, name, role=self.role, groups=groups)
            except UserExistsError:  # made by another process just now
                user = get_user(self.index, name)
            log.info("hub: new account %s (%s, groups %s)", name, self.role, groups or "-")
            return user if user.active else None

    async def model_for_token(self, token: str) -> dict[str, Any] | None:
        """The Hub user of a Hub API token that may access this service
        (``access:services`` or ``access:services!service=NAME``), else ``None``."""
        model = await self.hub_auth.user_for_token(token, sync=False)
        if not model or not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            return None
        return model

    def handlers(self, lab: Any) -> list[tuple]:
        """``/oauth_callback`` (the Hub's) and ``/hub-login`` (sets voxcat's login)."""
        from jupyterhub.services.auth import HubOAuthCallbackHandler

        return [
            (r"/oauth_callback", HubOAuthCallbackHandler),
            (r"/hub-login", _hub_login_handler(), {"lab": lab, "hub": self}),
        ]


def _hub_login_handler() -> type:
    from jupyterhub.services.auth import HubOAuthenticated

    from .auth import safe_next

    class HubLoginHandler(HubOAuthenticated, tornado.web.RequestHandler):
        """``/hub-login?next=...``: through the Hub's OAuth, then voxcat's login
        cookie for the Hub user's account and on to ``next``."""

        def initialize(self, lab: Any, hub: HubIdentity) -> None:
            self.lab, self.hub = lab, hub

        @tornado.web.authenticated
        async def get(self) -> None:
            import asyncio

            model = self.current_user
            loop = asyncio.get_running_loop()
            user = await loop.run_in_executor(
                self.lab.service.executor, self.hub.account_for, model
            )
            if user is None:
                raise tornado.web.HTTPError(
                    403, f"the voxcat account {model['name']!r} is disabled"
                )
            self.lab.auth.set_login(self, user)
            self._voxcat_user = user.name
            log.info("hub login: user=%s", user.name)
            self.redirect(safe_next(self.get_argument("next", None), self.lab.base_url))

    return HubLoginHandler
