import assert from 'node:assert/strict';
import { test } from 'node:test';

import { drawRect, FIT, panBy, planeLayout, requestSize, zoomAt } from '../src/viewerlayout';

const cube: [number, number][] = [
  [100, 100],
  [100, 100],
  [100, 100]
];

test('three square planes go in a row on a wide tab, a column on a tall one, 2x2 on a square', () => {
  assert.equal(planeLayout(1500, 500, cube).columns, 3);
  assert.equal(planeLayout(400, 1300, cube).columns, 1);
  const square = planeLayout(800, 800, cube);
  assert.deepEqual([square.columns, square.rows], [2, 2]);
  // the cells fill the area: the last column ends at the right edge
  const last = square.cells[1];
  assert.equal(last.x + last.width, 800);
  assert.equal(square.cells[2].y + square.cells[2].height, 800);
  // the third plane takes the whole last row: no empty cell
  assert.deepEqual([square.cells[2].x, square.cells[2].width], [0, 800]);
});

test('cells never overlap nor leave the area, and the chosen grid shows planes largest', () => {
  for (const [w, h] of [
    [1024, 700],
    [1440, 800],
    [1920, 1000],
    [300, 900]
  ]) {
    const out = planeLayout(w, h, [
      [48, 96],
      [48, 96],
      [96, 96]
    ]);
    for (const c of out.cells) {
      assert.ok(c.x >= 0 && c.y >= 0 && c.x + c.width <= w + 1e-9 && c.y + c.height <= h + 1e-9);
    }
    for (let cols = 1; cols <= 3; cols++) {
      const rows = Math.ceil(3 / cols);
      const cw = (w - 6 * (cols - 1)) / cols;
      const ch = (h - 6 * (rows - 1)) / rows;
      const s = Math.min(cw / 96, ch / 96, cw / 96, ch / 48);
      assert.ok(out.scale >= s - 1e-9, `${cols} columns would show more at ${w}x${h}`);
    }
  }
  assert.equal(planeLayout(600, 400, [[10, 20]]).cells.length, 1);
});

test('drawRect fits and centres; zoom keeps the point under the cursor', () => {
  assert.deepEqual(drawRect(200, 100, 50, 50, FIT), { x: 50, y: 0, width: 100, height: 100 });
  const zoomed = zoomAt(FIT, 2, 75, 25, 200, 100, 50, 50);
  assert.equal(zoomed.zoom, 2);
  // the image point at canvas (75, 25) before is there after
  const before = drawRect(200, 100, 50, 50, FIT);
  const after = drawRect(200, 100, 50, 50, zoomed);
  const fx = (75 - before.x) / before.width;
  assert.ok(Math.abs(after.x + fx * after.width - 75) < 1e-9);
  // zoom is bounded: never smaller than the fit
  assert.equal(zoomAt(FIT, 0.1, 10, 10, 200, 100, 50, 50).zoom, 1);
});

test('panning moves the image with the pointer but not off the canvas', () => {
  const view = { zoom: 4, cx: 0.5, cy: 0.5 };
  const moved = panBy(view, 40, 0, 200, 200, 100, 100);
  const r0 = drawRect(200, 200, 100, 100, view);
  const r1 = drawRect(200, 200, 100, 100, moved);
  assert.ok(Math.abs(r1.x - r0.x - 40) < 1e-9);
  const far = panBy(view, -1e6, 1e6, 200, 200, 100, 100);
  assert.deepEqual([far.cx, far.cy], [1, 0]);
});

test('request sizes come in steps of 128 within bounds', () => {
  assert.equal(requestSize(300, 200, 1), 384);
  assert.equal(requestSize(300, 200, 4), 1280);
  assert.equal(requestSize(10, 10, 1), 128);
  assert.equal(requestSize(5000, 10, 8), 2048);
});
