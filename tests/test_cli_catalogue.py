"""``voxcat search | show | tag | note | set`` on a real index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog import open_catalog
from catalog.cli import main
from catalog.cli_catalogue import cli_value

from .catalogue_rows import write_rows


@pytest.fixture
def index(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "lab.duckdb"
    return path, write_rows(path)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_values() -> None:
    assert cli_value("1um..10um") == ("1um", "10um")
    assert cli_value("..5") == (None, 5)
    assert cli_value("2023..") == (2023, None)
    assert cli_value("CT,MR") == ["CT", "MR"]
    assert cli_value("<=5um") == "<=5um"
    assert cli_value("0.5") == 0.5 and cli_value("sand*") == "sand*"


def test_search_table_json_and_ids(index, capsys) -> None:
    path, ids = index
    code, out, _ = run(capsys, "search", "sandstone", "--modality", "CT", "--index", str(path))
    assert code == 0
    assert "sandstone_01_rec" in out and "sandstone_02_rec" in out and "2 datasets" in out
    assert "6.5 µm" in out and "2.0 GB" in out
    code, out, _ = run(
        capsys, "search", "--voxel-size", "<5um", "--tag", "porosity", "--json", "-i", str(path)
    )
    data = json.loads(out)
    assert data["total"] == 1 and data["datasets"][0]["name"] == "sandstone_02_rec"
    code, out, _ = run(
        capsys,
        "search",
        "--where",
        "meta.ExposureTime=0.1..1",
        "--where",
        "modality=CT,LM",
        "--ids",
        "-i",
        str(path),
    )
    assert out.split() == [ids["sandstone_01_rec"]]
    code, out, _ = run(capsys, "search", "--acquired", "2024", "--sort=-acquired", "-i", str(path))
    lines = out.splitlines()
    assert "hela_confocal" in lines[1] and "sandstone_02_rec" in lines[2]
    code, out, _ = run(capsys, "search", "--limit", "2", "-i", str(path))
    assert "7 datasets (showing 2; --limit 0 for all)" in out
    code, out, _ = run(capsys, "search", "--files", "--limit", "0", "-i", str(path))
    assert "notes.txt" in out and "8 datasets" in out


def test_search_errors_are_clear(index, capsys) -> None:
    path, _ = index
    # input the command cannot use: one line on stderr, exit status 2 (usage)
    code, _, err = run(capsys, "search", "--where", "modalty=CT", "-i", str(path))
    assert code == 2 and "unknown search field 'modalty'" in err and "modality" in err
    code, _, err = run(capsys, "search", "--voxel-size", "<5 furlongs", "-i", str(path))
    assert code == 2 and "furlongs" in err and err.count("\n") == 1
    code, _, err = run(capsys, "search", "--where", "nonsense", "-i", str(path))
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run(capsys, "search", "x", "-i", str(path.with_name("none.duckdb")))
    assert code == 1 and "no voxcat index here" in err


def test_show(index, capsys) -> None:
    path, ids = index
    ident = ids["sandstone_02_rec"]
    code, out, _ = run(capsys, "show", ident, "-i", str(path))
    assert code == 0
    assert f"id: {ident}" in out and "checked by Anna" in out and "ExposureTime" in out
    code, out, _ = run(capsys, "show", ident, "--json", "-i", str(path))
    data = json.loads(out)
    assert data["tags"] == ["Paper-2025", "porosity"] and data["meta"]["ExposureTime"] == 1.2
    assert any(h["action"] == "tag" for h in data["history"])
    code, _, err = run(capsys, "show", "sandstone_02_rec", "-i", str(path))
    assert code == 1 and "is a dataset name, not an id" in err and ident in err


def test_tag_note_set(index, capsys) -> None:
    path, ids = index
    a, b = ids["hela_confocal"], ids["brain_T1.nii.gz"]
    code, out, _ = run(capsys, "tag", a, b, "--tag", "review", "-t", "q3", "-i", str(path))
    assert code == 0 and "added 4 tag(s)" in out
    code, out, _ = run(capsys, "tag", b, "--tag", "q3", "--remove", "-i", str(path))
    assert "removed 1 tag(s)" in out
    code, out, _ = run(capsys, "note", a, "nuclei segmented by hand", "-i", str(path))
    assert code == 0
    code, out, _ = run(capsys, "set", f"{a},{b}", "sample=S9", "access=internal", "-i", str(path))
    assert code == 0 and "updated 2 dataset(s)" in out
    cat = open_catalog(path)
    assert sorted(cat.search(tags="review", sample="s9").df["name"]) == [
        "brain_T1.nii.gz",
        "hela_confocal",
    ]
    assert cat[a].metadata["notes"][0]["text"] == "nuclei segmented by hand"
    assert cat[b].metadata["tags"] == ["review"]
    code, _, err = run(capsys, "set", a, "data_level=final", "-i", str(path))
    assert code == 2 and "not one of" in err
    code, _, err = run(capsys, "tag", "nosuchid", "--tag", "x", "-i", str(path))
    assert code == 1 and "nosuchid" in err
