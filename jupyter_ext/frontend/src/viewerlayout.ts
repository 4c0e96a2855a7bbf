/**
 * Layout math of the dataset viewer: where the planes go in the tab, where an image
 * is drawn in its canvas, and how zoom and pan move it. Pure: tested in
 * tests/viewerlayout.test.ts.
 */

export interface IRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IPlaneLayout {
  columns: number;
  rows: number;
  /** one cell per plane, in the order given */
  cells: IRect[];
  /** pixels per physical unit of the smallest plane at fit (the layout's score) */
  scale: number;
}

/**
 * Arrange planes of physical extents `sizes` (`[height, width]` each) in a
 * `width` x `height` area with `gap` pixels between cells: of every grid with enough
 * cells (3 in a row, 2 x 2, a column...), the one that shows the planes largest at a
 * common scale. Rows share their height; a last row with fewer planes than columns
 * shares the whole width among them (no empty cell).
 */
export function planeLayout(width: number, height: number, sizes: [number, number][], gap = 6): IPlaneLayout {
  const n = Math.max(1, sizes.length);
  let best: IPlaneLayout | null = null;
  for (let columns = 1; columns <= n; columns++) {
    const rows = Math.ceil(n / columns);
    const cellH = Math.max(0, (height - gap * (rows - 1)) / rows);
    const cells: IRect[] = [];
    for (let i = 0; i < n; i++) {
      const r = Math.floor(i / columns);
      const inRow = r === rows - 1 ? n - r * columns : columns;
      const cellW = Math.max(0, (width - gap * (inRow - 1)) / inRow);
      const c = i % columns;
      cells.push({ x: c * (cellW + gap), y: r * (cellH + gap), width: cellW, height: cellH });
    }
    let scale = Infinity;
    sizes.forEach(([h, w], i) => {
      scale = Math.min(scale, fitScale(cells[i].width, cells[i].height, w, h));
    });
    if (!Number.isFinite(scale)) {
      scale = 0;
    }
    if (best === null || scale > best.scale + 1e-9) {
      best = { columns, rows, cells, scale };
    }
  }
  return best as IPlaneLayout;
}

/** The scale that fits `w` x `h` into `boxW` x `boxH` (0 for empty sizes). */
export function fitScale(boxW: number, boxH: number, w: number, h: number): number {
  if (!(w > 0 && h > 0)) {
    return 0;
  }
  return Math.max(0, Math.min(boxW / w, boxH / h));
}

/** Zoom and pan of one plane: `zoom` 1 fits the image; `cx`, `cy` are the image
 * point (fractions 0..1 of its width and height) at the centre of the canvas. */
export interface IView {
  zoom: number;
  cx: number;
  cy: number;
}

export const FIT: IView = { zoom: 1, cx: 0.5, cy: 0.5 };
export const MIN_ZOOM = 1;
export const MAX_ZOOM = 64;

/** Where an image of physical extent `w` x `h` is drawn on a `canvasW` x `canvasH`
 * canvas under `view`. */
export function drawRect(canvasW: number, canvasH: number, w: number, h: number, view: IView): IRect {
  const s = fitScale(canvasW, canvasH, w, h) * view.zoom;
  const width = w * s;
  const height = h * s;
  return { x: canvasW / 2 - view.cx * width, y: canvasH / 2 - view.cy * height, width, height };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** `view` zoomed by `factor` about the canvas point (`px`, `py`), which keeps
 * showing the same image point; zoom stays within MIN_ZOOM..MAX_ZOOM. */
export function zoomAt(
  view: IView,
  factor: number,
  px: number,
  py: number,
  canvasW: number,
  canvasH: number,
  w: number,
  h: number
): IView {
  const zoom = clamp(view.zoom * factor, MIN_ZOOM, MAX_ZOOM);
  const before = drawRect(canvasW, canvasH, w, h, view);
  if (before.width <= 0 || before.height <= 0) {
    return view;
  }
  // the image point under the cursor, as fractions
  const fx = (px - before.x) / before.width;
  const fy = (py - before.y) / before.height;
  const after = drawRect(canvasW, canvasH, w, h, { zoom, cx: 0, cy: 0 });
  // choose cx, cy so that fx, fy lands at px, py again
  const cx = (canvasW / 2 - px) / after.width + fx;
  const cy = (canvasH / 2 - py) / after.height + fy;
  return keepInside({ zoom, cx, cy });
}

/** `view` moved by (`dx`, `dy`) canvas pixels (a drag). */
export function panBy(
  view: IView,
  dx: number,
  dy: number,
  canvasW: number,
  canvasH: number,
  w: number,
  h: number
): IView {
  const r = drawRect(canvasW, canvasH, w, h, view);
  if (r.width <= 0 || r.height <= 0) {
    return view;
  }
  return keepInside({ zoom: view.zoom, cx: view.cx - dx / r.width, cy: view.cy - dy / r.height });
}

/** The centre kept on the image, so it cannot be dragged away. */
export function keepInside(view: IView): IView {
  return { zoom: view.zoom, cx: clamp(view.cx, 0, 1), cy: clamp(view.cy, 0, 1) };
}

/** The PNG size (longest side) to ask for a canvas of `canvasW` x `canvasH` device
 * pixels at `zoom`: in steps of 128 (so a resize does not refetch each pixel), at
 * least 128 and at most `most`. */
export function requestSize(canvasW: number, canvasH: number, zoom: number, most = 2048): number {
  const want = Math.max(canvasW, canvasH) * Math.max(1, zoom);
  return clamp(Math.ceil(want / 128) * 128, 128, most);
}
