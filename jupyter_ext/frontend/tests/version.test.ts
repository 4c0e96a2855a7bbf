import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { releaseOf, VERSION, versionWarning } from '../src/version';

test('VERSION is the version in package.json', () => {
  // compiled to lib-test/tests/: package.json is two folders up
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
  assert.equal(VERSION, pkg.version);
});

test('Python and npm forms of one release are the same release', () => {
  assert.equal(releaseOf('0.2.0.dev1'), '0.2.0');
  assert.equal(releaseOf('0.2.0-alpha.1'), '0.2.0');
  assert.equal(releaseOf('1.4'), '1.4.0');
  assert.equal(versionWarning('0.2.0-alpha.1', '0.2.0.dev1'), null);
});

test('a different server version gives one clear warning naming both', () => {
  const warning = versionWarning('0.1.0', '0.2.0');
  assert.ok(warning);
  assert.match(warning, /0\.1\.0/);
  assert.match(warning, /0\.2\.0/);
  assert.match(warning, /restart JupyterLab/);
  assert.match(versionWarning('0.1.0', undefined) ?? '', /did not report its version/);
});
