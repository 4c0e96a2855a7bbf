import assert from 'node:assert/strict';
import { test } from 'node:test';

import { columnsFor, IPage, PageCache, visibleWindow } from '../src/pages';

test('the window covers the rows in view plus overscan, never past the end', () => {
  // 3 columns, rows of 100 px, 1000 items (334 rows), viewport of 250 px at 1000 px
  const view = visibleWindow(1000, 250, 100, 3, 1000, 1);
  assert.equal(view.first, 9 * 3);
  assert.equal(view.last, 14 * 3);
  assert.equal(view.top, 900);
  assert.equal(view.height, 334 * 100);
  const end = visibleWindow(1e9, 250, 100, 3, 1000, 2);
  assert.equal(end.last, 1000);
  assert.ok(end.first <= end.last);
});

test('a million results render only a screenful', () => {
  const view = visibleWindow(5_000_000, 800, 172, columnsFor(300, 132), 1_000_000);
  assert.ok(view.last - view.first <= 2 * 10, `${view.last - view.first} items`);
  assert.equal(view.height, 500_000 * 172);
});

test('empty results and degenerate sizes give an empty window', () => {
  assert.deepEqual(visibleWindow(0, 500, 100, 3, 0), { first: 0, last: 0, top: 0, height: 0 });
  assert.equal(columnsFor(50, 132), 1);
  assert.equal(columnsFor(400, 132), 3);
});

function fetcher(total: number, log: number[], delay = 0) {
  return (offset: number, limit: number): Promise<IPage<number>> =>
    new Promise(resolve => {
      log.push(offset);
      const rows = Array.from({ length: Math.max(0, Math.min(limit, total - offset)) }, (_, i) => offset + i);
      setTimeout(() => resolve({ total, rows }), delay);
    });
}

test('pages are fetched once, on demand', async () => {
  const log: number[] = [];
  let changes = 0;
  const cache = new PageCache<number>(10, fetcher(95, log), () => changes++);
  assert.equal(cache.get(0), undefined);
  await cache.ensure(0, 25);
  assert.deepEqual(log, [0, 10, 20]);
  assert.equal(cache.total, 95);
  assert.equal(cache.get(23), 23);
  await cache.ensure(5, 15);
  assert.deepEqual(log, [0, 10, 20]);
  await cache.ensure(90, 200); // past the end: only the last page
  assert.deepEqual(log, [0, 10, 20, 90]);
  assert.equal(cache.get(94), 94);
  assert.equal(changes, 4);
});

test('at most maxPages pages are kept, least recently used dropped', async () => {
  const log: number[] = [];
  const cache = new PageCache<number>(10, fetcher(1000, log), () => undefined, 3);
  await cache.ensure(0, 30);
  cache.get(0); // page 0 is now the most recent
  await cache.ensure(30, 40);
  assert.equal(cache.get(5), 5);
  assert.equal(cache.get(15), undefined); // page 1 was the least recently used
  assert.equal(cache.get(25), 25);
});

test('answers to a search that was replaced are ignored', async () => {
  const slow: number[] = [];
  const cache = new PageCache<number>(10, fetcher(50, slow, 30), () => undefined);
  const first = cache.ensure(0, 10);
  cache.reset(fetcher(7, [], 0));
  await cache.ensure(0, 10);
  await first;
  assert.equal(cache.total, 7);
  assert.equal(cache.get(6), 6);
  assert.equal(cache.get(8), undefined);
});

test('a failed fetch is reported and can be retried', async () => {
  let fail = true;
  const cache = new PageCache<number>(
    10,
    async (offset, limit) => {
      if (fail) {
        throw new Error('index locked');
      }
      return { total: 3, rows: [offset, offset + 1, offset + 2].slice(0, limit) };
    },
    () => undefined
  );
  await cache.ensure(0, 10);
  assert.equal(cache.error?.message, 'index locked');
  fail = false;
  await cache.ensure(0, 10);
  assert.equal(cache.get(2), 2);
});

test('without a search nothing is fetched', async () => {
  let changes = 0;
  const cache = new PageCache<number>(10, null, () => changes++);
  await cache.ensure(0, 100);
  assert.equal(cache.total, null);
  assert.equal(changes, 0);
  const log: number[] = [];
  cache.reset(fetcher(5, log));
  await cache.ensure(0, 10);
  assert.deepEqual(log, [0]);
  assert.equal(cache.total, 5);
});
