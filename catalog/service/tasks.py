"""Job requests (``POST jobs``) checked and turned into job functions.

``{"kind": "scan", "path": "drive/2024", "pattern": "{year}/{project}", "jobs": 2}``
(``"follow_links": true`` follows symlinks out of the folder, into the allowed roots only;
with a Dask scheduler configured, :attr:`Context.scheduler` or the environment, the scan
runs on that cluster and its job's ``dashboard`` links the Dask dashboard)
``{"kind": "pyramid", "id": "k2x9q4m1abcd"}``
``{"kind": "verify", "search": {"project": "rocks"}}`` (or ``"ids": [...]``): re-hash the
files of those datasets against the index (on the Dask cluster too, when one is set)
``{"kind": "export", "dest": "exports/rocks", "search": {"project": "rocks"}, "mode": "copy"}``
(or ``"ids": [...]`` instead of ``"search"``; ``include_ancestors``, ``allow_restricted``,
``skip_unreadable``, ``organization``). ``dest`` may be a URL in object storage under one
of :attr:`Context.export_urls` (``"s3://lab-share/exports/rocks"``); the job reaches it
with the server's environment (``AWS_ENDPOINT_URL``, credentials, profiles): a request
carries no storage options.

Every path is checked against the allowed roots and every id against the index before
a job is queued, so a bad request fails at once with 400/403/404 and not later.

Jobs run for an account (a :class:`catalog.users.User`, or ``None`` for the local
user): scans and exports need the role ``curator``, run with ``VOXCAT_USER`` set to the
account's name (the audit names it), and an export takes only datasets the account can
see (an id it cannot see is refused as one that does not exist, 400 "no dataset with
id ...").
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster import scheduler_address
from ..drives import recorded
from ..errors import BadRequest
from ..inputs import check_field_value
from . import api, images
from .child import run_in_child
from .jobs import Job, JobFunction
from .params import search_args
from .paths import check_id, resolve_user_path

if TYPE_CHECKING:  # pragma: no cover
    from ..users import User

KINDS = ("scan", "pyramid", "export", "verify")
#: how often a scan job writes what it found (``VOXCAT_SERVE_SCAN_BATCH``, seconds)
SCAN_BATCH_SECONDS = float(os.environ.get("VOXCAT_SERVE_SCAN_BATCH", "5"))
MAX_IDS = 10_000


@dataclasses.dataclass(frozen=True)
class Context:
    """Where jobs may read and write: the index, the server's ``root_dir`` (relative
    paths start there) and extra allowed roots from the configuration; and the Dask
    scheduler scan and verify jobs run on (``None``: ``$VOXCAT_DASK_SCHEDULER``, else
    Dask's configuration, else the local worker processes)."""

    index: Path
    root_dir: Path
    extra_roots: tuple[Path, ...] = ()
    scheduler: str | None = None
    #: URL prefixes in object storage that export jobs may write under
    #: (``s3://lab-share/exports``), from allowed roots given as URLs
    export_urls: tuple[str, ...] = ()

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.root_dir, self.index.parent, *self.extra_roots)

    def path(self, raw: object, what: str) -> Path:
        return resolve_user_path(raw, self.root_dir, self.roots, what)

    def export_url(self, raw: str, what: str) -> str:
        """``raw`` (a URL) if it lies under one of :attr:`export_urls`, else 403.

        >>> Context(Path("/l/i.duckdb"), Path("/l"), export_urls=("s3://b/ex",)).export_url(
        ...     "s3://b/ex/rocks/", "dest")
        's3://b/ex/rocks'
        """
        from ..errors import Forbidden

        url = raw.strip().rstrip("/")
        parts = url.split("://", 1)[1].split("/")
        if "\0" in url or any(p in ("", ".", "..") for p in parts):
            raise BadRequest(f"{what}: {raw[:200]!r} is not a plain URL (no //, . or ..)")
        if not any(url == u or url.startswith(u.rstrip("/") + "/") for u in self.export_urls):
            raise Forbidden(
                f"{what}: {raw[:200]!r} is not under an allowed export URL; the server's "
                "allowed roots may name some (s3://bucket/prefix)"
            )
        return url


def plan(
    ctx: Context, user: User | None, body: Mapping[str, Any]
) -> tuple[str, dict[str, Any], JobFunction]:
    """``(kind, args to show, job function)`` for a job request by ``user``; raises
    on bad input (400), a role too low (403) or datasets not found (404)."""
    kind = body.get("kind")
    planners = {
        "scan": _plan_scan,
        "pyramid": _plan_pyramid,
        "export": _plan_export,
        "verify": _plan_verify,
    }
    if not isinstance(kind, str) or kind not in planners:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}, not {str(kind)[:40]!r}")
    allowed = ALLOWED_KEYS[kind]
    unknown = sorted(set(body) - allowed - {"kind"})
    if unknown:
        raise BadRequest(f"a {kind} job takes {', '.join(sorted(allowed))}; not {unknown}")
    if kind in ("scan", "export", "verify"):
        api.require(user, "curator", f"run {kind} jobs")
    args, fn = planners[kind](ctx, user, body)
    return kind, args, fn


ALLOWED_KEYS = {
    "scan": {"path", "pattern", "jobs", "retry_failed", "full_checksums", "follow_links"},
    "pyramid": {"id"},
    "verify": {"ids", "search"},
    "export": {
        "dest",
        "ids",
        "search",
        "mode",
        "include_ancestors",
        "allow_restricted",
        "skip_unreadable",
        "organization",
    },
}


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def progress_of(job: Job) -> Callable[[dict[str, Any]], None]:
    """What the child's progress reports (:class:`catalog.progress.Progress` as a
    dict) show on ``job``: ``detail`` gets the phase, the datasets seen, the bytes done
    and in all (and a scan's ``scan_id``), ``progress`` the fraction done (below 1 until
    the job has finished)."""

    def update(report: dict[str, Any]) -> None:
        detail = {**job.detail, **report.get("extra", {})}
        if report.get("unit") == "file":  # a verification counts files
            detail.update(files=report["done"], files_total=report["total"])
        else:
            detail.update(
                datasets=report["items"], bytes=report["done"], bytes_total=report["total"]
            )
        if not job.cancel_requested:  # "cancelling" stays
            detail["phase"] = report["phase"]
        job.detail = detail
        if report["total"]:
            job.progress = min(0.99, report["done"] / report["total"])

    return update


def _child_spec(user: User | None, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the account the child acts for (its ``VOXCAT_USER``)."""
    return spec if user is None else {**spec, "user": user.name}


def _plan_scan(
    ctx: Context, user: User | None, body: Mapping[str, Any]
) -> tuple[dict[str, Any], JobFunction]:
    root = ctx.path(body.get("path"), "path")
    if not root.exists() and not recorded(ctx.index, root):  # not on an unplugged drive
        raise BadRequest(f"path: {body['path']!r} does not exist")
    options: dict[str, Any] = {}
    pattern = body.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or not 0 < len(pattern) <= 500:
            raise BadRequest("pattern must be a string such as '{year}/{project}/{sample}'")
        options["pattern"] = pattern
    if body.get("jobs") is not None:
        jobs, most = body["jobs"], os.cpu_count() or 1
        if not isinstance(jobs, int) or isinstance(jobs, bool) or not 1 <= jobs <= most:
            raise BadRequest(f"jobs must be a whole number from 1 to {most}")
        options["jobs"] = jobs
    for flag in ("retry_failed", "full_checksums"):
        if _flag(body, flag):
            options[flag] = True
    address = scheduler_address(ctx.scheduler)
    if address is not None:  # on the cluster (the job's detail links its dashboard)
        options["scheduler"] = address
        options.pop("jobs", None)
    shown = dict(options)
    if _flag(body, "follow_links"):
        # links are followed into the allowed roots only, never anywhere
        options["follow_links"] = [str(r) for r in ctx.roots]
        shown["follow_links"] = True
    # fewer, bigger write batches than on the command line: each write has the index
    # file to itself, so the server's reads wait for it
    options = {**options, "batch_seconds": SCAN_BATCH_SECONDS, "batch_size": 4096}
    spec = {"kind": "scan", "root": str(root), "index": str(ctx.index), "options": options}
    spec = _child_spec(user, spec)

    def run(job: Job) -> dict[str, Any]:
        return run_in_child(job, spec, progress_of(job))

    return {"path": str(root), **shown}, run


def _plan_pyramid(
    ctx: Context, user: User | None, body: Mapping[str, Any]
) -> tuple[dict[str, Any], JobFunction]:
    dataset_id = check_id(body.get("id"))  # type: ignore[arg-type]
    entry = api.catalogue(ctx.index, user, files=True).entry(dataset_id)  # unknown: 404
    name = entry.metadata.get("name")

    def run(job: Job) -> dict[str, Any]:
        from catalog.preview import preview_job

        build = preview_job(ctx.index, dataset_id, bar=False)
        while not build.done():
            if job.cancel_requested:
                build.cancel()
            job.progress = build.progress
            time.sleep(0.1)
        path = build.result()  # PreviewCancelled marks the job cancelled
        images.forget(dataset_id)
        return {"id": dataset_id, "built": path is not None}

    shown = {"id": dataset_id}
    if name:  # what job lists and notifications name
        shown["name"] = str(name)
    return shown, run


def _export_ids(
    ctx: Context, user: User | None, body: Mapping[str, Any], what: str = "export"
) -> tuple[list[str], int, str | None]:
    """The ids to export (of those ``user`` can see), their total size and the query
    that chose them."""
    ids, search = body.get("ids"), body.get("search")
    if (ids is None) == (search is None):
        raise BadRequest("give either 'ids' (a list) or 'search' (query parameters)")
    cat = api.catalogue(ctx.index, user, files=True)
    query = None
    if search is not None:
        if not isinstance(search, dict) or not all(isinstance(k, str) for k in search):
            raise BadRequest("search must be an object of query parameters, as for GET search")
        raw = {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in search.items()}
        sub = api.select(ctx.index, user, search_args(raw))
        query = urllib.parse.urlencode(raw, doseq=True)
    else:
        if not isinstance(ids, list) or not 0 < len(ids) <= MAX_IDS:
            raise BadRequest(f"ids must be a list of 1 to {MAX_IDS} dataset ids")
        ids = list(dict.fromkeys(check_id(i) for i in ids))
        sub = cat.search(id=ids)
        missing = sorted(set(ids) - set(sub))
        if missing:
            raise BadRequest(f"no dataset with id {', '.join(missing[:5])} in the index")
    frame = sub.df
    if frame.empty:
        raise BadRequest(f"the selection is empty: nothing to {what}")
    return list(frame.index), int(frame["size"].fillna(0).sum()), query


def _plan_export(
    ctx: Context, user: User | None, body: Mapping[str, Any]
) -> tuple[dict[str, Any], JobFunction]:
    from catalog.export import MODES
    from catalog.remote import is_remote

    raw = body.get("dest")
    dest: Path | str
    if isinstance(raw, str) and is_remote(raw.strip()):
        dest = ctx.export_url(raw, "dest")
    else:
        dest = ctx.path(raw, "dest")
        if dest.exists() and not dest.is_dir():
            raise BadRequest(f"dest: {body['dest']!r} is a file; give a folder")
    mode = body.get("mode", "copy")
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}")
    if isinstance(dest, str) and mode == "link":
        raise BadRequest("mode link: object storage holds no links; use copy or zarr")
    ids, total, query = _export_ids(ctx, user, body)
    allow_restricted = _flag(body, "allow_restricted")
    if not allow_restricted:  # refused now, with the ids and why, not by the job later
        from catalog.errors import RestrictedDataError
        from catalog.export.select import check_access

        try:
            check_access(ctx.index, ids)
        except RestrictedDataError as exc:
            raise BadRequest(str(exc)) from None
    options = {
        "mode": mode,
        "include_ancestors": _flag(body, "include_ancestors"),
        "allow_restricted": allow_restricted,
        "skip_unreadable": _flag(body, "skip_unreadable"),
        "query": query,
    }
    organization = body.get("organization")
    if organization is not None:
        if not isinstance(organization, str) or not organization.strip():
            raise BadRequest("organization: give the publisher's name as text")
        options["organization"] = check_field_value("organization", organization.strip())
    spec: dict[str, Any] = {"kind": "export", "index": str(ctx.index), "dest": str(dest)}
    spec["ids"] = ids
    spec["options"] = options
    spec = _child_spec(user, spec)

    def run(job: Job) -> dict[str, Any]:
        return run_in_child(job, spec, progress_of(job))

    return {"dest": str(dest), "datasets": len(ids), "bytes": total, **options}, run


def _plan_verify(
    ctx: Context, user: User | None, body: Mapping[str, Any]
) -> tuple[dict[str, Any], JobFunction]:
    ids, total, query = _export_ids(ctx, user, body, "verify")  # what the account can see
    options: dict[str, Any] = {}
    address = scheduler_address(ctx.scheduler)
    if address is not None:  # on the cluster (the job's detail links its dashboard)
        options["scheduler"] = address
    spec: dict[str, Any] = {"kind": "verify", "index": str(ctx.index), "ids": ids}
    spec["options"] = options
    spec = _child_spec(user, spec)

    def run(job: Job) -> dict[str, Any]:
        return run_in_child(job, spec, progress_of(job))

    shown = {"datasets": len(ids), "bytes": total, "query": query, **options}
    return shown, run
