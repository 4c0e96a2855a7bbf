import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeJob, endMessage, IJob } from '../src/jobsmodel';

function pyramid(args: Record<string, unknown>, extra: Partial<IJob> = {}): IJob {
  return { id: 'j1', kind: 'pyramid', status: 'done', args, progress: 1, ...extra } as IJob;
}

test('a preview job is named by its dataset, not its id', () => {
  const job = pyramid({ id: 'k2x9q4m1abcd', name: 'sandstone_01_rec' }, { result: { built: true } });
  assert.equal(describeJob(job), 'pyramid sandstone_01_rec');
  assert.equal(endMessage(job), 'voxcat: pyramid sandstone_01_rec finished');
  // jobs from a server before names were sent still say something
  assert.equal(describeJob(pyramid({ id: 'k2x9q4m1abcd' })), 'pyramid k2x9q4m1abcd');
});
