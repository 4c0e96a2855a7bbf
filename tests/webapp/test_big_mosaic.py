"""Zoom and pan on a mosaic of the size the issue names: 32,000 x 27,000 uint8 pixels
(864 MB), a zstd-tiled BigTIFF written tile by tile (``tests/big_mosaic_lab.py``),
scanned by the real scanner, its preview pyramid built by ``ensure_preview``.

Writing and the pyramid build run in processes of their own, so their peak resident
memory is theirs alone: neither holds the mosaic. The dataset page's viewer
(``DatasetPage(...).viewer`` and its ``RegionReader``) then reads the whole view from a
coarse level, small windows (the middle, the bottom-right corner, a pan) from level 0
and a medium zoom from a level between, each reading from files (``rchar`` of
``/proc/self/io``) no more than the preview chunks its window touches, with the
mosaic's own pixels or their means. In chromium at 390 and 1400 px, a real ``voxcat
serve`` answers a mouse-wheel zoom and a drag with level-0 regions, and what its
process read meanwhile stays far below the mosaic.

Timings are printed (``pytest -s``): on a shared 2-core box, writing takes 10-18 s, the
scan 3-5 s and the pyramid 14-23 s (it grows by about 160 MB whatever the mosaic's
size: blocks of ``BLOCK_BYTES``); the module about 80 s in all.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from catalog import open_catalog, scan
from catalog.omezarr import downsample_mean
from catalog.preview import Slicer
from catalog.preview.pyramid import BLOCK_BYTES, TILE, plan_levels
from widgets.webapp.dataset import DatasetPage

from ..big_mosaic_lab import COLS, NAME, ROWS, pixels

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MOSAIC_BYTES = ROWS * COLS  # uint8
CHUNK_BYTES = TILE * TILE  # one preview chunk (uncompressed uint8)
SLACK = 16 << 10  # a level's .zarray the first time it is opened, /proc/self/io itself
LEVELS = [
    (27000, 32000),
    (13500, 16000),
    (6750, 8000),
    (3375, 4000),
    (1688, 2000),
    (844, 1000),
    (422, 500),
]


def _step(step: str, base: Path) -> dict:
    """One step of ``tests/big_mosaic_lab.py`` in a fresh process (this checkout first)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.big_mosaic_lab", step, str(base)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The mosaic written, scanned and with its preview pyramid (session-wide: the
    browser test runs at the end of the session; about 1.5 GB of disk, removed after)."""
    base = tmp_path_factory.mktemp("big_mosaic")
    write = _step("write", base)
    index = base / "big.duckdb"
    t0 = time.perf_counter()
    scan(base / "drive", index, jobs=1, progress=False)
    scan_seconds = time.perf_counter() - t0
    cat = open_catalog(index)
    (ident,) = list(cat)
    cat.set([ident], modality="SEM", project="wafers")
    pyramid = _step("pyramid", base)
    print(
        f"\nbig mosaic {COLS:,} x {ROWS:,} ({MOSAIC_BYTES >> 20} MiB of pixels, "
        f"{write['bytes'] >> 20} MiB on disk): write {write['seconds']:.1f} s "
        f"(peak RSS {write['peak_rss'] >> 20} MiB), scan {scan_seconds:.1f} s, pyramid "
        f"{pyramid['seconds']:.1f} s (peak RSS {pyramid['peak_rss'] >> 20} MiB, "
        f"{(pyramid['peak_rss'] - pyramid['base_rss']) >> 20} MiB over the process "
        "before the build)"
    )
    try:
        yield {
            "base": base,
            "index": index,
            "id": ident,
            "write": write,
            "scan_seconds": scan_seconds,
            "pyramid": pyramid,
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _rchar() -> int:
    text = Path("/proc/self/io").read_text()
    return int(re.search(r"rchar: (\d+)", text).group(1))


def _chunks_touched(window: tuple[tuple[int, int], tuple[int, int]], factor: int) -> int:
    """Preview chunks of the level downsampled by ``factor`` that a level-0 window covers."""
    (r0, r1), (c0, c1) = window
    rows = math.ceil(r1 / factor / TILE) - r0 // factor // TILE
    cols = math.ceil(c1 / factor / TILE) - c0 // factor // TILE
    return rows * cols


def _page(big: dict) -> DatasetPage:
    return DatasetPage(open_catalog(big["index"]), big["id"])


# -- the build ----------------------------------------------------------------------------
def test_written_scanned_and_previewed_without_holding_the_mosaic(big: dict) -> None:
    # tifffile took the tiles one by one: the writer never held the 864 MB image
    assert big["write"]["peak_rss"] < MOSAIC_BYTES / 8, big["write"]
    row = open_catalog(big["index"]).df.loc[big["id"]]
    assert row["name"] == NAME and row["modality"] == "SEM"
    entry = open_catalog(big["index"]).entry(big["id"])
    assert tuple(entry.metadata["shape"]) == (ROWS, COLS)
    assert entry.metadata["dtype"] == "uint8" and entry.metadata["checksum"]
    # the build works in blocks: its memory follows the block size, not the mosaic
    grown = big["pyramid"]["peak_rss"] - big["pyramid"]["base_rss"]
    assert grown < 4 * BLOCK_BYTES, big["pyramid"]
    assert grown < MOSAIC_BYTES / 3
    slicer = Slicer(big["index"], big["id"])
    assert slicer.source == "preview" and slicer.levels == LEVELS
    assert plan_levels((ROWS, COLS), "yx", {}) == LEVELS
    assert Path(big["pyramid"]["path"]) == slicer.preview


def test_preview_levels_hold_the_mosaic_and_its_means(big: dict) -> None:
    """Level 0 is the mosaic's own pixels; levels 1 and 2 the 2 x 2 means of the level
    before (rounded half to even), checked on windows far apart."""
    slicer = Slicer(big["index"], big["id"])
    for r0, c0 in ((0, 0), (13_312, 15_872), (ROWS - 512, COLS - 512)):
        truth = pixels((r0, r0 + 512), (c0, c0 + 512))
        got = slicer.region(y=(r0, r0 + 512), x=(c0, c0 + 512), max_size=512)
        assert got.attrs["level"] == 0
        np.testing.assert_array_equal(got.values, truth)
        half = slicer.region(y=(r0, r0 + 512), x=(c0, c0 + 512), max_size=256)
        assert half.attrs["level"] == 1
        np.testing.assert_array_equal(half.values, downsample_mean(truth, (2, 2)))
        quarter = slicer.region(y=(r0, r0 + 512), x=(c0, c0 + 512), max_size=128)
        assert quarter.attrs["level"] == 2
        np.testing.assert_array_equal(
            quarter.values, downsample_mean(downsample_mean(truth, (2, 2)), (2, 2))
        )


# -- the dataset page's viewer ---------------------------------------------------------------
def test_the_first_view_is_the_whole_mosaic_from_a_coarse_level(big: dict) -> None:
    viewer = _page(big).viewer
    reader = viewer.reader
    assert (reader.rows, reader.cols) == (ROWS, COLS)
    before = _rchar()
    whole = viewer._image()
    read_bytes = _rchar() - before
    full = reader.reads[-1]
    print(f"\nwhole view: {full}, {read_bytes:,} bytes read")
    assert full.window == ((0, ROWS), (0, COLS))
    # the coarsest level still reader.max_size (1024) across: 2,000 x 1,688 px
    assert full.level == 4 and full.shape == LEVELS[4]
    assert max(full.shape) <= 2 * reader.max_size
    assert whole.bounds.lbrt() == (0, 0, COLS, ROWS)
    assert read_bytes <= _chunks_touched(full.window, 16) * CHUNK_BYTES + SLACK, read_bytes
    assert read_bytes < MOSAIC_BYTES / 200
    assert viewer.caption.object == (
        "<small>rows 0–27,000, columns 0–32,000 · read 1,688 × 2,000 px from level 4</small>"
    )


@pytest.mark.parametrize(
    ("rows", "cols"),
    [((13_275, 13_725), (15_700, 16_300)), ((ROWS - 450, ROWS), (COLS - 600, COLS))],
    ids=["middle", "bottom-right"],
)
def test_a_small_window_reads_its_level0_chunks_only(
    big: dict, rows: tuple[int, int], cols: tuple[int, int]
) -> None:
    viewer = _page(big).viewer
    reader = viewer.reader
    viewer._image()  # the whole mosaic first, as the page opens
    (r0, r1), (c0, c1) = rows, cols
    before = _rchar()
    zoomed = viewer._image(x_range=(float(c0), float(c1)), y_range=(float(r0), float(r1)))
    read_bytes = _rchar() - before
    last = reader.reads[-1]
    print(f"\nsmall window: {last}, {read_bytes:,} bytes read")
    assert last.window == (rows, cols)
    assert last.level == 0 and last.shape == (450, 600)
    assert zoomed.bounds.lbrt() == (c0, r0, c1, r1)
    # 3 x 3 preview chunks of 64 KiB: what the window touches, of an 864 MB mosaic
    touched = _chunks_touched(last.window, 1)
    assert touched == 9
    assert read_bytes <= touched * CHUNK_BYTES + SLACK, read_bytes
    assert viewer.caption.object == (
        f"<small>rows {r0:,}–{r1:,}, columns {c0:,}–{c1:,} · read 450 × 600 px from "
        "level 0</small>"
    )
    # the pixels are the mosaic's own, rows growing downwards
    values, bounds = reader.read((c0, c1), (r0, r1))
    assert bounds == (c0, r0, c1, r1)
    np.testing.assert_array_equal(values, pixels(rows, cols))
    np.testing.assert_array_equal(np.flipud(zoomed.data), values)
    # a pan by half the window reads the newly touched chunks only
    before = _rchar()
    panned = viewer._image(x_range=(c0 - 300.0, c1 - 300.0), y_range=(float(r0), float(r1)))
    read_bytes = _rchar() - before
    assert reader.reads[-1].window == (rows, (c0 - 300, c1 - 300))
    assert reader.reads[-1].level == 0
    assert panned.bounds.lbrt() == (c0 - 300, r0, c1 - 300, r1)
    assert read_bytes <= _chunks_touched(reader.reads[-1].window, 1) * CHUNK_BYTES + SLACK


def test_a_medium_zoom_reads_an_intermediate_level(big: dict) -> None:
    viewer = _page(big).viewer
    reader = viewer.reader
    viewer._image()
    rows, cols = (10_500, 16_500), (12_000, 20_000)  # 8,000 x 6,000 px around the middle
    before = _rchar()
    medium = viewer._image(x_range=(12_000.0, 20_000.0), y_range=(10_500.0, 16_500.0))
    read_bytes = _rchar() - before
    last = reader.reads[-1]
    print(f"\nmedium zoom: {last}, {read_bytes:,} bytes read")
    # level 2 (4 x 4 means) is the coarsest still 1,024 px across the window
    assert last.window == (rows, cols) and last.level == 2 and last.shape == (1500, 2000)
    assert medium.bounds.lbrt() == (12_000, 10_500, 20_000, 16_500)
    touched = _chunks_touched(last.window, 4)
    assert read_bytes <= touched * CHUNK_BYTES + SLACK, read_bytes
    assert read_bytes < 48_000_000 / 8  # an eighth of the window's level-0 bytes
    assert viewer.caption.object == (
        "<small>rows 10,500–16,500, columns 12,000–20,000 · read 1,500 × 2,000 px from "
        "level 2</small>"
    )
    # the means of the window's 4 x 4 cells, not a stride through it
    values, _ = reader.read((12_000, 12_800), (10_500, 11_100))
    assert reader.reads[-1].level == 0  # 800 px across: small enough for level 0
    truth = pixels((10_500, 16_500), (12_000, 20_000))
    expected = downsample_mean(downsample_mean(truth, (2, 2)), (2, 2))
    np.testing.assert_array_equal(np.flipud(medium.data), expected)
    np.testing.assert_array_equal(values, truth[:600, :800])


# -- in chromium, through voxcat serve ------------------------------------------------------
PASSWORD = "a long enough password 7"


@pytest.fixture(scope="module")
def served(big: dict) -> Iterator[dict]:
    """``voxcat serve`` on the mosaic's index (this checkout first on ``PYTHONPATH``),
    with one viewer account; ``{"url", "pid"}``."""
    from catalog.errors import UserExistsError
    from catalog.users import add_user

    with contextlib.suppress(UserExistsError):  # the module's tests ran apart before
        add_user(big["index"], "sem", role="viewer", password=PASSWORD)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("VOXCAT_USER", None)
    argv = [sys.executable, "-m", "catalog.cli", "serve", "--index", str(big["index"])]
    proc = subprocess.Popen(
        [*argv, "--port", "0", "--address", "127.0.0.1", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 90
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r" at (http://127\.0\.0\.1:\d+/)", line)
        url = found.group(1) if found else None
    drain = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    drain.start()  # keep reading its log, so it never blocks on a full pipe
    try:
        assert url, "voxcat serve did not start:\n" + "".join(lines[-40:])
        yield {"url": url, "pid": proc.pid, "log": lines}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _server_rchar(pid: int) -> int:
    text = Path(f"/proc/{pid}/io").read_text()
    return int(re.search(r"rchar: (\d+)", text).group(1))


def _caption(page: Page) -> tuple[int, int, int, int, int, int, int]:
    """``(r0, r1, c0, c1, rows read, columns read, level)`` from the viewer's caption."""
    text = page.locator(".vx-caption small").inner_text()
    m = re.search(
        r"rows ([\d,]+)–([\d,]+), columns ([\d,]+)–([\d,]+) · read ([\d,]+) × ([\d,]+) px "
        r"from level (\d+)",
        text,
    )
    assert m, text
    return tuple(int(g.replace(",", "")) for g in m.groups())  # type: ignore[return-value]


def _settled(page: Page, done: Callable[[tuple[int, ...]], bool]) -> tuple[int, ...]:
    """The caption once ``done`` holds for it and it stopped changing (zoom and pan
    events arrive over a few hundred ms; the last read lands last)."""
    last: tuple[int, ...] = ()
    for _ in range(100):
        page.wait_for_timeout(250)
        now = _caption(page)
        if now == last and done(now):
            return now
        last = now
    return last


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(390, 844), (1400, 900)])
def test_wheel_zoom_in_chromium_reads_a_region(
    chromium: Browser, big: dict, served: dict, tmp_path: Path, width: int, height: int
) -> None:
    context = chromium.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(f"{served['url']}dataset?id={big['id']}")
        page.get_by_label("User").fill("sem")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/dataset\?id="))
        expect(page.locator(".vx-caption")).to_contain_text("level", timeout=60_000)
        r0, r1, c0, c1, h, w, level = _caption(page)
        assert (r0, r1, c0, c1) == (0, ROWS, 0, COLS) and level == 4 and (h, w) == LEVELS[4]
        page.wait_for_timeout(1000)
        page.screenshot(path=str(tmp_path / f"big_mosaic_whole_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        plot = page.locator(".vx-view-mosaic canvas").first
        box = plot.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
        before = _server_rchar(served["pid"])
        centre = (box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.mouse.move(*centre)
        for _ in range(7):  # about 35 times closer: some 900 px of the 32,000
            page.mouse.wheel(0, -240)
            page.wait_for_timeout(150)
        zoomed = _settled(page, lambda c: (c[1] - c[0]) * (c[3] - c[2]) < ROWS * COLS / 64)
        r0, r1, c0, c1, h, w, level = zoomed
        read_bytes = _server_rchar(served["pid"]) - before
        print(f"\n{width} px: zoomed to {zoomed}, the server read {read_bytes:,} bytes")
        assert (r1 - r0) * (c1 - c0) < ROWS * COLS / 64, zoomed  # a region, not the mosaic
        assert 0 < r0 < r1 < ROWS and 0 < c0 < c1 < COLS
        assert level < 4 and max(h, w) <= 2048  # what was read fits the screen
        # every read of the zoom together: a few windows of at most 2,048 px, never
        # the 864 MB mosaic (nor its 864 MB uncompressed level 0)
        assert read_bytes < MOSAIC_BYTES / 16, read_bytes
        page.mouse.move(width - 5, height - 5)  # no hover tooltip in the screenshot
        page.wait_for_timeout(800)
        page.screenshot(path=str(tmp_path / f"big_mosaic_zoomed_{width}.png"), full_page=True)
        # drag to the left: the window moves right, its size and rows stay
        page.mouse.move(*centre)
        page.mouse.down()
        page.mouse.move(centre[0] - box["width"] * 0.3, centre[1], steps=8)
        page.mouse.up()
        panned = _settled(page, lambda c: c[2] > c0 + (c1 - c0) // 8)
        assert panned[2] > c0 and abs((panned[3] - panned[2]) - (c1 - c0)) <= 2, panned
        assert abs(panned[0] - r0) <= 2 and abs(panned[1] - r1) <= 2, panned
        assert panned[6] == level
        page.mouse.move(width - 5, height - 5)
        page.wait_for_timeout(800)
        page.screenshot(path=str(tmp_path / f"big_mosaic_panned_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()
