"""The tag files of an export and its fixity: catalogue, index, parquet, lineage,
README, RO-Crate and BagIt manifests, written after the payload is complete.

Payload hashes come from the resume journal (computed when each file was verified);
only the few files written here (reference files) are hashed again.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..paths import display
from . import bag, package
from .files import hash_file
from .select import Selection


def write_tag_files(
    sel: Selection,
    dest: Path,
    exported: dict[str, dict[str, Any]],
    entries: dict[str, tuple[Any, dict[str, Any]]],
    *,
    mode: str,
    query: str | None,
    lic: str,
    user: str,
    when: dt.datetime,
    skipped: dict[str, dict[str, str]] | None = None,
    organization: str | None = None,
    remote: bool = False,
) -> None:
    """Write the tag files and the manifests (payload hashes from the journal).
    ``remote``: the payload is in object storage (an export to a URL), listed from
    the journal's records rather than found in ``dest/data``.

    ``voxcat.duckdb`` is the folder's working index (voxcat records verifications, tags
    and notes in it), so it is a tag file that no manifest lists: what it held when
    exported is fixed in ``datasets.parquet`` and ``catalog.yaml``, which are listed."""
    title = f"voxcat export of {len(exported)} datasets"
    stamp = when.isoformat(timespec="seconds")
    meta = {
        "title": title,
        "exported_by": user,
        "exported": stamp,
        "source_index": display(sel.index),
        "query": query,
        "mode": mode,
        "license": lic,
        "organization": organization,
        "voxcat_version": __version__,
    }
    package.write_catalog(dest / "catalog.yaml", entries, meta)
    thumbs = package.copy_thumbnails(sel, dest)
    settings = {"license": lic, "exported_from": display(sel.index), "exported": stamp}
    package.write_index(sel, dest, exported, thumbs, settings)
    package.write_parquet(dest, exported)
    package.write_lineage(dest, sel)
    text = package.readme(
        sel, exported, mode=mode, query=query, license=lic, user=user, when=when,
        skipped=skipped or {},
    )  # fmt: skip
    package.write_text(dest / "README.md", text)
    payload: dict[str, tuple[str, int]] = {}
    known = {f["path"]: f for e in exported.values() for f in (*e["files"], *e.get("extra", []))}
    for path in sorted(p for p in (dest / "data").rglob("*") if p.is_file()):
        rel = path.relative_to(dest).as_posix()
        item = known.get(rel)
        if item is None:  # written by this run without a journal record: reference files
            sha, _ = hash_file(path)
            payload[rel] = (sha, path.stat().st_size)
        else:
            payload[rel] = (item["sha256"], item["size"])
    if remote:  # objects without a local stand-in (Zarr written to the store)
        for rel, item in known.items():
            payload.setdefault(rel, (item["sha256"], item["size"]))
    datasets = {
        i: {
            "name": sel.rows[i]["name"],
            "path": e["path"],
            "files": [f["path"] for f in e["files"] + e.get("extra", [])],
            "format": sel.rows[i]["format"],
            "modality": sel.rows[i]["modality"],
            "shape": sel.rows[i]["shape"],
            "how": e["how"],
        }
        for i, e in exported.items()
    }
    tags = ["catalog.yaml", "datasets.parquet", package.INDEX_NAME, "lineage.json", "README.md"]
    tags += [f"thumbnails/{i}.png" for i in thumbs]
    crate = bag.ro_crate(
        name=title,
        description=f"{title} from {display(sel.index)} ({query or 'a list of ids'}), mode {mode}",
        when=when,
        user=user,
        license=lic,
        datasets=datasets,
        lineage=sel.lineage,
        payload=payload,
        tag_files=tags,
        organization=organization,
    )
    package.write_text(
        dest / "ro-crate-metadata.json", json.dumps(crate, indent=2, ensure_ascii=False)
    )
    bag.write_manifest(dest, payload)
    info = {
        "Source-Organization": organization or "",
        "Contact-Name": user,
        "External-Description": f"{title} ({query or 'a list of ids'}); licence: {lic}",
        "External-Identifier": display(sel.index),
        "Bag-Software-Agent": f"voxcat {__version__}",
    }
    bag.write_bag_info(dest, payload, info)
    every = [*tags, "ro-crate-metadata.json", "bagit.txt", "bag-info.txt", "manifest-sha256.txt"]
    bag.write_tagmanifest(dest, [t for t in every if t != package.INDEX_NAME])
