import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  dashboardLink,
  describeJob,
  endMessage,
  IJob,
  newlyEnded,
  pollPaused,
  progressText,
  resultText
} from '../src/jobsmodel';

function job(id: string, status: string, extra: Partial<IJob> = {}): IJob {
  return {
    id,
    kind: 'scan',
    args: { path: 'drive' },
    status,
    progress: 0,
    detail: null,
    created: null,
    started: null,
    finished: null,
    result: null,
    error: null,
    ...extra
  };
}

test('the first poll (e.g. after a reload) reports nothing', () => {
  assert.deepEqual(newlyEnded(null, [job('a', 'done', { finished: new Date().toISOString() })]), []);
});

test('a job that was running and is now finished is reported once', () => {
  const before = new Map([
    ['a', job('a', 'running')],
    ['b', job('b', 'done')]
  ]);
  const after = [job('a', 'done'), job('b', 'done'), job('c', 'running')];
  assert.deepEqual(
    newlyEnded(before, after).map(j => j.id),
    ['a']
  );
  const again = new Map(after.map(j => [j.id, j]));
  assert.deepEqual(newlyEnded(again, after), []);
});

test('a job started and finished between two polls is reported if recent', () => {
  const before = new Map<string, IJob>();
  const fresh = job('x', 'failed', { finished: new Date().toISOString(), error: 'boom' });
  const old = job('y', 'done', { finished: '2020-01-01T00:00:00' });
  assert.deepEqual(
    newlyEnded(before, [fresh, old]).map(j => j.id),
    ['x']
  );
});

test('messages name the job and its outcome', () => {
  assert.equal(describeJob(job('a', 'done')), 'scan drive');
  assert.equal(describeJob(job('a', 'done', { kind: 'pyramid', args: { id: 'k2' } })), 'pyramid k2');
  const result = { counts: { added: 12, changed: 0, unchanged: 3, failed: 1 } };
  assert.equal(endMessage(job('a', 'done', { result })), 'voxcat: scan drive finished (12 added, 1 failed)');
  const same = { counts: { added: 0, unchanged: 3 } };
  assert.equal(endMessage(job('a', 'done', { result: same })), 'voxcat: scan drive finished (nothing changed)');
  assert.equal(endMessage(job('a', 'done', { result: 'odd' })), 'voxcat: scan drive finished');
  assert.equal(
    endMessage(job('a', 'failed', { error: 'no such folder' })),
    'voxcat: scan drive failed: no such folder'
  );
  assert.equal(endMessage(job('a', 'cancelled')), 'voxcat: scan drive was cancelled');
});

test('progress of a running job comes from its detail', () => {
  const running = job('a', 'running', { progress: 0.426, detail: { phase: 'scanning', datasets: 1 } });
  assert.equal(progressText(running), 'scanning · 1 dataset · 43 %');
  assert.equal(progressText(job('a', 'running', { detail: null })), '0 %');
  assert.equal(resultText(job('e', 'done', { kind: 'export', result: { datasets: 3 } })), '3 datasets');
});

test('a scan of a root on an unplugged drive says which drive to plug in', () => {
  const offline = 'on drive WD-2019 (offline): plug it in; last seen at /media/lab/WD-2019';
  const result = { counts: { added: 0, unchanged: 0, offline: 12 }, offline };
  assert.equal(resultText(job('a', 'done', { result })), `not scanned: ${offline}`);
  assert.equal(resultText(job('b', 'done', { result: { counts: { added: 1 }, offline: null } })), '1 added');
});

test('a job on a Dask cluster links its dashboard; nothing but http(s) becomes a link', () => {
  assert.equal(
    dashboardLink(job('a', 'running', { dashboard: 'http://10.0.0.5:8787/status' })),
    'http://10.0.0.5:8787/status'
  );
  assert.equal(
    dashboardLink(job('b', 'done', { dashboard: 'https://hub.lab.org/user/ada/proxy/8787/status' })),
    'https://hub.lab.org/user/ada/proxy/8787/status'
  );
  assert.equal(dashboardLink(job('c', 'running')), null);
  assert.equal(dashboardLink(job('d', 'running', { dashboard: null })), null);
  assert.equal(dashboardLink(job('e', 'running', { dashboard: 'javascript:alert(1)' })), null);
  assert.equal(dashboardLink(job('f', 'running', { dashboard: 'not a url' })), null);
});

test('polling pauses while the view or the browser tab is hidden', () => {
  assert.equal(pollPaused(true, 'visible'), false);
  assert.equal(pollPaused(false, 'visible'), true);
  assert.equal(pollPaused(true, 'hidden'), true);
  assert.equal(pollPaused(false, 'hidden'), true);
});
