import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  acceptCompletion,
  activeFilterCount,
  emptyState,
  encodeValue,
  facetFilterText,
  moveSelection,
  searchParams,
  stateKey,
  toggleFilter
} from '../src/query';

test('an empty search has no parameters', () => {
  assert.equal(searchParams(emptyState()).toString(), '');
  assert.equal(searchParams({ text: '   ', filters: {}, sort: '' }).toString(), '');
});

test('words, filters and sort become query parameters; several values repeat', () => {
  const state = { text: ' sandstone "dry run" ', filters: { tags: ['b', 'a'], modality: ['CT'] }, sort: '-size' };
  const params = searchParams(state);
  assert.equal(params.get('query'), 'sandstone "dry run"');
  assert.equal(params.get('q'), null);
  assert.deepEqual(params.getAll('tags'), ['b', 'a']);
  assert.deepEqual(params.getAll('modality'), ['CT']);
  assert.equal(params.get('sort'), '-size');
  // field order does not change the key
  const same = { ...state, filters: { modality: ['CT'], tags: ['b', 'a'] } };
  assert.equal(stateKey(state), stateKey(same));
});

test('values are encoded, never spliced into the URL', () => {
  const params = searchParams({ text: "a&b=c'; DROP TABLE datasets;--", filters: { 'meta.x': ['1&2'] }, sort: '' });
  const text = params.toString();
  assert.ok(!text.includes('&b='));
  assert.equal(new URLSearchParams(text).get('query'), "a&b=c'; DROP TABLE datasets;--");
  assert.equal(new URLSearchParams(text).get('meta.x'), '1&2');
});

test('toggling a facet value adds, then removes it, and never mutates', () => {
  const empty = emptyState();
  const one = toggleFilter(empty, 'modality', 'CT');
  assert.deepEqual(empty.filters, {});
  assert.deepEqual(one.filters, { modality: ['CT'] });
  const two = toggleFilter(one, 'modality', 'MR');
  assert.deepEqual(two.filters, { modality: ['CT', 'MR'] });
  assert.equal(activeFilterCount(two), 2);
  const back = toggleFilter(toggleFilter(two, 'modality', 'CT'), 'modality', 'MR');
  assert.deepEqual(back.filters, {});
  assert.equal(activeFilterCount(back), 0);
});

test('facet values that the server would read as ranges, lists or globs are not offered', () => {
  assert.equal(facetFilterText('CT'), 'CT');
  assert.equal(facetFilterText(3), '3');
  assert.equal(facetFilterText(null), null);
  assert.equal(facetFilterText(''), null);
  assert.equal(facetFilterText('a,b'), null);
  assert.equal(facetFilterText('rock*'), null);
  assert.equal(facetFilterText('1..2'), null);
  assert.equal(facetFilterText('>5'), null);
});

test("filter values are sent in the server's value syntax, read back as the same text", () => {
  assert.equal(encodeValue('CT'), 'CT');
  assert.equal(encodeValue('C:\\data\\x'), 'C:\\\\data\\\\x');
  assert.equal(encodeValue('a,b..c'), 'a\\,b\\..c');
  assert.equal(encodeValue('1.5'), '1.5');
  const state = { ...emptyState(), filters: { sample: ['S\\1', 'é'] } };
  assert.deepEqual(searchParams(state).getAll('sample'), ['S\\\\1', 'é']);
});

test('field syntax goes to the server as typed, in `query`', () => {
  const params = searchParams({ text: 'sandstone modality:CT size:>1GB', filters: {}, sort: '' });
  assert.equal(params.get('query'), 'sandstone modality:CT size:>1GB');
  assert.equal(params.get('modality'), null);
});

test('accepting a field completion leaves the cursor after the colon', () => {
  const completions = { start: 10, end: 14, kind: 'field', field: null, items: [] };
  const item = { text: 'modality:', label: 'modality', detail: 'field' };
  assert.deepEqual(acceptCompletion('sandstone moda', completions, item), {
    text: 'sandstone modality:',
    cursor: 19
  });
  // in the middle of the text, the rest stays
  assert.deepEqual(acceptCompletion('moda sandstone', { ...completions, start: 0, end: 4 }, item), {
    text: 'modality: sandstone',
    cursor: 9
  });
});

test('accepting a value completion ends the term with one space', () => {
  const completions = { start: 0, end: 10, kind: 'value', field: 'modality', items: [] };
  const item = { text: 'modality:CT', label: 'CT', detail: '3 datasets' };
  assert.deepEqual(acceptCompletion('modality:C', completions, item), { text: 'modality:CT ', cursor: 12 });
  assert.deepEqual(acceptCompletion('modality:C x', completions, item), { text: 'modality:CT x', cursor: 11 });
});

test('arrow keys move the selection around the list', () => {
  assert.equal(moveSelection(-1, 1, 3), 0);
  assert.equal(moveSelection(-1, -1, 3), 2);
  assert.equal(moveSelection(2, 1, 3), 0);
  assert.equal(moveSelection(0, -1, 3), 2);
  assert.equal(moveSelection(1, 1, 0), -1);
});
