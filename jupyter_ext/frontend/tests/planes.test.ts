import assert from 'node:assert/strict';
import { test } from 'node:test';

import { planes } from '../src/planes';

test('a volume offers three orthogonal planes with their depths', () => {
  const out = planes('zyx', [40, 64, 80]);
  assert.deepEqual(
    out.map(p => [p.dims.join(''), p.through, p.depth]),
    [
      ['yx', 'z', 40],
      ['zx', 'y', 64],
      ['zy', 'x', 80]
    ]
  );
  assert.deepEqual(
    planes(['c', 'z', 'y', 'x'], [2, 10, 20, 30]).map(p => p.depth),
    [10, 20, 30]
  );
});

test('2D images and time series', () => {
  assert.deepEqual(planes('yx', [100, 200]), [{ label: 'y, x', dims: ['y', 'x'], through: null, depth: 0 }]);
  assert.equal(planes('tyx', [5, 10, 10])[0].through, 't');
  assert.equal(planes(null, null)[0].through, null);
});
