"""Notebooks never rot: every notebook in ``notebooks/`` runs top to bottom (nbclient,
ipykernel) against a freshly built demo index, and ``voxcat demo`` ships and opens the
same demo notebook."""

from __future__ import annotations

import io
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import catalog.demo
from catalog.cli import main
from catalog.demo import install_demo_notebook, run_demo

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PACKAGED = ROOT / "catalog" / "demo_notebooks" / "demo.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo folder as ``voxcat demo`` leaves it: drive/ and voxcat.duckdb."""
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder)
    return folder


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def test_notebooks_found() -> None:
    assert ROOT / "notebooks" / "demo.ipynb" in NOTEBOOKS


def test_demo_notebook_has_one_source() -> None:
    """``notebooks/demo.ipynb`` is a link to the package data ``voxcat demo`` installs."""
    assert (ROOT / "notebooks" / "demo.ipynb").resolve() == PACKAGED.resolve()
    nb = nbformat.read(PACKAGED, as_version=4)
    nbformat.validate(nb)
    assert not _outputs(nb), "commit the demo notebook without outputs"


def test_install_demo_notebook_keeps_an_edited_copy(tmp_path: Path) -> None:
    target = install_demo_notebook(tmp_path / "demo")
    assert target.read_bytes() == PACKAGED.read_bytes()
    target.write_text("{}")
    assert install_demo_notebook(tmp_path / "demo").read_text() == "{}"
    assert install_demo_notebook(tmp_path / "demo", force=True).read_bytes() == (
        PACKAGED.read_bytes()
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(
    path: Path, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cell fails, and every widget a cell displays has its state saved."""
    monkeypatch.setenv("VOXCAT_INDEX", str(demo_dir / "voxcat.duckdb"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=240, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the traceback of a failing cell
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o.data[WIDGET_VIEW]["model_id"] for o in outputs if WIDGET_VIEW in o.get("data", {})]
    if "widgets." in "".join(cell.source for cell in nb.cells):
        assert views, f"{path.name}: no widget was displayed"
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    assert set(views) <= set(state), "a displayed widget has no saved state"


@pytest.mark.slow
def test_demo_notebook_shows_the_catalogue(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's first cells display the catalogue, its searches and a lazy array."""
    monkeypatch.setenv("VOXCAT_INDEX", str(demo_dir / "voxcat.duckdb"))
    nb = nbformat.read(PACKAGED, as_version=4)
    nb.cells = [c for c in nb.cells if "widgets" not in c.source]  # covered above
    NotebookClient(
        nb, kernel_name="python3", timeout=240, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    html = "\n".join(o.data["text/html"] for o in _outputs(nb) if "text/html" in o.get("data", {}))
    for name in ("sandstone_01_rec", "hela_03_tilescan.ome.zarr", "water phantom"):
        assert name in html
    text = "\n".join(o.data.get("text/plain", "") for o in _outputs(nb) if "data" in o)
    assert "dask.array<" in text  # cat[id].read() is lazy


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "tty", "opens"),
    [([], False, False), ([], True, True), (["--no-lab"], True, False), (["--lab"], False, True)],
)
def test_voxcat_demo_opens_lab_only_when_interactive(
    flags: list[str],
    tty: bool,
    opens: bool,
    demo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a terminal (CI) ``voxcat demo`` says how to open the notebook and exits."""
    calls: list[tuple[Path, Path]] = []
    monkeypatch.setattr(catalog.demo, "open_lab", lambda nb, index: calls.append((nb, index)))
    stdin = io.StringIO()
    stdin.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["demo", "--dir", str(demo_dir), *flags]) == 0
    out = capsys.readouterr().out
    assert "added: 0" in out
    notebook = demo_dir / "demo.ipynb"
    assert json.loads(notebook.read_text())["cells"]
    if opens:
        assert calls == [(notebook, demo_dir / "voxcat.duckdb")]
    else:
        assert not calls
        # the index has the default name: started there, everything finds it
        assert f"cd {demo_dir} && jupyter lab demo.ipynb" in out
