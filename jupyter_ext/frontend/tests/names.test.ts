import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fitName, middleEllipsis } from '../src/names';

test('a middle ellipsis keeps the distinguishing end', () => {
  assert.equal(middleEllipsis('sandstone_03_top_scan_recon_0042.tif', 27), 'sandstone_0…_recon_0042.tif');
  assert.equal(middleEllipsis('sandstone_03_top_scan_recon_0042.tif', 20), 'sandstone_…_0042.tif');
  assert.equal(middleEllipsis('verylongnamewithoutanyseparatorsatall_0001.tiff', 27), 'verylongna…satall_0001.tiff');
  assert.equal(middleEllipsis('recon_sample-A_2021-03-04_slice_00042.tif', 20), 'recon_sam…_00042.tif');
  assert.equal(middleEllipsis('a<b>_scan_0001.tif', 12), 'a<…_0001.tif');
  assert.equal(middleEllipsis('a'.repeat(50), 10), 'aaa…aaaaaa');
});

test('names that fit are kept; tiny limits still give at most limit characters', () => {
  assert.equal(middleEllipsis('short.tif', 27), 'short.tif');
  assert.equal(middleEllipsis('short.tif', 9), 'short.tif');
  assert.equal(middleEllipsis('short.tif', 3), '…if');
  assert.equal(middleEllipsis('short.tif', 1), '…');
  assert.equal(middleEllipsis('short.tif', 0), '');
  for (const name of ['sandstone_03_top_scan_recon_0042.tif', '_._._._._._._._._._', 'x'.repeat(80)]) {
    for (let limit = 1; limit < 45; limit++) {
      const short = middleEllipsis(name, limit);
      assert.equal(Array.from(short).length, Math.min(limit, name.length), `${name} ${limit}`);
      assert.ok(short === name || short.includes('…'));
    }
  }
});

test('characters outside the BMP count as one and are never split', () => {
  const name = 'scan_😀😀😀😀😀😀😀😀😀😀_0001.tif';
  const short = middleEllipsis(name, 12);
  assert.equal(Array.from(short).length, 12);
  assert.ok(!short.includes('\uFFFD') && short.endsWith('_0001.tif'));
});

test('fitName finds the longest form that fits', () => {
  const fits = (text: string) => Array.from(text).length <= 15;
  assert.equal(
    fitName('sandstone_03_top_scan_recon_0042.tif', fits),
    middleEllipsis('sandstone_03_top_scan_recon_0042.tif', 15)
  );
  assert.equal(fitName('tiny.tif', fits), 'tiny.tif');
  assert.equal(
    fitName('sandstone_03_top_scan_recon_0042.tif', () => false),
    '…if'
  );
});
