"""What an interrupted Zarr conversion had written, so the next run resumes it.

A conversion writes into a temporary store (``<name>.zarr.voxcat-tmp``) and, beside its
arrays, a log ``.voxcat-resume.jsonl``: first the conversion's key (the source's
checksum and shape), then for each level written from the source a header (shape,
storage chunks, write blocks, dtype) and, after each block of it is written, the
chunks of that block with the BLAKE3 of their values. Only chunks listed in the log
are trusted: a block cut short by a kill has no line, so it is written again, and a
stray ``*.partial`` file of an atomic chunk write is deleted. The hashes let the
conversion check the chunks it did not write itself when it reads level 0 back for
level 1, as it checks its own. The log is removed before the store is renamed into
place, so a finished store never holds it.

>>> log = ResumeLog.open(Path("out/data/k2/vol.zarr.voxcat-tmp"), "blake3:5f2a:600x1024")  # doctest: +SKIP
>>> log.resumed, log.kept                                          # doctest: +SKIP
(True, 212)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

NAME = ".voxcat-resume.jsonl"


class ResumeLog:
    """The log of one temporary store (see the module docstring). Thread-safe."""

    def __init__(self, store: Path, key: str, resumed: bool) -> None:
        self.store, self.key, self.resumed = store, key, resumed
        self.path = store / NAME
        self.headers: dict[str, dict[str, Any]] = {}
        self.chunks: dict[str, dict[tuple[int, ...], str]] = {}
        self.kept = 0  # chunks found written by an earlier run and not written again
        self._lock = threading.Lock()

    @classmethod
    def open(cls, store: Path, key: str) -> ResumeLog:
        """The log of ``store`` if it was written for ``key``; otherwise ``store`` is
        emptied and a new log started."""
        log = cls(store, key, resumed=False)
        try:
            lines = log.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        first = _line(lines[0]) if lines else None
        if first is not None and first.get("key") == key:
            log.resumed = True
            for text in lines[1:]:
                item = _line(text)  # a line cut by the kill is skipped
                if item is None:
                    continue
                group = str(item.get("level"))
                if "header" in item:
                    log.headers[group] = item["header"]
                    log.chunks[group] = {}
                elif group in log.chunks and "chunks" in item:
                    for at, digest in item["chunks"]:
                        log.chunks[group][tuple(at)] = digest
            for leftover in store.rglob("*.partial"):  # a chunk write cut short
                with contextlib.suppress(OSError):
                    leftover.unlink()
            return log
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        log._append({"key": key})
        return log

    def level(self, group: str, header: dict[str, Any]) -> dict[tuple[int, ...], str] | None:
        """The chunks of level ``group`` written before (index -> BLAKE3 hex), if it was
        started with this same ``header``; else None (write the level from scratch)."""
        if self.headers.get(group) != header:
            return None
        return dict(self.chunks.get(group, {}))

    def start(self, group: str, header: dict[str, Any]) -> None:
        """Level ``group`` is (re)started: its array exists, empty."""
        self._append({"level": group, "header": header})
        with self._lock:
            self.headers[group] = header
            self.chunks[group] = {}

    def written(self, group: str, chunks: dict[tuple[int, ...], str]) -> None:
        """These chunks of level ``group`` are written (their values' BLAKE3)."""
        self._append({"level": group, "chunks": [[list(k), v] for k, v in chunks.items()]})

    def close(self) -> None:
        """The conversion is complete: remove the log before the store is renamed."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _append(self, item: dict[str, Any]) -> None:
        # one write per line (O_APPEND): lines of concurrent blocks never interleave.
        # No fsync: a kill leaves the page cache to the kernel, and after a power
        # failure the read-back of level 0 (or the comparison with the source) finds a
        # chunk that did not reach the disk
        data = (json.dumps(item) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


def _line(text: str) -> dict[str, Any] | None:
    try:
        item = json.loads(text)
    except ValueError:
        return None
    return item if isinstance(item, dict) else None
