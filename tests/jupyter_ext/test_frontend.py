"""The JupyterLab front end: installed with the package, and its TypeScript unit tests
(``jlpm test`` in ``jupyter_ext/frontend``: paging, windowing, query strings,
formatting, inserted code, job notifications), its lint (``jlpm lint:check``: Prettier
and ESLint), its settings schema, and the JupyterLab versions it declares."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "jupyter_ext" / "frontend"


def test_labextension_is_installed_and_enabled() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = out.stdout + out.stderr
    line = next((ln for ln in text.splitlines() if "@voxcat/jupyterlab" in ln), None)
    assert line is not None, text
    assert "enabled" in line and "OK" in line, line


def test_built_assets_are_not_in_git() -> None:
    ignored = (FRONTEND.parents[1] / ".gitignore").read_text().splitlines()
    assert "jupyter_ext/labextension/" in ignored
    assert "node_modules/" in ignored
    package = json.loads((FRONTEND / "package.json").read_text())
    assert package["jupyterlab"]["outputDir"] == "../labextension"


@pytest.mark.slow
def test_typescript_unit_tests() -> None:
    if not (FRONTEND / "node_modules").is_dir():
        pytest.fail(
            f"{FRONTEND}/node_modules is missing: `pip install .` from this checkout "
            "installs it while building the front end (or run `jlpm install` there)"
        )
    jlpm = shutil.which("jlpm")
    assert jlpm, "jlpm (from the jupyterlab package) is not on PATH"
    out = subprocess.run([jlpm, "test"], cwd=FRONTEND, capture_output=True, text=True, timeout=240)
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-40:])
    assert out.returncode == 0, tail
    assert "# fail 0" in out.stdout, tail
    passed = int(next(ln for ln in out.stdout.splitlines() if ln.startswith("# pass")).split()[2])
    assert passed >= 20, tail


def _caret_bounds(spec: str) -> tuple[str, str]:
    """``^4.6.4`` -> ("4.6.4", "5"): npm's caret range as Python's lower and upper bound."""
    assert spec.startswith("^"), f"{spec}: @jupyterlab/* dependencies are caret ranges"
    low = spec[1:]
    return low, str(int(low.split(".")[0]) + 1)


def test_declared_jupyterlab_versions_agree_with_the_build() -> None:
    """pyproject's ``jupyterlab`` bounds are those of the @jupyterlab/* packages the
    built extension shares, the build target lies in them, and so does the JupyterLab
    installed here (every @jupyterlab/* range satisfied by its own packages)."""
    import tomllib

    import jupyterlab
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    package = json.loads((FRONTEND / "package.json").read_text())
    pyproject = tomllib.loads((FRONTEND.parents[1] / "pyproject.toml").read_text())
    lab = next(
        Requirement(r) for r in pyproject["project"]["dependencies"] if r.startswith("jupyterlab")
    )
    low, high = _caret_bounds(package["dependencies"]["@jupyterlab/application"])
    assert lab.specifier == SpecifierSet(f">={low},<{high}"), lab
    # the build target (core-meta is JupyterLab's own version) within the declared range
    target = package["devDependencies"]["@jupyterlab/core-meta"].lstrip("~^")
    assert Version(target) in lab.specifier
    # the JupyterLab here satisfies it, and provides every package in range
    assert Version(jupyterlab.__version__) in lab.specifier, jupyterlab.__version__
    staging = Path(jupyterlab.__file__).parent / "staging" / "package.json"
    provided = json.loads(staging.read_text())["resolutions"]
    for name, spec in package["dependencies"].items():
        if not name.startswith("@jupyterlab/"):
            continue
        low, high = _caret_bounds(spec)
        have = Version(provided[name].lstrip("~^"))
        assert Version(low) <= have < Version(high), (name, spec, str(have))


def test_settings_schema_is_declared_and_valid() -> None:
    """The settings the sidebar reads are in schema/plugin.json, which package.json
    names as its schemaDir."""
    package = json.loads((FRONTEND / "package.json").read_text())
    assert package["jupyterlab"]["schemaDir"] == "schema"
    schema = json.loads((FRONTEND / "schema" / "plugin.json").read_text())
    props = schema["properties"]
    assert set(props) == {"indexPath", "pageSize", "thumbnailSize"}
    assert props["pageSize"]["type"] == "integer" and props["pageSize"]["minimum"] >= 1
    assert schema["additionalProperties"] is False


@pytest.mark.slow
def test_lint_check() -> None:
    """ESLint and Prettier (``jlpm lint:check``) pass on the front end."""
    jlpm = shutil.which("jlpm")
    assert jlpm, "jlpm (from the jupyterlab package) is not on PATH"
    if not (FRONTEND / "node_modules" / ".bin" / "eslint").exists():
        pytest.fail(f"{FRONTEND}/node_modules has no eslint: run `jlpm install` there")
    out = subprocess.run(
        [jlpm, "lint:check"], cwd=FRONTEND, capture_output=True, text=True, timeout=300
    )
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-40:])
    assert out.returncode == 0, tail
    assert "All matched files use Prettier code style" in out.stdout, tail


def test_frontend_and_server_versions_are_one_release() -> None:
    """The front end warns when ``GET info``'s version (the Python package's) is not
    its own (src/version.ts, checked against package.json by its unit tests): one
    release must carry one version in both."""
    from catalog import __version__

    package = json.loads((FRONTEND / "package.json").read_text())
    assert package["version"] == __version__
    source = (FRONTEND / "src" / "version.ts").read_text()
    assert f"export const VERSION = '{__version__}';" in source
