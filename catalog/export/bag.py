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
FORMATS = {  # IANA types where registered, else the de-facto x- types
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jp2": "image/jp2",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
    ".hdf": "application/x-hdf5",
    ".he5": "application/x-hdf5",
    ".nxs": "application/x-hdf5",
    ".cxi": "application/x-hdf5",
    ".nc": "application/x-netcdf",
    ".nc4": "application/x-netcdf",
    ".cdf": "application/x-netcdf",
    ".dcm": "application/dicom",
    ".dicom": "application/dicom",
    ".nii": "application/x-nifti",
    ".nii.gz": "application/x-nifti",
    ".mrc": "application/x-mrc",
    ".mrcs": "application/x-mrc",
    ".rec": "application/x-mrc",
    ".st": "application/x-mrc",
    ".map": "application/x-mrc",
    ".nrrd": "application/x-nrrd",
    ".nhdr": "application/x-nrrd",
    ".mha": "application/x-metaimage",
    ".mhd": "application/x-metaimage",
    ".raw": "application/octet-stream",
    ".zarr": "application/x-zarr",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".parquet": "application/vnd.apache.parquet",
    ".duckdb": "application/x-duckdb",
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".gz": "application/gzip",
    ".zip": "application/zip",
}
ZARR_METADATA = (".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json")
SPDX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*[0-9A-Za-z+]$")


def encoding_format(path: str) -> str:
    """A MIME type for a file name (``application/octet-stream`` if unknown): a table
    for imaging formats (which ``mimetypes`` mostly lacks or gets wrong), then
    ``mimetypes``.

    >>> encoding_format("a/scan.ome.tif"), encoding_format("x/.zarray")
    ('image/tiff', 'application/json')
    >>> encoding_format("thumbnails/k2.png"), encoding_format("brain.nii.gz")
    ('image/png', 'application/x-nifti')
    """
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    if name in ZARR_METADATA:
        return "application/json"
    parts = name.split(".")[1:]
    for k in range(len(parts)):  # the longest known suffix: .nii.gz before .gz
        found = FORMATS.get("." + ".".join(parts[k:]))
        if found:
            return found
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def folder_format(files: list[str]) -> str:
    """The MIME type of a folder's files when they share one (slices, a series), else
    ``application/octet-stream``; ``application/x-zarr`` inside a Zarr store."""
    if any(".zarr/" in f for f in files):
        return "application/x-zarr"
    found = {encoding_format(f) for f in files if f.rsplit("/", 1)[-1] not in ZARR_METADATA}
    return found.pop() if len(found) == 1 else "application/octet-stream"


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
    """A licence as a contextual entity with a name and a description: URLs and SPDX ids
    as such, else free text.

    >>> license_entity("CC-BY-4.0")["@id"]
    'https://spdx.org/licenses/CC-BY-4.0'
    """
    if re.match(r"^https?://", text):
        return {"@id": text, "@type": "CreativeWork", "name": text, "description": text}
    if SPDX.match(text) and text.lower() != "not-specified":
        url = f"https://spdx.org/licenses/{text}"
        return {
            "@id": url,
            "@type": "CreativeWork",
            "name": text,
            "identifier": text,
            "description": f"SPDX licence {text} ({url})",
        }
    return {"@id": "#license", "@type": "CreativeWork", "name": text, "description": text}


def organization_entity(text: str | None) -> dict[str, Any]:
    """The publisher and the exporter's affiliation: a URL (ROR, a web site) or a name.

    >>> organization_entity("https://ror.org/02mhbdp94")["@id"]
    'https://ror.org/02mhbdp94'
    """
    if text and re.match(r"^https?://", text):
        return {"@id": text, "@type": "Organization", "name": text, "url": text}
    if text:
        return {"@id": "#organization", "@type": "Organization", "name": text}
    return {
        "@id": "#organization",
        "@type": "Organization",
        "name": "not specified",
        "description": "not given when exported: organization= (voxcat export "
        "--organization, or the VOXCAT_ORGANIZATION environment variable)",
    }


def _person(user: str | None, affiliation: str | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {
        "@id": f"#person-{user or 'unknown'}",
        "@type": "Person",
        "name": user or "unknown",
    }
    if affiliation:
        person["affiliation"] = {"@id": affiliation}
    return person


def _single(entity: dict[str, Any]) -> dict[str, Any]:
    """No singleton arrays (one value is written as itself) and no empty ones."""
    out = {}
    for key, value in entity.items():
        if isinstance(value, list):
            if not value:
                continue
            value = value[0] if len(value) == 1 else value
        out[key] = value
    return out


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
    organization: str | None = None,
) -> dict[str, Any]:
    """The RO-Crate 1.1 JSON-LD document of an export: the root data entity with its
    required and recommended properties (name, description, datePublished, license,
    author with an affiliation, publisher), no singleton arrays.

    ``datasets[id]`` holds ``name``, ``path`` (its folder or file, relative), ``files``
    (relative paths), ``format``, ``modality``, ``shape``, ``how``.
    """
    lic = license_entity(license)
    org = organization_entity(organization)
    people = {user: _person(user, org["@id"])}
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
            "encodingFormat": folder_format(files)
            if len(files) > 1 or d["path"].endswith(".zarr")
            else encoding_format(d["path"]),
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
        entities.append(
            {
                "@id": rel,
                "@type": "File",
                "name": rel.rsplit("/", 1)[-1],
                "encodingFormat": encoding_format(rel),
            }
        )
    actions, instruments = [], {}
    for k, link in enumerate(lineage):
        # a step of no known user is the one "#person-unknown" entity, not a second one
        who = link.get("user") or "unknown"
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
        "author": {"@id": people[user]["@id"]},
        "publisher": {"@id": org["@id"]},
        "license": {"@id": lic["@id"]},
        "hasPart": parts,
        "mentions": [{"@id": a["@id"]} for a in actions],
    }
    graph += [root, *entities, *actions, *instruments.values(), *people.values(), org, lic]
    return {"@context": f"{RO_CRATE}/context", "@graph": [_single(e) for e in _unique(graph)]}


def _unique(graph: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in graph:
        seen.setdefault(item["@id"], item)
    return list(seen.values())
