"""BagIt 1.0 fixity files and the RO-Crate 1.1 description of an export.

The export folder is a BagIt bag: the datasets are the payload under ``data/``
(``manifest-sha256.txt``), everything else is a tag file at the top
(``tagmanifest-sha256.txt``). The same folder is an RO-Crate whose root data entity
is the folder itself: one ``Dataset`` per exported dataset with its ``File`` parts
(``contentSize``, ``encodingFormat``, ``sha256``), one ``CreateAction`` per lineage
link (``object``: the parent and the step's parameters, ``result``: the child,
``instrument``: the step, ``agent``: who), the people involved and the licence.

>>> write_bag(dest, payload, bag_info)          # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import re
from pathlib import Path
from typing import Any

from .package import write_text

RO_CRATE = "https://w3id.org/ro/crate/1.1"
MAX_FILE_ENTITIES = 200  # per dataset; bigger ones are described as a whole
FORMATS = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
    ".nxs": "application/x-hdf5",
    ".nc": "application/x-netcdf",
    ".mrc": "application/octet-stream",
    ".nii": "application/octet-stream",
    ".dcm": "application/dicom",
    ".json": "application/json",
    ".zarr": "application/x-zarr",
    ".yaml": "application/yaml",
    ".parquet": "application/vnd.apache.parquet",
    ".duckdb": "application/x-duckdb",
    ".md": "text/markdown",
    ".png": "image/png",
}
SPDX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*[0-9A-Za-z+]$")


def encoding_format(path: str) -> str:
    """A MIME type for a file name (``application/octet-stream`` if unknown).

    >>> encoding_format("a/scan.ome.tif"), encoding_format("x/.zarray")
    ('image/tiff', 'application/json')
    """
    name = path.rsplit("/", 1)[-1].lower()
    if name in (".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"):
        return "application/json"
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return FORMATS.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _escape(path: str) -> str:
    return path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(dest: Path, payload: dict[str, tuple[str, int]]) -> None:
    """``manifest-sha256.txt`` of ``payload`` (rel path -> (sha256, size)) plus
    ``bagit.txt``."""
    lines = "".join(f"{sha}  {_escape(rel)}\n" for rel, (sha, _) in sorted(payload.items()))
    write_text(dest / "manifest-sha256.txt", lines)
    write_text(dest / "bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")


def write_bag_info(dest: Path, payload: dict[str, tuple[str, int]], info: dict[str, str]) -> None:
    """``bag-info.txt`` with ``Payload-Oxum`` and the given fields."""
    total = sum(size for _, size in payload.values())
    fields = {
        "Bagging-Date": dt.date.today().isoformat(),
        "Payload-Oxum": f"{total}.{len(payload)}",
        "Bag-Size": f"{total / 1e9:.3f} GB",
        **info,
    }
    text = "".join(f"{k}: {' '.join(str(v).split())}\n" for k, v in fields.items() if v)
    write_text(dest / "bag-info.txt", text)


def write_tagmanifest(dest: Path, tag_files: list[str]) -> None:
    """``tagmanifest-sha256.txt`` over the tag files (written last)."""
    lines = "".join(f"{sha256_file(dest / rel)}  {_escape(rel)}\n" for rel in sorted(tag_files))
    write_text(dest / "tagmanifest-sha256.txt", lines)


# -- RO-Crate ---------------------------------------------------------------------------------


def license_entity(text: str) -> dict[str, Any]:
    """A licence as a contextual entity: URLs and SPDX ids as such, else free text.

    >>> license_entity("CC-BY-4.0")["@id"]
    'https://spdx.org/licenses/CC-BY-4.0'
    """
    if re.match(r"^https?://", text):
        return {"@id": text, "@type": "CreativeWork", "name": text}
    if SPDX.match(text) and text.lower() != "not-specified":
        return {"@id": f"https://spdx.org/licenses/{text}", "@type": "CreativeWork", "name": text}
    return {"@id": "#license", "@type": "CreativeWork", "name": text, "description": text}


def _person(user: str | None) -> dict[str, Any]:
    return {"@id": f"#person-{user or 'unknown'}", "@type": "Person", "name": user or "unknown"}


def ro_crate(
    *,
    name: str,
    description: str,
    when: dt.datetime,
    user: str,
    license: str,
    datasets: dict[str, dict[str, Any]],
    lineage: list[dict[str, Any]],
    payload: dict[str, tuple[str, int]],
    tag_files: list[str],
) -> dict[str, Any]:
    """The RO-Crate 1.1 JSON-LD document of an export.

    ``datasets[id]`` holds ``name``, ``path`` (its folder or file, relative), ``files``
    (relative paths), ``format``, ``modality``, ``shape``, ``how``.
    """
    lic = license_entity(license)
    people = {user: _person(user)}
    graph: list[dict[str, Any]] = [
        {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "conformsTo": {"@id": RO_CRATE},
            "about": {"@id": "./"},
        }
    ]
    parts: list[dict[str, str]] = []
    entities: list[dict[str, Any]] = []
    ids_of: dict[str, str] = {}
    for ident, d in datasets.items():
        folder = f"data/{ident}/"
        ids_of[ident] = folder
        files = [f for f in d["files"] if f in payload]
        entity = {
            "@id": folder,
            "@type": "Dataset",
            "name": d["name"],
            "identifier": ident,
            "description": f"{d.get('format')} {d.get('modality') or ''} {d.get('shape')}; "
            f"opened by catalog.yaml as: {d['how']}",
            "contentSize": str(sum(payload[f][1] for f in files)),
            "encodingFormat": encoding_format(d["path"]),
        }
        if len(files) <= MAX_FILE_ENTITIES:
            entity["hasPart"] = [{"@id": f} for f in files]
            for f in files:
                sha, size = payload[f]
                entities.append(
                    {
                        "@id": f,
                        "@type": "File",
                        "name": f.rsplit("/", 1)[-1],
                        "contentSize": str(size),
                        "encodingFormat": encoding_format(f),
                        "sha256": sha,
                    }
                )
        parts.append({"@id": folder})
        entities.append(entity)
    for rel in sorted(tag_files):
        parts.append({"@id": rel})
        entities.append({"@id": rel, "@type": "File", "encodingFormat": encoding_format(rel)})
    actions, instruments = [], {}
    for k, link in enumerate(lineage):
        who = link.get("user")
        people.setdefault(who, _person(who))
        step = link.get("step") or "derived"
        inst = f"#step-{re.sub(r'[^A-Za-z0-9._-]+', '_', step)}"
        instruments[inst] = {"@id": inst, "@type": "SoftwareApplication", "name": step}
        parent = ids_of.get(link["parent"], f"#dataset-{link['parent']}")
        if parent.startswith("#"):
            entities.append(
                {"@id": parent, "@type": "Dataset", "identifier": link["parent"],
                 "description": "parent not included in this export"}
            )  # fmt: skip
        params = [
            {"@id": f"#step-{k}-{key}", "@type": "PropertyValue", "name": key,
             "value": json.dumps(value, default=str) if not isinstance(value, str) else value}
            for key, value in (link.get("params") or {}).items()
        ]  # fmt: skip
        entities.extend(params)
        actions.append(
            {
                "@id": f"#lineage-{k}",
                "@type": "CreateAction",
                "name": f"{step}: {link['parent']} -> {link['child']}",
                "object": [{"@id": parent}, *({"@id": p["@id"]} for p in params)],
                "result": [{"@id": ids_of.get(link["child"], f"#dataset-{link['child']}")}],
                "instrument": {"@id": inst},
                "agent": {"@id": people[who]["@id"]},
                **({"endTime": link["time"]} if link.get("time") else {}),
            }
        )
    root = {
        "@id": "./",
        "@type": "Dataset",
        "name": name,
        "description": description,
        "datePublished": when.isoformat(timespec="seconds"),
        "author": [{"@id": people[user]["@id"]}],
        "license": {"@id": lic["@id"]},
        "hasPart": parts,
        "mentions": [{"@id": a["@id"]} for a in actions],
    }
    graph += [root, *entities, *actions, *instruments.values(), *people.values(), lic]
    return {"@context": f"{RO_CRATE}/context", "@graph": _unique(graph)}


def _unique(graph: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in graph:
        seen.setdefault(item["@id"], item)
    return list(seen.values())
