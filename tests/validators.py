"""Independent validators as test oracles: what voxcat writes must satisfy tools that
know nothing of voxcat.

- :func:`assert_ome_zarr`: ome-zarr-models parses an OME-Zarr (0.4 or 0.5) image and
  every level it lists has the shape, dtype and axes the metadata claims;
- :func:`assert_bag_valid`: bagit-python validates a bag in full (every checksum);
- :func:`assert_ro_crate`: ro-crate-py loads the crate, and the root data entity has
  the RO-Crate 1.1 required and recommended properties, with no singleton arrays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bagit
import zarr
from ome_zarr_models import open_ome_zarr
from rocrate.rocrate import ROCrate

ROOT_REQUIRED = ("name", "description", "datePublished", "license")
ROOT_RECOMMENDED = ("author", "publisher")


def assert_ome_zarr(path: str | Path) -> Any:
    """Parse the OME-Zarr image at ``path`` with ome-zarr-models; returns the model."""
    group = zarr.open_group(str(path), mode="r")
    model = open_ome_zarr(group)
    attrs = dict(group.attrs)
    multiscales = (attrs.get("ome") or attrs).get("multiscales")
    assert multiscales, f"{path}: no multiscales"
    ms = multiscales[0]
    ndim = len(ms["axes"])
    shapes = []
    for ds in ms["datasets"]:
        array = group[ds["path"]]
        assert array.ndim == ndim, f"{path}/{ds['path']}: {array.ndim} dims, axes say {ndim}"
        shapes.append(array.shape)
    assert shapes == sorted(shapes, reverse=True), f"{path}: levels not from large to small"
    return model


def ome_zarr_stores(folder: str | Path) -> list[Path]:
    """Every OME-Zarr image under ``folder`` (groups whose attributes hold multiscales)."""
    found = []
    for meta in sorted(Path(folder).rglob("*")):
        if meta.name not in (".zattrs", "zarr.json"):
            continue
        attrs = json.loads(meta.read_text())
        if meta.name == "zarr.json":
            attrs = attrs.get("attributes") or {}
        if "multiscales" in attrs or "multiscales" in (attrs.get("ome") or {}):
            found.append(meta.parent)
    return found


def assert_bag_valid(dest: str | Path) -> bagit.Bag:
    """A full BagIt validation (every payload and tag checksum, Payload-Oxum)."""
    bag = bagit.Bag(str(dest))
    bag.validate()  # raises bagit.BagValidationError naming what differs
    return bag


def _singletons(entity: dict[str, Any]) -> list[str]:
    return [k for k, v in entity.items() if isinstance(v, list) and len(v) == 1]


def assert_ro_crate(dest: str | Path) -> dict[str, Any]:
    """ro-crate-py loads the crate; the root data entity has the required and
    recommended properties, its author an affiliation, the licence a name and a
    description, and no entity has a singleton array. Returns ``{@id: entity}``."""
    crate = ROCrate(str(dest))
    root = crate.root_dataset
    assert root is not None and root.id == "./"
    doc = json.loads((Path(dest) / "ro-crate-metadata.json").read_text())
    graph = {e["@id"]: e for e in doc["@graph"]}
    props = graph["./"]
    missing = [p for p in (*ROOT_REQUIRED, *ROOT_RECOMMENDED) if not props.get(p)]
    assert not missing, f"root data entity lacks {missing}"
    assert "Dataset" in props["@type"]
    for key in ("author", "publisher"):
        ref = props[key]
        for item in ref if isinstance(ref, list) else [ref]:
            assert item["@id"] in graph, f"{key} {item} is not described"
    author = graph[props["author"]["@id"]]
    assert author["@type"] == "Person" and author.get("affiliation"), author
    assert graph[author["affiliation"]["@id"]]["@type"] == "Organization"
    assert graph[props["publisher"]["@id"]]["@type"] in ("Organization", "Person")
    lic = graph[props["license"]["@id"]]
    assert lic.get("name") and lic.get("description"), lic
    bad = {i: _singletons(e) for i, e in graph.items() if _singletons(e)}
    assert not bad, f"singleton arrays: {bad}"
    for entity in crate.get_entities():  # every File the crate lists exists
        if "File" in entity.type and not entity.id.startswith(("#", "http")):
            assert (Path(dest) / entity.id).exists(), entity.id
    return graph
