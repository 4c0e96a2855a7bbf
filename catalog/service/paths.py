"""Validation of what clients name: dataset ids, folders for jobs, cached images.

Paths from requests are resolved against the server's ``root_dir`` and must stay,
symlinks followed, inside one of the allowed roots (the server's ``root_dir``, the
index's folder and any configured extra roots). ``..`` is refused outright, so a
request can never walk out of a root even where a symlink would allow it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import BadRequest, Forbidden, NotFound
from ..inputs import MAX_NAME_BYTES, MAX_PATH_CHARS

#: dataset ids: lower-case letters and digits, 6 to 32 of them
ID_PATTERN = re.compile(r"[a-z0-9]{6,32}")


def check_id(dataset_id: str) -> str:
    """``dataset_id`` if it looks like a voxcat id, else :class:`BadRequest`."""
    if not isinstance(dataset_id, str) or not ID_PATTERN.fullmatch(dataset_id):
        raise BadRequest(
            f"{str(dataset_id)[:40]!r} is not a dataset id (6-32 lower-case letters and digits)"
        )
    return dataset_id


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def resolve_user_path(raw: object, base: Path, roots: Sequence[Path], what: str) -> Path:
    """The real path a client means by ``raw`` (relative to ``base``), if it lies in
    one of ``roots``; :class:`BadRequest` for malformed input (``..``, NUL, not text),
    :class:`Forbidden` for anything outside the roots."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest(f"{what}: give a path as a non-empty string")
    if "\x00" in raw:
        raise BadRequest(f"{what}: the path contains a NUL character")
    if len(raw) > MAX_PATH_CHARS:
        raise BadRequest(
            f"{what}: the path has {len(raw):,} characters; at most {MAX_PATH_CHARS:,}"
        )
    parts = re.split(r"[\\/]+", raw)
    longest = max(len(p.encode("utf-8", "surrogatepass")) for p in parts)
    if longest > MAX_NAME_BYTES:
        raise BadRequest(
            f"{what}: a folder or file name of {longest} bytes; names hold at most "
            f"{MAX_NAME_BYTES} bytes"
        )
    if ".." in parts:
        raise BadRequest(f"{what}: '..' is not allowed in paths; give the folder itself")
    candidate = Path(raw) if os.path.isabs(raw) else base / raw
    real = Path(os.path.realpath(candidate))
    if len(str(real).encode("utf-8", "surrogatepass")) >= MAX_PATH_CHARS:  # PATH_MAX
        raise BadRequest(f"{what}: the full path is longer than {MAX_PATH_CHARS:,} bytes")
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    if not any(_inside(real, r) for r in real_roots):
        raise Forbidden(
            f"{what}: {raw!r} is outside the folders this server may use "
            f"({', '.join(str(r) for r in real_roots)}); add it with "
            "c.VoxcatExtension.allowed_roots"
        )
    return real


def cached_file(cache: Path, relative: object, what: str) -> Path:
    """A file inside the index's cache folder named by an index row (``thumbnail``);
    :class:`NotFound` when missing, :class:`Forbidden` when it points elsewhere."""
    if not isinstance(relative, str) or not relative:
        raise NotFound(f"{what}: none was made (a failed or non-image dataset)")
    root = Path(os.path.realpath(cache))
    real = Path(os.path.realpath(root / relative))
    if not real.is_relative_to(root) or real == root:
        raise Forbidden(f"{what}: the index names a file outside its cache folder")
    if not real.is_file():
        raise NotFound(f"{what}: the cached file is gone; rescan to make it again")
    return real
