"""Every read and annotation endpoint of /voxcat/api/ against a small real index."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from catalog import open_catalog
from catalog.index.audit import list_audit
from catalog.service.params import search_args

SANDSTONES = ["sandstone_0.tif", "sandstone_1.tif", "sandstone_2.tif"]


async def test_info_names_the_index_and_fields(api, lab) -> None:
    r = await api("info")
    assert r.status == 200
    assert r.json["index"] == str(lab.index)
    assert r.json["index_exists"] is True
    assert r.json["datasets"] == 4
    assert "voxel_size" in r.json["fields"]


async def test_search_text_returns_rows_with_thumbnail_urls(api, lab) -> None:
    r = await api("search", params={"q": "sandstone"})
    assert r.status == 200
    body = r.json
    assert body["total"] == 3
    assert [row["name"] for row in body["rows"]] == SANDSTONES
    row = body["rows"][0]
    assert row["id"] == lab.id("sandstone_0.tif")
    assert row["shape"] == [8, 40, 48]
    assert row["voxel_size"] == 5e-7
    assert row["tags"] == ["porosity"]
    assert row["size"] > 0
    assert row["thumbnail"].endswith(f"/voxcat/api/thumbnails/{row['id']}.png")


async def test_search_filters_use_the_command_line_value_forms(api, lab) -> None:
    async def names(params) -> list[str]:
        r = await api("search", params=params)
        assert r.status == 200, r.body
        return [row["name"] for row in r.json["rows"]]

    assert await names({"modality": "LM"}) == ["cell_a.tif"]
    assert await names({"tags": "porosity"}) == ["sandstone_0.tif"]
    assert await names({"name": "sand*", "voxel_size": "0.1um..1um"}) == SANDSTONES
    assert await names({"voxel_size": "..0.1um"}) == []
    assert await names({"shape": "4x40x48,8x40x48", "project": "cells"}) == ["cell_a.tif"]
    assert await names([("name", "cell_a.tif"), ("name", "sandstone_2.tif")]) == [
        "cell_a.tif",
        "sandstone_2.tif",
    ]
    assert await names({"derived_from": lab.id("sandstone_0.tif")}) == ["sandstone_1.tif"]
    assert await names({"q": "sandstone", "modality": ""}) == SANDSTONES  # empty: ignored
    # non-image files only with files=true
    assert await names({"q": "readme"}) == []
    assert await names({"q": "readme", "files": "true"}) == ["readme.txt"]


async def test_search_sorts_and_pages(api, lab) -> None:
    r = await api("search", params={"sort": "-name", "limit": "2"})
    assert r.json["total"] == 4
    first = [row["name"] for row in r.json["rows"]]
    assert first == ["sandstone_2.tif", "sandstone_1.tif"]
    r = await api("search", params={"sort": "-name", "limit": "2", "offset": "2"})
    assert [row["name"] for row in r.json["rows"]] == ["sandstone_0.tif", "cell_a.tif"]
    assert r.json["offset"] == 2 and r.json["total"] == 4
    r = await api("search", params={"offset": "10"})
    assert r.json["rows"] == [] and r.json["total"] == 4


async def test_facets_and_ranges_follow_the_filters(api, lab) -> None:
    r = await api("facets", params={"fields": "format,tags", "ranges": "voxel_size,size"})
    assert r.status == 200
    assert r.json["total"] == 4
    assert r.json["facets"]["format"] == [{"value": "tiff", "count": 4}]
    assert r.json["facets"]["tags"] == [{"value": "porosity", "count": 1}]
    assert r.json["ranges"]["voxel_size"] == [5e-7, 5e-7]
    r = await api("facets", params={"fields": "modality", "q": "cell"})
    assert r.json == {
        "total": 1,
        "facets": {"modality": [{"value": "LM", "count": 1}]},
        "ranges": {},
    }
    r = await api("facets")  # the default facets
    assert {"modality", "format", "tags", "project"} <= set(r.json["facets"])


async def test_a_filtered_field_keeps_its_other_values_on_offer(api, lab) -> None:
    # values of one field combine with OR: choosing name=cell_a.tif must still offer
    # the other names (counted without the name filter, the text and other filters
    # still applying), while every other field is counted over the selection
    params = {"fields": "name,project", "name": "cell_a.tif"}
    r = await api("facets", params=params)
    assert r.json["total"] == 1
    names = {v["value"]: v["count"] for v in r.json["facets"]["name"]}
    assert names == dict.fromkeys(
        ["cell_a.tif", "sandstone_0.tif", "sandstone_1.tif", "sandstone_2.tif"], 1
    )
    assert r.json["facets"]["project"] == [{"value": "cells", "count": 1}]
    r = await api("facets", params={**params, "q": "sandstone"})  # the text still applies
    assert r.json["total"] == 0
    assert {v["value"] for v in r.json["facets"]["name"]} == {
        "sandstone_0.tif",
        "sandstone_1.tif",
        "sandstone_2.tif",
    }
    r = await api("facets", params={**params, "project": "cells", "fields": "name"})
    assert r.json["facets"]["name"] == [{"value": "cell_a.tif", "count": 1}]  # other filters


async def test_facets_without_multiselect_count_the_selection(api, lab) -> None:
    # multiselect=false (what the remote catalogue asks for): a filtered field is
    # counted with its own filter on, as cat.search(...).facets(...) counts
    params = {"fields": "name,project", "name": "cell_a.tif", "multiselect": "false"}
    r = await api("facets", params=params)
    assert r.json == {
        "total": 1,
        "multiselect": False,
        "facets": {
            "name": [{"value": "cell_a.tif", "count": 1}],
            "project": [{"value": "cells", "count": 1}],
        },
        "ranges": {},
    }
    r = await api("facets", params={**params, "multiselect": "maybe"})
    assert r.status == 400 and "multiselect" in r.json["error"]


async def test_dataset_detail_has_tags_notes_and_lineage(api, lab) -> None:
    child, parent = lab.id("sandstone_1.tif"), lab.id("sandstone_0.tif")
    r = await api("datasets", child)
    assert r.status == 200
    d = r.json
    assert d["id"] == child and d["name"] == "sandstone_1.tif"
    assert d["axes"] == "zyx" and d["shape"] == [8, 40, 48]
    assert d["tags"] == [] and d["notes"] == []
    assert set(d["lineage"]["nodes"]) == {child, parent}
    [edge] = d["lineage"]["edges"]
    assert (edge["parent"], edge["child"], edge["step"]) == (parent, child, "denoise")
    assert d["thumbnail"].endswith(f"thumbnails/{child}.png")
    assert d["slice"].endswith(f"datasets/{child}/slice.png")
    assert "lab.voxcat" not in r.body.decode()  # cache paths stay on the server


async def test_tags_are_added_and_removed_through_the_audited_catalogue(api, lab) -> None:
    ident = lab.id("sandstone_2.tif")
    r = await api("datasets", ident, "tags", method="POST", body={"tags": ["pore", "paper"]})
    assert r.status == 200
    assert r.json == {"added": 2, "tags": ["paper", "pore"]}
    r = await api("datasets", ident, "tags", method="POST", body={"tags": "pore"})
    assert r.json["added"] == 0
    r = await api("datasets", ident, "tags", method="DELETE", params={"tag": "pore"})
    assert r.status == 200
    assert r.json == {"removed": 1, "tags": ["paper"]}
    r = await api("datasets", ident, "tags", method="DELETE", body={"tags": ["paper"]})
    assert r.json == {"removed": 1, "tags": []}
    actions = [row["action"] for row in list_audit(lab.index, dataset=ident)]
    assert actions.count("tag") == 2 and actions.count("untag") == 2
    r = await api("search", params={"tags": "paper"})
    assert r.json["total"] == 0


async def test_notes_are_added_and_audited(api, lab) -> None:
    ident = lab.id("cell_a.tif")
    r = await api("datasets", ident, "notes", method="POST", body={"text": "ring artefacts"})
    assert r.status == 201
    assert [n["text"] for n in r.json["notes"]] == ["ring artefacts"]
    assert any(row["action"] == "note" for row in list_audit(lab.index, dataset=ident))
    r = await api("search", params={"notes": "ring*"})
    assert [row["id"] for row in r.json["rows"]] == [ident]


async def test_thumbnail_is_the_cached_png(api, lab) -> None:
    ident = lab.id("sandstone_0.tif")
    r = await api("thumbnails", f"{ident}.png")
    assert r.status == 200
    assert r.headers["Content-Type"] == "image/png"
    assert r.body[:8] == b"\x89PNG\r\n\x1a\n"
    name = open_catalog(lab.index)[ident].metadata["thumbnail"]
    assert r.body == (lab.index.parent / "lab.voxcat" / name).read_bytes()


async def test_non_image_files_have_no_thumbnail(api, lab) -> None:
    cat = open_catalog(lab.index, files=True)
    ident = next(iter(cat.search(name="readme.txt")))
    r = await api("thumbnails", f"{ident}.png")
    assert r.status == 404
    assert "none was made" in r.json["error"]


def _png(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


async def test_slice_png_of_a_plane_with_percentile_contrast(api, lab) -> None:
    ident = lab.id("sandstone_0.tif")
    r = await api("datasets", ident, "slice.png", params={"dims": "y,x", "z": "4"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "image/png"
    img = _png(r.body)
    assert img.shape == (40, 48) and img.dtype == np.uint8
    # the ball (values > 3000) saturates, the background is dark
    assert img[20, 24] == 255 and img[0, 0] < 40
    lo, hi = (float(v) for v in r.headers["X-Voxcat-Contrast"].split(","))
    assert 0 <= lo < 200 < 3000 <= hi
    assert r.headers["X-Voxcat-Level"] == "0"


async def test_slice_png_other_orientations_sizes_and_levels(api, lab) -> None:
    ident = lab.id("sandstone_0.tif")
    r = await api("datasets", ident, "slice.png", params={"dims": "z,x", "y": "20"})
    assert _png(r.body).shape == (8, 48)
    r = await api("datasets", ident, "slice.png", params={"size": "24"})
    assert max(_png(r.body).shape) == 24
    r = await api("datasets", ident, "slice.png", params={"level": "0"})
    assert _png(r.body).shape == (40, 48)
    r = await api("datasets", ident, "slice.png", params={"level": "3"})
    assert r.status == 400 and "levels 0..0" in r.json["error"]
    r = await api("datasets", ident, "slice.png", params={"z": "99"})
    assert r.status == 400 and "outside" in r.json["error"]
    r = await api("datasets", ident, "slice.png", params={"dims": "y,q"})
    assert r.status == 400
    r = await api("datasets", ident, "slice.png", params={"w": "1"})
    assert r.status == 400 and "unknown parameter 'w'" in r.json["error"]
    r = await api("datasets", ident, "slice.png", params={"percentiles": "90,10"})
    assert r.status == 400


async def test_unknown_paths_under_the_prefix_are_json_404(api) -> None:
    r = await api("nothing", "here")
    assert r.status == 404
    assert "no voxcat endpoint" in r.json["error"]


async def test_jupyterlab_cache_busters_and_url_tokens_are_not_filters(api, lab) -> None:
    """JupyterLab's ``ServerConnection`` appends ``?<timestamp>`` to GETs, and scripts
    may authenticate with ``?token=``: neither is a search filter or a slice position."""
    r = await api("search", params={"q": "sandstone", "1795401978308": ""})
    assert r.status == 200, r.body
    assert r.json["total"] == 3
    assert search_args({"q": ["sandstone"], "token": ["secret"]}).filters == {}
    r = await api("facets", params={"1795401978308": ""})
    assert r.status == 200, r.body
    ident = lab.id("sandstone_0.tif")
    r = await api("datasets", ident, "slice.png", params={"z": "2", "1795401978309": ""})
    assert r.status == 200, r.body
    r = await api("datasets", ident, "slice.png", params={"w": ""})
    assert r.status == 200, r.body  # a valueless key is no parameter at all
