"""Exports written to object storage (``s3://bucket/prefix``, or any fsspec protocol
that can write): the same export as in a folder, without staging the data locally.

- Copies stream each file to its object (multipart uploads of :data:`PART` bytes),
  hashed (SHA-256 and BLAKE3) while it is read, once: the BLAKE3 must equal the index
  checksum before the upload is committed (a file that differs is never written), and
  the object must then list with the size sent (``deep_verify`` reads it back and
  compares both hashes).
- Zarr conversions write straight to the object store through zarr's ``FsspecStore``;
  the SHA-256 and BLAKE3 of every object are taken from the bytes handed to the store
  (:class:`HashingStore`), and the listing afterwards must hold exactly those objects
  with those sizes.
- The small files (``catalog.yaml``, ``datasets.parquet``, ``voxcat.duckdb``, which
  DuckDB cannot write to object storage, README, lineage, thumbnails, RO-Crate, BagIt
  manifests) are written in a local temporary folder and uploaded; ``bagit.txt`` goes
  last but one and ``.voxcat-export/params.json`` with ``"complete": true`` last, so an
  interrupted export never looks complete (a rerun first removes ``bagit.txt``).
- Resume: ``.voxcat-export/journal/*.jsonl`` objects record each object written (size,
  ETag, hashes); a rerun keeps every object still listed with its size and ETag.
- Credentials are never written: entries of ``catalog.yaml`` read with the storage
  options the catalogue is opened with (intake's ``{STORAGE_OPTIONS}``), and what is
  recorded of the options is :func:`catalog.remote.public_options`.

>>> sub.export("s3://lab-share/rocks", mode="zarr",
...            storage_options={"endpoint_url": "https://s3.example.org"})  # doctest: +SKIP
>>> import intake
>>> intake.from_yaml_file("s3://lab-share/rocks/catalog.yaml",
...     storage_options={"client_kwargs": {"endpoint_url": "https://s3.example.org"}})  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import blake3

from ..confine import open_binary
from ..errors import BucketNotFound, ExportError, StorageError
from ..paths import display
from ..remote import Storage, etag_of, mtime_ns_of, split_url, storage_error
from ..scanner.checksum import is_sampled, sampled_checksum
from .files import REREAD, STATE_DIR, WRITTEN, _pump

PART = 16 << 20  # bytes of one part of a multipart upload
UPLOADS = 4  # files uploaded at a time
PARAMS = f"{STATE_DIR}/params.json"
JOURNAL = f"{STATE_DIR}/journal"
FLUSH_ITEMS, FLUSH_SECONDS = 2000, 15.0  # journal objects: at most this often
LAST = ("tagmanifest-sha256.txt", "bagit.txt")  # uploaded after every other file, in order


@dataclasses.dataclass(frozen=True)
class Target:
    """Where an export goes: a prefix (``bucket/prefix``) in a :class:`Storage`.

    >>> t = Target.of("s3://lab/rocks/", {"endpoint_url": "http://127.0.0.1:9000"})
    >>> t.url, t.key("data/a.tif")
    ('s3://lab/rocks', 'lab/rocks/data/a.tif')
    """

    storage: Storage
    root: str

    @classmethod
    def of(cls, url: str, options: Mapping[str, Any] | None = None) -> Target:
        protocol, root = split_url(url)
        if not root:
            raise ExportError(f"{url}: name a bucket (and a prefix) to export to")
        return cls(Storage.of(protocol, options), root)

    @property
    def url(self) -> str:
        return self.storage.url(self.root)

    def key(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def fs(self) -> Any:
        return self.storage.fs()

    def error(self, rel: str, exc: BaseException) -> StorageError:
        return storage_error(self.storage.url(self.key(rel)) if rel else self.url, exc)

    def listing(self, rel: str = "") -> dict[str, dict[str, Any]]:
        """``{path below the root: {"size", "etag", "mtime_ns"}}`` of the objects under
        ``rel`` (everything when empty), asked afresh. One listing also checks that the
        endpoint answers, the bucket exists and may be listed (else a named
        :class:`~catalog.errors.StorageError` naming the URL)."""
        fs = self.fs()
        base = self.key(rel) if rel else self.root
        try:
            fs.invalidate_cache(base)
            found = fs.find(base, detail=True)
        except FileNotFoundError as exc:  # s3fs: a missing prefix lists as empty
            if rel:  # other file systems may say so of a missing prefix
                return {}
            bucket = self.root.split("/", 1)[0]
            raise BucketNotFound(
                f"{self.url}: no such bucket {bucket!r} ({exc}); create it or check its name"
            ) from exc
        except Exception as exc:
            raise self.error(rel, exc) from exc
        out = {}
        for name, info in found.items():
            if info.get("type", "file") != "file":
                continue
            path = name[len(self.root) + 1 :]
            out[path] = {
                "size": int(info.get("size") or 0),
                "etag": etag_of(info),
                "mtime_ns": mtime_ns_of(info),
            }
        return out

    def cat(self, rel: str) -> bytes:
        try:
            return bytes(self.fs().cat_file(self.key(rel)))
        except Exception as exc:
            raise self.error(rel, exc) from exc

    def put_bytes(self, rel: str, data: bytes) -> None:
        try:
            self.fs().pipe_file(self.key(rel), data)
        except Exception as exc:
            raise self.error(rel, exc) from exc

    def remove(self, rels: Iterable[str]) -> None:
        rels = list(rels)
        if rels:
            try:
                self.fs().rm([self.key(r) for r in rels])
            except FileNotFoundError:
                pass
            except Exception as exc:
                raise self.error(rels[0], exc) from exc

    def remove_prefix(self, rel: str) -> None:
        """Delete every object under ``rel``."""
        self.remove(sorted(self.listing(rel)))


class RemoteJournal:
    """The resume journal of an export in object storage: the interface of
    :class:`~catalog.export.files.Journal` (``done``, ``finished``, ``add``), kept as
    ``.voxcat-export/journal/*.jsonl`` objects (an object cannot be appended to: each
    flush writes a new one). ``dest`` is the local folder the tag files are built in,
    ``base`` the export's URL. A record counts only while its object is listed with the
    size and ETag it had when written."""

    def __init__(self, stage: Path, target: Target, listing: dict[str, dict[str, Any]]) -> None:
        self.dest, self.target, self.base = stage, target, target.url
        self.listing = listing
        self.done: dict[str, dict[str, Any]] = {}
        self.kept_chunks = 0
        self.sent = 0  # bytes written to the storage by this run
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._flushed = time.monotonic()
        self.objects = sorted(r for r in listing if r.startswith(JOURNAL + "/"))
        for rel in self.objects:
            for line in self.target.cat(rel).decode("utf-8", "replace").splitlines():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    item = json.loads(line)
                    self.done[item["path"]] = item
        for path in [p for p in self.done if not p.startswith("@")]:
            if self.finished(path) is None:
                del self.done[path]

    def finished(self, rel: str) -> dict[str, Any] | None:
        """The record of ``rel`` if its object is still there as it was written."""
        item = self.done.get(rel)
        obj = self.listing.get(rel)
        if item is None or obj is None:
            return None
        same = obj["size"] == item["size"] and obj["etag"] == item.get("etag")
        return item if same else None

    def add(self, items: Iterable[dict[str, Any]]) -> None:
        items = list(items)
        with self._lock:
            for i in items:
                self.done[i["path"]] = i
            self._pending += items
            due = len(self._pending) >= FLUSH_ITEMS
            due = due or time.monotonic() - self._flushed > FLUSH_SECONDS
        if due:
            self.flush()

    def forget(self, prefix: str, exact: bool = False) -> None:
        """Drop the records under ``prefix`` (a conversion written again), or
        (``exact``) the record of that path."""
        with self._lock:
            for path in [
                p for p in self.done if p == prefix or (not exact and p.startswith(prefix))
            ]:
                del self.done[path]

    def flush(self) -> None:
        """Write the records added since the last flush as one journal object."""
        with self._lock:
            pending, self._pending = self._pending, []
            self._flushed = time.monotonic()
        if not pending:
            return
        text = "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in pending)
        name = f"{JOURNAL}/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"
        try:
            self.target.put_bytes(name, text.encode("utf-8"))
        except BaseException:
            with self._lock:
                self._pending = pending + self._pending
            raise
        self.objects.append(name)

    def compact(self) -> None:
        """Every record in one journal object (the others deleted after it is written:
        cut short in between, records are only there twice)."""
        self.flush()
        if len(self.objects) <= 1:
            return
        old, self.objects = self.objects, []
        with self._lock:
            self._pending = list(self.done.values())
        self.flush()
        self.target.remove(old)


class _Upload:
    """The writer of :func:`~catalog.export.files._pump`: blocks go to an fsspec file
    opened for writing (parts are uploaded as the buffer fills)."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def write(self, view: memoryview) -> None:
        self.fh.write(view)


#: modules whose exceptions come from talking to the storage (not from the source)
_STORAGE_MODULES = ("botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "adlfs", "fsspec")


def _from_storage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) came from the object storage: raised by its
    client libraries, a connection error, or already a storage error."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        module = type(seen).__module__ or ""
        if isinstance(seen, StorageError | ConnectionError | TimeoutError) or module.startswith(
            _STORAGE_MODULES
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _discard(fh: Any) -> None:
    """Abort an upload: nothing is committed (a multipart upload is aborted)."""
    with contextlib.suppress(Exception):
        fh.discard()
    fh.closed = True  # never committed later, by close() or the garbage collector


def _hash_object(target: Target, rel: str, size: int) -> tuple[str, str]:
    """``(sha256 hex, "b3:" + blake3 hex)`` of an object, read back as it streams."""
    try:
        with target.fs().open(target.key(rel), "rb", block_size=PART, cache_type="none") as fh:
            sha, b3, n = _pump(fh, None, None, size)
    except Exception as exc:
        raise target.error(rel, exc) from exc
    if n != size:
        raise ExportError(f"{target.storage.url(target.key(rel))}: {n} bytes read, not {size}")
    return sha, b3


class RemoteWriter:
    """:class:`~catalog.export.files.Writer` for an export in object storage: each file
    streamed to its object (see the module docstring), :data:`UPLOADS` at a time (a
    small file costs a request or two, whose latency this hides); a symbolic link to
    the source stands for it in the local folder the tag files are built in. Leaving
    the ``with`` block waits for the uploads (re-raising the first failure); left by
    an exception, uploads not started are dropped and those running finish.

    >>> with RemoteWriter(journal, step) as w:                  # doctest: +SKIP
    ...     w.put(src, journal.dest / "data/id/a.tif", expected="b3:...")
    """

    def __init__(
        self, journal: RemoteJournal, progress: Callable[[int], None] | None, *, deep: bool
    ) -> None:
        self.journal, self.progress, self.deep = journal, progress, deep
        self.target = journal.target
        self.skipped = 0
        self.bytes_written = 0
        self._lock = threading.Lock()
        self._pool = cf.ThreadPoolExecutor(UPLOADS, thread_name_prefix="voxcat-upload")
        self._running: collections.deque[cf.Future] = collections.deque()

    def __enter__(self) -> RemoteWriter:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        try:
            if kind is None:
                self.wait()
            else:  # stopped (an error, a cancel, Ctrl-C): what is running finishes
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._pool.shutdown(wait=True)
            self.journal.flush()

    def wait(self) -> None:
        """Wait for every file handed to :meth:`put` (re-raises the first failure)."""
        errors = []
        while self._running:
            try:
                self._running.popleft().result()
            except BaseException as exc:  # the others still finish, then the first is raised
                errors.append(exc)
        if errors:
            raise errors[0]

    def put(self, src: Path, dst: Path, expected: str | None) -> None:
        """Upload ``src`` as the object of ``dst`` unless it is there already."""
        rel = dst.relative_to(self.journal.dest).as_posix()
        dst.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()
        os.symlink(os.path.abspath(src), dst)
        while len(self._running) >= 2 * UPLOADS:
            self._running.popleft().result()
        self._running.append(self._pool.submit(self._upload, src, rel, expected))

    def _upload(self, src: Path, rel: str, expected: str | None) -> None:
        item = self.journal.finished(rel)
        if item is not None and self._still_good(rel, item):
            with self._lock:
                self.skipped += 1
            return
        key = self.target.key(rel)
        url = self.target.storage.url(key)
        with open_binary(src, buffering=0) as fi:
            before = os.fstat(fi.fileno())
            try:
                fh = self.target.fs().open(key, "wb", block_size=PART)
            except Exception as exc:
                raise self.target.error(rel, exc) from exc
            try:
                sha, b3, n = _pump(fi, cast(Any, _Upload(fh)), self.progress, before.st_size)
                after = os.fstat(fi.fileno())
                problem = None
                if n != before.st_size or (after.st_size, after.st_mtime_ns) != (
                    before.st_size,
                    before.st_mtime_ns,
                ):
                    problem = f"{display(src)}: the file changed while it was copied; rerun"
                found = b3
                if is_sampled(expected):
                    found = sampled_checksum(src, mtime_ns=before.st_mtime_ns)
                if problem is None and expected is not None and found != expected:
                    problem = (
                        f"{display(src)} does not match the index (checksum {found[:15]}... "
                        f"!= {expected[:15]}...): it changed since it was scanned or could "
                        "not be read correctly; rescan it (voxcat scan), then rerun the export"
                    )
                if problem is not None:
                    raise ExportError(problem)
                fh.close()  # commits the object
            except BaseException as exc:
                _discard(fh)
                if isinstance(exc, Exception) and _from_storage(exc):
                    raise self.target.error(rel, exc) from exc
                raise  # the source could not be read, a checksum differs, a cancel
        obj = self.target.listing(rel).get(rel)
        if obj is None or obj["size"] != n:
            raise ExportError(
                f"{url}: the object lists with {obj and obj['size']} bytes, not the {n} "
                "sent; check the storage and rerun the export"
            )
        verified = WRITTEN
        if self.deep:
            if _hash_object(self.target, rel, n) != (sha, b3):
                raise ExportError(f"{url} reads back with other bytes than were sent; rerun")
            verified = REREAD
        self.journal.listing[rel] = obj
        with self._lock:
            self.bytes_written += n
            self.journal.sent += n
        self.journal.add([_record(rel, obj, sha, b3, "copy", verified, before.st_mtime_ns)])

    def _still_good(self, rel: str, item: dict[str, Any]) -> bool:
        if not self.deep or item.get("verified") == REREAD:
            return True
        if _hash_object(self.target, rel, item["size"]) != (item["sha256"], item["b3"]):
            return False
        self.journal.add([{**item, "verified": REREAD}])
        return True


def _record(
    rel: str,
    obj: dict[str, Any],
    sha: str,
    b3: str,
    how: str,
    verified: str,
    mtime_ns: int | None = None,
) -> dict[str, Any]:
    return {
        "path": rel,
        "size": obj["size"],
        "mtime_ns": obj["mtime_ns"] if mtime_ns is None else mtime_ns,
        "sha256": sha,
        "b3": b3,
        "how": how,
        "verified": verified,
        "etag": obj["etag"],
    }


# -- Zarr straight to object storage ---------------------------------------------------


def hashing_store(store: Any) -> Any:
    """``store`` (a zarr 3 store) wrapped so that the SHA-256, BLAKE3 and size of the
    bytes of every key written are kept in ``.written`` (see :class:`HashingStore`)."""
    return _hashing_class()(store)


def _hashing_class() -> type:
    from zarr.storage import WrapperStore

    class HashingStore(WrapperStore):
        """A zarr store that hashes every value written to the store it wraps."""

        def __init__(self, store: Any) -> None:
            super().__init__(store)
            self.written: dict[str, tuple[str, str, int]] = {}

        def _keep(self, key: str, value: Any) -> None:
            data = value.to_bytes()
            digest = (
                hashlib.sha256(data).hexdigest(),
                "b3:" + blake3.blake3(data).hexdigest(),
                len(data),
            )
            self.written[key] = digest

        async def set(self, key: str, value: Any) -> None:
            self._keep(key, value)
            await self._store.set(key, value)

        async def set_if_not_exists(self, key: str, value: Any) -> None:
            if not await self._store.exists(key):
                self._keep(key, value)
            await self._store.set_if_not_exists(key, value)

        async def delete(self, key: str) -> None:
            self.written.pop(key, None)
            await self._store.delete(key)

        async def delete_dir(self, prefix: str) -> None:
            for key in [k for k in self.written if k.startswith(prefix)]:
                del self.written[key]
            await self._store.delete_dir(prefix)

    return HashingStore


def convert_to_objects(
    data: Any,
    levels: list[Any],
    row: dict[str, Any],
    journal: RemoteJournal,
    zrel: str,
    step: Any,
) -> tuple[list[dict[str, Any]], list[tuple[int, ...]]]:
    """Convert ``data`` into the Zarr ``zrel`` of the export in object storage, unless
    an earlier run did and every one of its objects is still there. Returns the
    records of its objects and the shapes of its levels (as ``run._convert``)."""
    from zarr.storage import FsspecStore

    from .convert import convert_store
    from .run import _verify_conversion

    target = journal.target
    marker = f"@{zrel}"
    prefix = zrel + "/"
    done = journal.done.get(marker)
    if done is not None:
        have = [p for p in journal.done if p.startswith(prefix)]
        if len(have) != done.get("files") or any(journal.finished(p) is None for p in have):
            done = None
        else:
            journal.kept_chunks += len(have)
    if done is None:
        journal.forget(prefix)
        journal.forget(marker, exact=True)
        target.remove_prefix(zrel)
        url = target.storage.url(target.key(zrel))
        try:
            store = hashing_store(
                FsspecStore.from_url(url, storage_options=target.storage.options)
            )
        except Exception as exc:
            raise target.error(zrel, exc) from exc
        try:
            shapes = convert_store(
                data, store, name=row["name"], segmentation=row["data_level"] == "segmentation",
                progress=step, levels=levels, check=step.check,
            )  # fmt: skip
            if not getattr(shapes, "verified", False):
                _verify_conversion(data, store, row, levels)
        except Exception as exc:
            if _from_storage(exc):
                raise target.error(zrel, exc) from exc
            raise
        listed = target.listing(zrel)
        items = []
        for rel, obj in sorted(listed.items()):
            written = store.written.get(rel[len(prefix) :])
            if written is not None and written[2] == obj["size"]:
                sha, b3 = written[0], written[1]
            else:  # not written by this conversion as listed: hash what is there
                sha, b3 = _hash_object(target, rel, obj["size"])
            items.append(_record(rel, obj, sha, b3, "zarr", WRITTEN))
        missing = {k for k, v in store.written.items() if prefix + k not in listed}
        if missing:
            raise ExportError(
                f"{url}: {len(missing)} objects written are not listed "
                f"({', '.join(sorted(missing)[:3])}); check the storage and rerun the export"
            )
        journal.listing.update(listed)
        journal.sent += sum(obj["size"] for obj in listed.values())
        journal.add(items)
        done = {"path": marker, "shapes": [list(s) for s in shapes], "files": len(items)}
        journal.add([done])
        journal.flush()
    files = [
        {**journal.done[p], "position": k}
        for k, p in enumerate(sorted(p for p in journal.done if p.startswith(prefix)))
    ]
    return files, [tuple(s) for s in done["shapes"]]


# -- the run: prepare, finish -------------------------------------------------------


def prepare(target: Target, stage: Path, params: dict[str, Any]) -> tuple[RemoteJournal, bool]:
    """Check the target, refuse a prefix holding something else, mark the export
    incomplete (``bagit.txt`` removed) and load the journal; returns it and whether the
    export is new."""
    listing = target.listing()
    fresh = PARAMS not in listing
    if not fresh:
        old = json.loads(target.cat(PARAMS))
        if {k: old.get(k) for k in params} != params:
            raise ExportError(
                f"{target.url} holds an export of other datasets or another mode; choose "
                "an empty prefix, or delete it to start again"
            )
    elif listing:
        raise ExportError(
            f"{target.url} is not empty ({len(listing)} objects) and holds no voxcat "
            "export; choose an empty prefix"
        )
    target.put_bytes(PARAMS, json.dumps({**params, "complete": False}, indent=2).encode())
    if "bagit.txt" in listing:  # an export rewritten must not look complete meanwhile
        target.remove(["bagit.txt"])
        del listing["bagit.txt"]
    return RemoteJournal(stage, target, listing), fresh


def upload_tag_files(stage: Path, journal: RemoteJournal, params: dict[str, Any]) -> int:
    """Upload every file the export wrote in ``stage`` (not the links standing for
    payload objects), ``bagit.txt`` last, then mark the export complete; returns the
    bytes uploaded."""
    journal.flush()
    target = journal.target
    files = sorted(
        p.relative_to(stage).as_posix()
        for p in stage.rglob("*")
        if p.is_file() and not p.is_symlink() and STATE_DIR not in p.relative_to(stage).parts
    )
    order = [f for f in files if f not in LAST] + [f for f in LAST if f in files]
    sent = 0
    for rel in order:
        data = (stage / rel).read_bytes()
        there = journal.listing.get(rel)
        if (
            there is not None
            and rel not in LAST
            and there["size"] == len(data)
            and there["etag"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        ):
            continue  # the same bytes (a one-part object's ETag is their MD5)
        target.put_bytes(rel, data)
        sent += len(data)
    journal.compact()
    target.put_bytes(PARAMS, json.dumps({**params, "complete": True}, indent=2).encode())
    return sent


def remove_new(target: Target) -> None:
    """Delete what a failed new export wrote (best effort: the endpoint may be gone;
    what stays is marked incomplete)."""
    with contextlib.suppress(Exception):
        target.remove_prefix("")
