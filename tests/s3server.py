"""A real S3-compatible server on 127.0.0.1 for the object-storage tests: moto's server
mode (``python -m moto.server``) in a subprocess, and a counting proxy in front of it.

:func:`moto_server` starts one on a free port and yields its endpoint; with
``enforce_auth`` it checks every request's credentials (moto's
``INITIAL_NO_AUTH_ACTION_COUNT=0``), so the test credentials are refused as unknown.
:class:`CountingProxy` forwards every request to the server and counts the requests and
the response-body bytes per object key: what a read really fetched over the wire.
:func:`upload` puts a local file or folder under a prefix with boto3.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import http.server
import os
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .servers import answering_process, free_port

#: credentials moto accepts; never real ones
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-access-key",
    "AWS_SESSION_TOKEN": "testing-session-token",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextlib.contextmanager
def moto_server(log: Path, *, enforce_auth: bool = False) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    env = {**os.environ, **TEST_CREDENTIALS}
    env.pop("AWS_ENDPOINT_URL", None)
    if enforce_auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    with answering_process(
        argv,
        env=env,
        cwd=log.parent,
        log=log,
        url=f"{endpoint}/moto-api/",
        timeout=60,
        what="moto's S3 server",
    ):
        yield endpoint


class CountingProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that counts, per object key
    (``bucket/key``), the requests and the bytes of the response bodies sent back.

    >>> with CountingProxy("http://127.0.0.1:5000") as proxy:   # doctest: +SKIP
    ...     proxy.endpoint, proxy.bytes_for("bucket/a.tif")
    """

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.bytes: collections.Counter[str] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                key = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path.lstrip("/"))
                with proxy.lock:
                    proxy.bytes[key] += len(data)
                    proxy.requests[key] += 1
                self.send_response(resp.status, resp.reason)
                skip = ("transfer-encoding", "connection")
                if self.command != "HEAD":  # a HEAD answer keeps the object's length
                    skip += ("content-length",)
                for name, value in resp.getheaders():
                    if name.lower() not in skip:
                        self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.bytes.clear()
            self.requests.clear()

    def bytes_for(self, prefix: str) -> int:
        """Response bytes of every request for keys starting with ``prefix``."""
        with self.lock:
            return sum(n for k, n in self.bytes.items() if k.startswith(prefix))

    def requests_for(self, prefix: str) -> int:
        with self.lock:
            return sum(n for k, n in self.requests.items() if k.startswith(prefix))


def client(endpoint: str) -> Any:
    """A boto3 S3 client of the server with the test credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=TEST_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name="us-east-1",
    )


def upload(endpoint: str, bucket: str, local: Path, prefix: str) -> list[str]:
    """Put the file ``local`` (or every file under the folder ``local``) at
    ``prefix`` in ``bucket``; returns the keys written."""
    s3 = client(endpoint)
    keys = []
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    for f in files:
        rel = f.name if local.is_file() else f.relative_to(local).as_posix()
        key = f"{prefix.rstrip('/')}/{rel}" if prefix else rel
        s3.upload_file(str(f), bucket, key)
        keys.append(key)
    return keys


def listed(endpoint: str, bucket: str, prefix: str = "") -> dict[str, int]:
    """``{key: size}`` of every object under ``prefix`` (a folder: ``"a/b"`` lists
    ``a/b/...``; ``""`` the whole bucket), keys relative to the prefix."""
    s3 = client(endpoint)
    start = prefix.rstrip("/") + "/" if prefix else ""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start):
        out.update({o["Key"][len(start) :]: o["Size"] for o in page.get("Contents", [])})
    return out


def download(endpoint: str, bucket: str, prefix: str, local: Path) -> dict[str, int]:
    """Every object under ``prefix`` into the folder ``local``; returns ``{key: size}``
    (keys relative to the prefix)."""
    s3 = client(endpoint)
    sizes = listed(endpoint, bucket, prefix)
    for rel in sizes:
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(
            bucket, f"{prefix.rstrip('/')}/{rel}" if prefix else rel, str(local / rel)
        )
    return sizes


def unreachable() -> dict[str, Any]:
    """Storage options of an endpoint nobody listens on, tried once, quickly."""
    from .servers import free_port

    return {
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }


def secret_options(endpoint: str) -> tuple[dict[str, Any], list[str]]:
    """Storage options with fresh secret values (moto takes any), and the values that
    must never be written anywhere: the key id, the secret and the session token."""
    import secrets

    secret = "voxcat-secret-" + secrets.token_hex(8)
    token = "voxcat-token-" + secrets.token_hex(8)
    key = TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    options = {"endpoint_url": endpoint, "key": key, "secret": secret, "token": token}
    return options, [secret, token, key]
