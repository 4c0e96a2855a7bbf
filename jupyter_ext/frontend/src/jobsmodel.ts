/**
 * Jobs as the server reports them, and which of them just ended (for
 * notifications). Pure: tested in tests/jobsmodel.test.ts.
 */

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface IJob {
  id: string;
  kind: string;
  args: Record<string, unknown>;
  status: JobStatus | string;
  progress: number;
  detail: unknown;
  created: string | null;
  started: string | null;
  finished: string | null;
  result: unknown;
  error: string | null;
  /** The Dask dashboard of a job running on a cluster (absent or null otherwise). */
  dashboard?: string | null;
}

const ACTIVE = new Set(['queued', 'running']);

export function isActive(job: IJob): boolean {
  return ACTIVE.has(job.status);
}

/** Jobs that were active in `before` (or unseen) and are finished in `after`.
 * Jobs that had already ended when first seen are not reported, so a browser
 * reload does not repeat old notifications. */
export function newlyEnded(before: Map<string, IJob> | null, after: IJob[]): IJob[] {
  if (before === null) {
    return [];
  }
  return after.filter(job => {
    if (isActive(job)) {
      return false;
    }
    const old = before.get(job.id);
    return old === undefined ? isRecent(job) : isActive(old);
  });
}

/** A job that finished within the last `seconds` (for jobs first seen finished). */
function isRecent(job: IJob, seconds = 30): boolean {
  if (!job.finished) {
    return false;
  }
  const finished = Date.parse(job.finished);
  return Number.isFinite(finished) && Date.now() - finished < seconds * 1000;
}

/** A one-line summary of a job for lists and notifications. */
export function describeJob(job: IJob): string {
  const args = job.args ?? {};
  const what =
    job.kind === 'scan'
      ? String(args.path ?? '')
      : job.kind === 'export'
        ? String(args.dest ?? '')
        : job.kind === 'pyramid'
          ? String(args.name ?? args.id ?? '')
          : '';
  return what ? `${job.kind} ${what}` : job.kind;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What a running job is doing, from its `detail` (phase, datasets so far). */
export function progressText(job: IJob): string {
  const detail = record(job.detail);
  const parts: string[] = [];
  if (typeof detail.phase === 'string') {
    parts.push(detail.phase);
  }
  if (typeof detail.datasets === 'number') {
    parts.push(plural(detail.datasets, 'dataset'));
  }
  if (job.status === 'running' || job.status === 'queued') {
    parts.push(`${Math.round((job.progress ?? 0) * 100)} %`);
  }
  return parts.join(' · ');
}

/** What a finished job produced, from its `result` (scan counts, export size). */
export function resultText(job: IJob): string {
  const result = record(job.result);
  const counts = record(result.counts);
  if (job.kind === 'scan' && typeof result.offline === 'string' && result.offline) {
    return `not scanned: ${result.offline}`; // its drive is unplugged
  }
  const parts: string[] = [];
  for (const key of ['added', 'changed', 'moved', 'missing', 'failed']) {
    const n = counts[key];
    if (typeof n === 'number' && n > 0) {
      parts.push(`${n} ${key}`);
    }
  }
  if (job.kind === 'scan' && parts.length === 0 && typeof counts.unchanged === 'number') {
    parts.push('nothing changed');
  }
  if (job.kind === 'export' && typeof result.datasets === 'number') {
    parts.push(plural(result.datasets, 'dataset'));
  }
  if (job.kind === 'pyramid' && result.built === false) {
    parts.push('not needed');
  }
  return parts.join(', ');
}

/** The message of a notification when `job` ended. */
export function endMessage(job: IJob): string {
  const name = describeJob(job);
  if (job.status === 'done') {
    const what = resultText(job);
    return `voxcat: ${name} finished${what ? ` (${what})` : ''}`;
  }
  if (job.status === 'cancelled') {
    return `voxcat: ${name} was cancelled`;
  }
  return `voxcat: ${name} failed: ${job.error ?? 'unknown error'}`;
}

/** The Dask dashboard link of a job that runs on a cluster: an http(s) URL, else
 * null (nothing else is ever made a link). */
export function dashboardLink(job: IJob): string | null {
  const link = job.dashboard;
  if (typeof link !== 'string' || link === '') {
    return null;
  }
  try {
    const url = new URL(link);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** Whether job polling waits: while the jobs view is not visible (its sidebar is
 * collapsed or another panel is shown) or the browser tab is hidden. */
export function pollPaused(viewVisible: boolean, visibility: DocumentVisibilityState | string): boolean {
  return !viewVisible || visibility === 'hidden';
}
