import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUTO_PERCENTILES,
  autoContrast,
  contrastParams,
  formatLevel,
  levelStep,
  manualRange,
  parseContrast,
  PERCENTILE_PRESETS
} from '../src/viewercontrast';

test('auto contrast asks the server for robust percentiles; manual for a range', () => {
  assert.deepEqual(contrastParams(autoContrast()), { percentiles: '1,99.5' });
  assert.deepEqual(AUTO_PERCENTILES, [1, 99.5]);
  assert.deepEqual(contrastParams(autoContrast([0.1, 99.9])), { percentiles: '0.1,99.9' });
  assert.deepEqual(contrastParams({ mode: 'manual', percentiles: [1, 99.5], range: [-50, 4000] }), {
    range: '-50,4000'
  });
  // every preset is a valid percentile pair for the slice API (0 <= lo < hi <= 100)
  for (const p of PERCENTILE_PRESETS) {
    const [lo, hi] = p.percentiles;
    assert.ok(0 <= lo && lo < hi && hi <= 100, p.label);
  }
});

test('the contrast header is read, and junk is not', () => {
  assert.deepEqual(parseContrast('112,3981'), [112, 3981]);
  assert.deepEqual(parseContrast('-0.5, 1e3'), [-0.5, 1000]);
  assert.equal(parseContrast(null), null);
  assert.equal(parseContrast('1,2,3'), null);
  assert.equal(parseContrast('a,b'), null);
});

test('manual ranges need two numbers, min below max', () => {
  assert.deepEqual(manualRange('0', '4000'), [0, 4000]);
  assert.equal(manualRange('5', '5'), 'min must be below max');
  assert.equal(manualRange('', '5'), 'min and max must be numbers');
  assert.equal(manualRange('x', '5'), 'min and max must be numbers');
});

test('levels print short and step by about a thousandth of the range', () => {
  assert.equal(formatLevel(3981), '3981');
  assert.equal(formatLevel(0.123456), '0.1235');
  assert.equal(levelStep(0, 4000), 1);
  assert.equal(levelStep(0, 1), 0.001);
  assert.equal(levelStep(5, 5), 1);
});
