"""``voxcat serve``: the catalogue server for a lab (REST API, login, web app).

voxcat user add ada --role admin --password-stdin --index lab.duckdb < pw.txt
voxcat serve --index lab.duckdb --port 8000 --address 127.0.0.1 --base-url /voxcat
voxcat serve --index lab.duckdb --scheduler tcp://head:8786   # scan/verify jobs on a Dask cluster

Panel and the server load when the command runs, never when ``catalog.cli`` is imported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import add_index


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import CatalogError
    from ..index import resolve_index
    from ..remote import is_remote
    from ..service.server import normalize_base_url, serve
    from ..users import list_users

    index = resolve_index(args.index)
    if not index.exists():
        raise CatalogError(
            f"no voxcat index at {index}; scan a folder into it (voxcat scan DIR --index "
            f"{index}) or add the first account (voxcat user add NAME --role admin --index "
            f"{index} --password-stdin)"
        )
    port, address, base_url = args.port, args.address, args.base_url
    if args.hub:
        import urllib.parse

        from ..service.hub import hub_environment

        try:
            env = hub_environment()
        except RuntimeError as exc:
            raise CatalogError(str(exc)) from None
        base_url = base_url or env["JUPYTERHUB_SERVICE_PREFIX"]
        where = urllib.parse.urlsplit(env.get("JUPYTERHUB_SERVICE_URL", ""))
        if where.port and args.port == 8000:  # the Hub says where the service listens
            port, address = where.port, where.hostname or address
    try:
        base_url = normalize_base_url(base_url)
    except ValueError as exc:
        raise CatalogError(str(exc)) from None
    if args.unix_socket and args.hub:
        raise CatalogError("--unix-socket and --hub: choose one (see voxcat serve --help)")
    if not args.hub and not args.unix_socket and not any(u.active for u in list_users(index)):
        print(
            f"voxcat serve: {index} has no active account, so nobody can log in; add one "
            f"with: voxcat user add NAME --role admin --password-stdin --index {index}",
            file=sys.stderr,
        )
    return serve(
        index,
        port=port,
        address=address,
        base_url=base_url,
        allowed_roots=[r if is_remote(r) else Path(r) for r in args.allowed_root or ()],
        websocket_origins=args.allow_websocket_origin or (),
        open_browser=not args.no_browser,
        trust_proxy_headers=args.trust_proxy_headers,
        hub=args.hub,
        hub_role=args.hub_role,
        unix_socket=args.unix_socket,
        scheduler=args.scheduler,
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``serve`` on the main parser."""
    p = sub.add_parser(
        "serve",
        help="serve the catalogue to a lab: REST API, login, web app",
        description="One long-running server that owns the index: the REST API under "
        "BASE_URL/api/, a login page and the web app, for the accounts of the index "
        "(voxcat user add).",
    )
    add_index(p)
    p.add_argument("--port", type=int, default=8000, help="TCP port (0: any free one)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on")
    p.add_argument(
        "--base-url", default="", help="URL prefix behind a reverse proxy, e.g. /voxcat"
    )
    p.add_argument(
        "--allowed-root",
        action="append",
        metavar="DIR",
        help="a folder scan and export jobs may use (repeatable; relative job paths start "
        "at the first; the index's folder is always allowed), or a URL (s3://bucket/prefix) "
        "export jobs may write under, with the server's credentials and AWS_ENDPOINT_URL",
    )
    p.add_argument(
        "--allow-websocket-origin",
        action="append",
        metavar="HOST[:PORT]",
        help="the host browsers reach the server by, when not ADDRESS:PORT (repeatable; "
        "behind a proxy: its public host name)",
    )
    p.add_argument(
        "--trust-proxy-headers",
        action="store_true",
        help="take client addresses and https from X-Forwarded-* headers (behind a proxy)",
    )
    p.add_argument(
        "--hub",
        action="store_true",
        help="run as a JupyterHub service: people log in through the Hub (OAuth); "
        "address, port and base URL from the Hub's JUPYTERHUB_* environment",
    )
    p.add_argument(
        "--hub-role",
        default="viewer",
        choices=("viewer", "curator", "admin"),
        help="with --hub: the role of a Hub user's account made at first login "
        "(default viewer; an account of the same name in the index keeps its own)",
    )
    p.add_argument(
        "--unix-socket",
        metavar="PATH",
        help="listen on this Unix socket (mode 0600) instead of a port, for the person "
        "who owns it, with no login: behind jupyter-server-proxy in JupyterLab",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        default=None,
        help="run scan and verify jobs on the Dask cluster of this scheduler, e.g. tcp://head:8786 "
        "(default: $VOXCAT_DASK_SCHEDULER, else Dask's scheduler-address configuration; "
        "none: local worker processes); a job links the cluster's dashboard",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.set_defaults(func=_cmd_serve)
