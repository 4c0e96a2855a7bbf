/**
 * The jobs view: a form to scan a folder, and every job of the server with its
 * progress and a cancel button. Polls while jobs run; JupyterLab notifications
 * when one ends (also for jobs started from another tab or before a reload).
 * Polling pauses while the view is hidden (sidebar collapsed or another panel shown)
 * or the browser tab is hidden, and resumes at once when both are visible again.
 */

import { Notification } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import * as api from './api';
import { clear, h } from './dom';
import {
  dashboardLink,
  describeJob,
  endMessage,
  IJob,
  isActive,
  newlyEnded,
  pollPaused,
  progressText,
  resultText
} from './jobsmodel';

const FAST_POLL = 1000;
const SLOW_POLL = 10000;

export class JobsView extends Widget {
  /** Called when a job ended (to refresh the results). */
  onEnded: (job: IJob) => void = () => undefined;

  constructor() {
    super();
    this.addClass('voxcat-jobs');
    this.pathInput = h('input', {
      class: 'jp-mod-styled voxcat-scan-path',
      type: 'text',
      placeholder: 'folder to scan (relative to the server root)',
      'aria-label': 'folder to scan'
    });
    this.pathInput.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter') {
        void this.scan();
      }
    });
    const form = h(
      'div',
      { class: 'voxcat-scan-form' },
      this.pathInput,
      h('button', { class: 'jp-mod-styled jp-mod-accept voxcat-scan-start', onclick: () => void this.scan() }, 'Scan')
    );
    this.list = h('div', { class: 'voxcat-job-list' });
    this.node.append(h('div', { class: 'voxcat-section-title' }, 'Jobs'), form, this.list);
    document.addEventListener('visibilitychange', this.onVisibility);
    void this.poll();
  }

  /** Whether polling waits (this view or the browser tab is hidden). */
  get paused(): boolean {
    return pollPaused(this.isVisible, document.visibilityState);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.resume();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.resume();
  }

  private onVisibility = (): void => this.resume();

  /** Poll now if a poll was skipped while hidden. */
  private resume(): void {
    if (this.waiting && !this.paused) {
      this.waiting = false;
      this.pollSoon(0);
    }
  }

  /** Start a job and show it at once. */
  async start(body: Record<string, unknown>): Promise<IJob | null> {
    try {
      const job = await api.startJob(body);
      Notification.info(`voxcat: ${describeJob(job)} started`, { autoClose: 3000 });
      this.known?.set(job.id, job);
      this.jobs = [job, ...this.jobs.filter(j => j.id !== job.id)];
      this.render();
      this.pollSoon(300);
      return job;
    } catch (error) {
      Notification.error(`voxcat: ${(error as Error).message}`, { autoClose: 8000 });
      return null;
    }
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    document.removeEventListener('visibilitychange', this.onVisibility);
    super.dispose();
  }

  private async scan(): Promise<void> {
    const path = this.pathInput.value.trim();
    if (!path) {
      this.pathInput.focus();
      return;
    }
    if (await this.start({ kind: 'scan', path })) {
      this.pathInput.value = '';
    }
  }

  private pollSoon(ms: number): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    if (this.isDisposed) {
      return;
    }
    if (this.paused) {
      this.waiting = true; // resume() polls when visible again
      return;
    }
    try {
      const { jobs } = await api.jobs();
      for (const job of newlyEnded(this.known, jobs)) {
        const message = endMessage(job);
        if (job.status === 'done') {
          Notification.success(message, { autoClose: 8000 });
        } else if (job.status === 'failed') {
          Notification.error(message, { autoClose: false });
        } else {
          Notification.warning(message, { autoClose: 5000 });
        }
        this.onEnded(job);
      }
      this.known = new Map(jobs.map(j => [j.id, j]));
      this.jobs = jobs;
      this.error = null;
    } catch (error) {
      this.error = (error as Error).message;
    }
    this.render();
    this.pollSoon(this.jobs.some(isActive) ? FAST_POLL : SLOW_POLL);
  }

  private render(): void {
    clear(this.list);
    if (this.error) {
      this.list.appendChild(h('div', { class: 'voxcat-error' }, this.error));
    }
    if (this.jobs.length === 0) {
      this.list.appendChild(h('div', { class: 'voxcat-muted' }, 'No jobs yet.'));
    }
    for (const job of this.jobs.slice(0, 20)) {
      const percent = Math.round((job.progress ?? 0) * 100);
      const bar = h('progress', { class: 'voxcat-progress', max: 100, value: job.status === 'done' ? 100 : percent });
      const dashboard = dashboardLink(job);
      this.list.appendChild(
        h(
          'div',
          { class: `voxcat-job voxcat-job-${job.status}`, 'data-job': job.id },
          h(
            'div',
            { class: 'voxcat-job-title' },
            describeJob(job),
            h('span', { class: 'voxcat-job-status' }, ` ${job.status}`)
          ),
          bar,
          h(
            'div',
            { class: 'voxcat-muted voxcat-job-detail' },
            job.error ?? (isActive(job) ? progressText(job) : resultText(job))
          ),
          dashboard !== null &&
            h(
              'a',
              {
                class: 'voxcat-job-dashboard',
                href: dashboard,
                target: '_blank',
                rel: 'noopener noreferrer',
                title: 'the Dask dashboard of the cluster this job runs on'
              },
              'Dask dashboard'
            ),
          isActive(job) &&
            h(
              'button',
              {
                class: 'jp-mod-styled voxcat-job-cancel',
                onclick: async () => {
                  try {
                    await api.cancelJob(job.id);
                  } catch (error) {
                    Notification.error(`voxcat: ${(error as Error).message}`);
                  }
                  this.pollSoon(200);
                }
              },
              'Cancel'
            )
        )
      );
    }
  }

  private pathInput: HTMLInputElement;
  private list: HTMLElement;
  private jobs: IJob[] = [];
  private known: Map<string, IJob> | null = null;
  private error: string | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private waiting = false;
}
