import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pythonString, readCode } from '../src/code';

test('the inserted code opens the index and reads the dataset lazily', () => {
  const code = readCode('/data/lab.duckdb', 'k2x9q4m1abcd');
  assert.equal(
    code,
    'from catalog import open_catalog\n\ncat = open_catalog("/data/lab.duckdb")\nda = cat["k2x9q4m1abcd"].read()\nda'
  );
});

test('paths with quotes, backslashes and non-ASCII stay one Python string', () => {
  assert.equal(pythonString('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(pythonString("it's"), '"it\'s"');
  assert.equal(pythonString('Ünïcode\n'), '"Ünïcode\\n"');
});
