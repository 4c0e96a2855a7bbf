import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  driveText,
  formatBytes,
  formatLength,
  formatShape,
  formatTime,
  formatValue,
  formatVoxelSize,
  noPreviewReason,
  tileStatusClass
} from '../src/format';

test('bytes use decimal units with sensible digits', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1234), '1.23 kB');
  assert.equal(formatBytes(12_345_678), '12.3 MB');
  assert.equal(formatBytes(4.3e9), '4.30 GB');
  assert.equal(formatBytes(250e12), '250 TB');
  assert.equal(formatBytes(null), '');
  assert.equal(formatBytes(-1), '');
  assert.equal(formatBytes(Number.NaN), '');
});

test('shapes join with a multiplication sign', () => {
  assert.equal(formatShape([512, 2048, 2048]), '512×2048×2048');
  assert.equal(formatShape([]), '');
  assert.equal(formatShape(null), '');
  assert.equal(formatShape('512'), '');
});

test('lengths pick a unit', () => {
  assert.equal(formatLength(6.5e-6), '6.5 µm');
  assert.equal(formatLength(1e-3), '1 mm');
  assert.equal(formatLength(0.00025), '250 µm');
  assert.equal(formatLength(3.2e-10), '320 pm');
  assert.equal(formatLength(2.5), '2.5 m');
  assert.equal(formatLength(0), '0 m');
  assert.equal(formatLength(null), '');
});

test('isotropic voxel sizes collapse to one figure', () => {
  assert.equal(formatVoxelSize([5e-6, 5e-6, 5e-6]), '5 µm');
  assert.equal(formatVoxelSize([1e-6, 2e-7, 2e-7]), '1 µm × 200 nm × 200 nm');
  assert.equal(formatVoxelSize([null, 1e-6]), '1 µm');
  assert.equal(formatVoxelSize(null), '');
  assert.equal(formatVoxelSize(1e-6), '1 µm');
});

test('times are shown as stored, to the minute', () => {
  assert.equal(formatTime('2024-03-01T12:34:56.789'), '2024-03-01 12:34');
  assert.equal(formatTime('2024-03-01'), '2024-03-01');
  assert.equal(formatTime(null), '');
  assert.equal(formatTime('soon'), '');
});

test('values of any kind become one line of text', () => {
  assert.equal(formatValue('<b>x</b>'), '<b>x</b>');
  assert.equal(formatValue(3), '3');
  assert.equal(formatValue(false), 'false');
  assert.equal(formatValue({ a: [1, 2] }), '{"a":[1,2]}');
  assert.equal(formatValue(undefined), '');
});

test('a dataset on a drive says which, and whether it is plugged in', () => {
  const offline = { id: 'a4de', name: 'WD-2019', online: false, text: 'on drive WD-2019 (offline)' };
  assert.equal(driveText(offline), 'on drive WD-2019 (offline)');
  assert.equal(driveText({ name: 'LaCie', online: true }), 'on drive LaCie (online)');
  assert.equal(driveText(null), '');
  assert.equal(driveText('WD-2019'), '');
});

test('no preview of an offline dataset names the drive to plug in', () => {
  const error = 'on drive WD-2019 (offline): plug it in; last seen at /media/lab/WD-2019';
  assert.equal(noPreviewReason('offline', error), error);
  assert.equal(noPreviewReason('offline', null), 'its drive is offline: plug it in');
  assert.equal(noPreviewReason('missing', null), 'not readable (missing)');
  assert.equal(noPreviewReason('ok', null), 'not an image');
});

test('offline tiles are marked apart from failed ones', () => {
  assert.equal(tileStatusClass('ok'), '');
  assert.equal(tileStatusClass(undefined), '');
  assert.equal(tileStatusClass('offline'), ' voxcat-tile-offline');
  assert.equal(tileStatusClass('missing'), ' voxcat-tile-failed');
});
