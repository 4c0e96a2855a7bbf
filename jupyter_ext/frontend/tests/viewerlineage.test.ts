import assert from 'node:assert/strict';
import { test } from 'node:test';

import { layoutLineage, overlayPlan, sameGrid } from '../src/viewerlineage';

const nodes = {
  raw: { name: 'projections.h5', data_level: 'raw', status: 'ok' },
  rec: { name: 'rec', data_level: 'reconstructed', status: 'ok' },
  seg: { name: 'pores_labels.tif', data_level: 'segmentation', status: 'ok' },
  den: { name: 'denoised', data_level: 'processed', status: 'ok' }
};
const edges = [
  { parent: 'raw', child: 'rec', step: 'reconstruct' },
  { parent: 'rec', child: 'seg', step: 'threshold' },
  { parent: 'rec', child: 'den', step: 'denoise' },
  { parent: 'den', child: 'seg', step: 'refine' }
];

test('generations are columns: a child right of every parent', () => {
  const g = layoutLineage(nodes, edges, 'rec');
  const at = Object.fromEntries(g.nodes.map(n => [n.id, n]));
  assert.deepEqual(
    ['raw', 'rec', 'den', 'seg'].map(id => at[id].generation),
    [0, 1, 2, 3]
  );
  for (const e of g.edges) {
    assert.ok(e.x2 > e.x1, `${e.parent} -> ${e.child} goes right`);
  }
  assert.equal(g.nodes.filter(n => n.focus).map(n => n.id)[0], 'rec');
  // everything inside the reported size
  for (const n of g.nodes) {
    assert.ok(n.x >= 0 && n.y >= 0 && n.x + 128 <= g.width && n.y + 40 <= g.height);
  }
});

test('siblings stack without overlapping; cycles and unknown nodes do not break it', () => {
  const g = layoutLineage(
    { a: { name: 'a' }, b: { name: 'b' }, c: { name: 'c' } },
    [
      { parent: 'a', child: 'b' },
      { parent: 'a', child: 'c' },
      { parent: 'c', child: 'x' }
    ],
    'a'
  );
  const b = g.nodes.find(n => n.id === 'b')!;
  const c = g.nodes.find(n => n.id === 'c')!;
  assert.equal(b.x, c.x);
  assert.ok(Math.abs(b.y - c.y) >= 40);
  assert.equal(g.nodes.find(n => n.id === 'x')!.name, 'x');
  const loop = layoutLineage(
    {},
    [
      { parent: 'p', child: 'q' },
      { parent: 'q', child: 'p' }
    ],
    'p'
  );
  assert.equal(loop.nodes.length, 2);
});

test('a segmentation is drawn over its parent; a parent offers its segmentations', () => {
  assert.deepEqual(overlayPlan('seg', 'segmentation', nodes, edges), {
    base: 'rec',
    overlays: ['seg'],
    overlayOn: 'seg'
  });
  assert.deepEqual(overlayPlan('rec', 'reconstructed', nodes, edges), {
    base: 'rec',
    overlays: ['seg'],
    overlayOn: null
  });
  assert.deepEqual(overlayPlan('raw', 'raw', nodes, edges).overlays, []);
  // a parent gone from the index: the segmentation alone
  const gone = { ...nodes, rec: { ...nodes.rec, status: 'gone' }, den: { ...nodes.den, status: 'gone' } };
  assert.deepEqual(overlayPlan('seg', 'segmentation', gone, edges), { base: 'seg', overlays: [], overlayOn: null });
});

test('overlays need the same z, y, x grid', () => {
  assert.ok(sameGrid('zyx', [48, 96, 96], 'zyx', [48, 96, 96]));
  assert.ok(sameGrid('czyx', [2, 48, 96, 96], ['z', 'y', 'x'], [48, 96, 96]));
  assert.ok(!sameGrid('zyx', [48, 96, 96], 'zyx', [48, 96, 95]));
  assert.ok(!sameGrid('zyx', [48, 96, 96], 'yx', [96, 96]));
  assert.ok(!sameGrid(null, null, null, null));
});
