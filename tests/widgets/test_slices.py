"""The slice browser on real scanned datasets through ``catalog.preview.Slicer``:
planes equal numpy slices, the linked crosshair, t/c sliders, contrast, colormaps,
physical aspect, the 2-D zoom/pan window and the preview button."""

from __future__ import annotations

import asyncio
import functools
import io
import threading
import time
import warnings

import numpy as np
import pytest
from PIL import Image
from traitlets import TraitError

from catalog.catalogue import DuckDBCatalog
from catalog.errors import PreviewWarning
from catalog.preview import preview_job
from widgets import NotDisplayable, SliceBrowser
from widgets.render import scale

from .conftest import ident


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def click_at(view, row: int, col: int, shape: tuple[int, int]) -> dict:  # type: ignore[no-untyped-def]
    """The ipyevents event of a click on voxel (row, col) of a view."""
    f = view.frame
    return {
        "type": "click",
        "dataX": f.left + (col + 0.5) / shape[1] * f.plot_width,
        "dataY": f.top + (row + 0.5) / shape[0] * f.plot_height,
    }


@pytest.fixture
def rec(demo: DuckDBCatalog) -> tuple[str, np.ndarray]:
    i = ident(demo, "sandstone_01_rec")
    return i, demo[i].read().values


def test_orthogonal_planes_equal_numpy_slices(demo: DuckDBCatalog, rec) -> None:  # type: ignore[no-untyped-def]
    i, vol = rec
    sb = SliceBrowser(demo, i)
    assert sb.volume and set(sb.views) == {"xy", "xz", "yz"}
    z, y, x = (sb.position[d] for d in "zyx")
    assert (z, y, x) == (24, 48, 48)  # the middle
    np.testing.assert_array_equal(sb.views["xy"].data.values, vol[z])
    np.testing.assert_array_equal(sb.views["xz"].data.values, vol[:, y, :])
    np.testing.assert_array_equal(sb.views["yz"].data.values, vol[:, :, x].T)
    assert sb.views["xy"].data.dims == ("y", "x") and sb.views["yz"].data.dims == ("y", "z")
    assert sb.views["xy"].data["x"].attrs["units"] == "µm"  # physical coordinates
    assert sb.views["xy"].caption.value == "xy · z = 24 (156 µm)"
    assert sb.readouts["x"].value == "312 µm"


def test_crosshair_links_views_and_sliders(demo: DuckDBCatalog, rec) -> None:  # type: ignore[no-untyped-def]
    i, vol = rec
    sb = SliceBrowser(demo, i)
    xz, yz = sb.views["xz"].data, sb.views["yz"].data
    before = {k: v.image.value for k, v in sb.views.items()}
    sb.sliders["z"].value = 5
    assert sb.position["z"] == 5
    np.testing.assert_array_equal(sb.views["xy"].data.values, vol[5])
    assert sb.views["xz"].data is xz and sb.views["yz"].data is yz  # not read again
    assert all(sb.views[k].image.value != before[k] for k in before)  # crosshair moved
    sb.set_position(y=7, x=90)
    assert sb.sliders["y"].value == 7 and sb.sliders["x"].value == 90
    np.testing.assert_array_equal(sb.views["xz"].data.values, vol[:, 7, :])
    np.testing.assert_array_equal(sb.views["yz"].data.values, vol[:, :, 90].T)
    sb.set_position(z=500)  # clamped
    assert sb.position["z"] == 47
    with pytest.raises(NotDisplayable):
        sb.set_position(t=1)


def test_clicking_a_view_moves_the_crosshair(demo: DuckDBCatalog, rec) -> None:  # type: ignore[no-untyped-def]
    i, vol = rec
    sb = SliceBrowser(demo, i)
    xy = sb.views["xy"]
    xy.events._handle_mouse_msg(None, click_at(xy, 10, 70, vol.shape[1:]), [])
    assert (sb.position["y"], sb.position["x"]) == (10, 70)
    assert sb.position["z"] == 24
    np.testing.assert_array_equal(sb.views["xz"].data.values, vol[:, 10, :])
    np.testing.assert_array_equal(sb.views["yz"].data.values, vol[:, :, 70].T)
    xz = sb.views["xz"]
    sb.handle_click("xz", click_at(xz, 3, 20, (vol.shape[0], vol.shape[2])))
    assert (sb.position["z"], sb.position["x"]) == (3, 20)
    np.testing.assert_array_equal(sb.views["xy"].data.values, vol[3])
    sb.handle_click("xz", {"dataX": -5, "dataY": -5})  # in the margin: nothing happens
    assert sb.position["z"] == 3
    # the crosshair is drawn where the position is
    img = pixels(sb.views["xy"].image.value)
    f = sb.views["xy"].frame
    row = f.top + int((10 + 0.5) / 96 * f.plot_height)
    assert (img[row, f.left + 5 : f.left + f.plot_width - 5] == (0, 230, 255)).all()


def test_channel_slider_and_names(demo: DuckDBCatalog) -> None:
    i = ident(demo, "hela_03_confocal.ome.tif")
    data = demo[i].read().values  # c, z, y, x
    sb = SliceBrowser(demo, i)
    assert set(sb.sliders) == {"c", "z", "y", "x"}
    assert sb.sliders["c"].max == 1
    z = sb.position["z"]
    np.testing.assert_array_equal(sb.views["xy"].data.values, data[0, z])
    assert sb.readouts["c"].value == "DAPI"
    sb.sliders["c"].value = 1
    np.testing.assert_array_equal(sb.views["xy"].data.values, data[1, z])
    np.testing.assert_array_equal(sb.views["xz"].data.values, data[1, :, sb.position["y"], :])
    assert sb.readouts["c"].value != "DAPI"


def test_contrast_and_colormap(demo: DuckDBCatalog, rec) -> None:  # type: ignore[no-untyped-def]
    i, vol = rec
    sb = SliceBrowser(demo, i)
    lo, hi = sb.slicer.contrast((1, 99.5))
    assert sb.limits == pytest.approx((lo, hi))
    assert sb.contrast_slider.min <= vol.min() + 1 and sb.contrast_slider.max >= hi
    f = sb.views["xy"].frame

    def brightness() -> float:
        img = pixels(sb.views["xy"].image.value)
        return float(img[f.top : f.top + f.plot_height, f.left : f.left + f.plot_width].mean())

    before = brightness()
    sb.contrast_slider.value = (lo, (lo + hi) / 2)
    assert sb.limits == pytest.approx((lo, (lo + hi) / 2))
    assert brightness() > before + 10
    sb.auto_button.click()
    assert sb.limits == pytest.approx((lo, hi))
    sb.cmap_dropdown.value = "fire"
    assert sb.cmap == "fire"
    img = pixels(sb.views["xy"].image.value)
    assert (img[..., 0] != img[..., 2]).any()  # colour, not gray
    with pytest.raises(TraitError):
        sb.cmap = "no-such-map"
    # the mapping itself: limits to 0..255, clipped
    np.testing.assert_array_equal(
        scale(np.array([0, 10, 20, 30]), (10, 20), "gray"), [0, 0, 255, 255]
    )
    np.testing.assert_array_equal(scale(np.array([0, 1, 256]), (0, 1), "labels"), [0, 1, 1])


def test_views_keep_physical_aspect(demo: DuckDBCatalog) -> None:
    i = ident(demo, "water phantom")  # 12 x 64 x 64, z spacing 2.5 mm, y/x 0.5 mm
    sb = SliceBrowser(demo, i, display_size=320)
    h, w = sb.views["xz"].size
    assert w == 320 and h == round(12 * 2.5 / (64 * 0.5) * 320)
    assert sb.views["yz"].size == (320, h)
    assert sb.views["xz"].frame.plot_height == h


def test_zoom_and_pan_request_only_the_window(demo: DuckDBCatalog) -> None:
    i = ident(demo, "hela_03_tilescan.ome.zarr")  # c, y, x = 2, 512, 512; 3 levels
    data = demo[i].read().values
    sb = SliceBrowser(demo, i, display_size=100)  # a small screen: 200 px views
    view = sb.zoom
    assert view is not None and not sb.volume and set(sb.sliders) == {"c"}
    assert view.requests == [{"y": (0, 512), "x": (0, 512)}]
    assert view.data.attrs["level"] == 1 and view.data.shape == (256, 256)  # fits the screen
    view.zoom(4, centre=(100, 300))
    (y0, y1), (x0, x1) = view.window
    assert (y1 - y0, x1 - x0) == (128, 128)
    assert y0 <= 100 < y1 and x0 <= 300 < x1
    assert view.requests[-1] == {"y": (y0, y1), "x": (x0, x1)}
    assert view.data.attrs["level"] == 0
    np.testing.assert_array_equal(sb.views["xy"].data.values, data[0, y0:y1, x0:x1])
    sb.sliders["c"].value = 1
    np.testing.assert_array_equal(view.data.values, data[1, y0:y1, x0:x1])
    view.pan(1000, -1000)  # stops at the edges
    assert view.window == ((384, 512), (0, 128))
    np.testing.assert_array_equal(view.data.values, data[1, 384:512, 0:128])
    n = len(view.requests)
    view.pan(10, -10)  # already at the corner: nothing to read
    assert len(view.requests) == n
    view.reset()
    assert view.window == ((0, 512), (0, 512))


def test_mouse_wheel_drag_and_double_click(demo: DuckDBCatalog) -> None:
    i = ident(demo, "hela_03_tilescan.ome.zarr")
    sb = SliceBrowser(demo, i)
    view = sb.zoom
    assert view is not None
    f = view.frame
    centre = {"dataX": f.left + f.plot_width / 4, "dataY": f.top + f.plot_height / 4}
    view.events._handle_mouse_msg(None, {"type": "wheel", "deltaY": -100, **centre}, [])
    (y0, y1), _ = view.window
    assert y1 - y0 < 512 and y0 < 128 < y1  # zoomed in around the pointer
    view.handle_event({"type": "dblclick", **centre})
    assert view.window[0][1] - view.window[0][0] < y1 - y0
    before = view.window
    f = view.frame
    view.handle_event({"type": "mousedown", "dataX": f.left + 100, "dataY": f.top + 100})
    view.handle_event({"type": "mouseup", "dataX": f.left + 50, "dataY": f.top + 100})
    assert view.window[0] == before[0] and view.window[1][0] > before[1][0]  # dragged left


def test_build_preview_button(writable: DuckDBCatalog) -> None:
    i = ident(writable, "sandstone_01_rec")
    sb = SliceBrowser(writable, i)
    assert sb.preview is None  # small: no button
    sb = SliceBrowser(
        writable, i, preview_threshold=0, job_factory=functools.partial(preview_job, min_bytes=0)
    )
    button = sb.preview
    assert button is not None and button.box in sb.children
    assert len(sb.slicer.levels) == 1
    button.button.click()
    assert button.button.disabled
    deadline = time.monotonic() + 20
    while not button.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert button.finished and button.progress.value == 1.0
    assert button.status.value == "preview ready"
    assert sb.slicer.source == "preview"  # refreshed: reads the new preview
    vol = writable[i].read().values
    np.testing.assert_array_equal(sb.views["xy"].data.values, vol[sb.position["z"]])


class _SlowJob:
    def __init__(self) -> None:
        self.progress, self.cancelled = 0.4, False

    def done(self) -> bool:
        return self.cancelled

    def result(self) -> None:
        raise RuntimeError("cancelled")

    def cancel(self) -> bool:
        self.cancelled = True
        return True


def test_preview_progress_and_cancel(demo: DuckDBCatalog) -> None:
    job = _SlowJob()
    i = ident(demo, "sandstone_01_rec")
    sb = SliceBrowser(demo, i, preview_threshold=0, job_factory=lambda index, ident: job)
    button = sb.preview
    assert button is not None
    button.start()
    assert button.progress.value == pytest.approx(0.4)
    button.cancel_button.click()
    assert job.cancelled and button.status.value == "cancelled"
    assert not button.button.disabled


def test_a_dataset_that_is_not_an_image_raises(demo: DuckDBCatalog) -> None:
    i = ident(demo, "empty.tif")
    with pytest.raises(Exception, match="empty"):
        SliceBrowser(demo, i)


class _GatedSlicer:
    """The real Slicer, but reads of planes other than xy wait for ``gate`` and note
    the thread they ran on."""

    def __init__(self, cat: DuckDBCatalog, i: str) -> None:
        from catalog.preview import Slicer

        self._s = Slicer.from_catalog(cat, i)
        self.gate = threading.Event()
        self.threads: dict[tuple[str, str], str] = {}

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._s, name)

    def plane(self, dims=("y", "x"), at=None, max_size=None):  # type: ignore[no-untyped-def]
        self.threads[tuple(dims)] = threading.current_thread().name
        if tuple(dims) != ("y", "x"):
            assert self.gate.wait(10), "the test never opened the gate"
        return self._s.plane(dims, at=at, max_size=max_size)


def test_in_a_kernel_xy_comes_first_and_the_others_arrive_without_blocking(
    demo: DuckDBCatalog,
    rec,  # type: ignore[no-untyped-def]
) -> None:
    i, vol = rec
    slicer = _GatedSlicer(demo, i)

    async def main() -> SliceBrowser:
        sb = SliceBrowser(demo, i, slicer=slicer)
        z, y, x = (sb.position[d] for d in "zyx")
        np.testing.assert_array_equal(sb.views["xy"].data.values, vol[z])
        assert sb.views["xy"].image.value  # drawn before the others were read
        assert sb.views["xz"].data is None and sb.views["xz"].caption.value == "xz · reading…"
        assert sb.loaded is not None and not sb.loaded.done()
        await asyncio.sleep(0.05)  # the loop runs other work while the reads wait
        sb.cmap = "fire"  # redraws xy only: the pending views are the task's
        assert sb.views["yz"].data is None
        slicer.gate.set()
        await asyncio.wait_for(sb.loaded, 10)
        np.testing.assert_array_equal(sb.views["xz"].data.values, vol[:, y, :])
        np.testing.assert_array_equal(sb.views["yz"].data.values, vol[:, :, x].T)
        assert sb.views["yz"].caption.value.startswith("yz · x = ")
        assert pixels(sb.views["xz"].image.value).std() > 0
        return sb

    asyncio.run(main())
    main_thread = threading.main_thread().name
    assert slicer.threads[("y", "x")] == main_thread
    assert slicer.threads[("z", "x")] != main_thread
    assert slicer.threads[("y", "z")] != main_thread


def test_a_move_while_the_views_load_draws_the_new_position(
    demo: DuckDBCatalog,
    rec,  # type: ignore[no-untyped-def]
) -> None:
    i, vol = rec
    slicer = _GatedSlicer(demo, i)

    async def main() -> None:
        sb = SliceBrowser(demo, i, slicer=slicer)
        sb.set_position(y=10, x=70, z=5)  # before the background reads ran
        slicer.gate.set()
        await asyncio.wait_for(sb.loaded, 10)
        np.testing.assert_array_equal(sb.views["xy"].data.values, vol[5])
        np.testing.assert_array_equal(sb.views["xz"].data.values, vol[:, 10, :])
        np.testing.assert_array_equal(sb.views["yz"].data.values, vol[:, :, 70].T)

    asyncio.run(main())


def test_outside_a_kernel_every_view_is_drawn_at_once(demo: DuckDBCatalog, rec) -> None:  # type: ignore[no-untyped-def]
    i, _ = rec
    sb = SliceBrowser(demo, i)
    assert sb.loaded is None and all(v.data is not None for v in sb.views.values())


def test_slow_view_advice_shows_in_the_notice_never_as_a_warning(
    demo: DuckDBCatalog,
    rec,  # type: ignore[no-untyped-def]
    monkeypatch,
) -> None:
    from catalog.preview import store

    monkeypatch.setattr(store, "PREVIEW_MIN_BYTES", 1)  # as if the slice folder were big
    i, _ = rec

    async def main() -> SliceBrowser:
        sb = SliceBrowser(demo, i)  # xy first: one slice, nothing to advise yet
        assert sb.notice.value == ""
        await asyncio.wait_for(sb.loaded, 10)  # xz/yz read across every slice
        return sb

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb = asyncio.run(main())
    assert not [w for w in caught if issubclass(w.category, PreviewWarning)]
    assert sb.notice.value.startswith("⚠ ") and "preview_job" in sb.notice.value
    assert sb.slicer.advice and sb.slicer.advice in sb.notice.value
    with warnings.catch_warnings(record=True) as caught:  # outside a kernel too
        warnings.simplefilter("always")
        again = SliceBrowser(demo, i)
    assert not [w for w in caught if issubclass(w.category, PreviewWarning)]
    assert "preview_job" in again.notice.value
