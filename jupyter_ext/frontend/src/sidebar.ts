/**
 * The voxcat sidebar: search box, facet filters, the virtualised thumbnail grid,
 * the detail view of a dataset, and the jobs view.
 */

import { Notification } from '@jupyterlab/apputils';
import { Panel, Widget } from '@lumino/widgets';

import * as api from './api';
import { SearchCompleter } from './complete';
import { DatasetDetail } from './detail';
import { debounce, h } from './dom';
import { FacetPanel } from './facets';
import { ThumbnailGrid } from './grid';
import { JobsView } from './jobs';
import { IJob } from './jobsmodel';
import { activeFilterCount, emptyState, ISearchState, searchParams, stateKey, toggleFilter } from './query';

export interface ISidebarOptions {
  /** Insert code reading a dataset into a notebook (index path, dataset id). */
  insertCode: (index: string, id: string) => Promise<void>;
  /** Open a dataset elsewhere (the main-area viewer); false: show the detail here. */
  openDataset?: (id: string) => boolean;
}

/** The settings of schema/plugin.json. */
export interface ISidebarSettings {
  /** the index inserted code opens ('' : the server's) */
  indexPath: string;
  /** results fetched per request */
  pageSize: number;
  /** tile width in CSS pixels */
  thumbnailSize: number;
}

export class VoxcatSidebar extends Panel {
  constructor(private options: ISidebarOptions) {
    super();
    this.id = 'voxcat-sidebar';
    this.addClass('voxcat-sidebar');
    this.title.caption = 'voxcat catalogue';

    this.status = h('div', { class: 'voxcat-status voxcat-muted' });
    this.input = h('input', {
      class: 'jp-mod-styled voxcat-search',
      type: 'search',
      placeholder: 'Search: words, "phrases", modality:CT, size:>1GB',
      'aria-label': 'search the catalogue',
      spellcheck: 'false'
    });
    const search = debounce(() => this.setState({ ...this.state, text: this.input.value }), 250);
    this.input.addEventListener('input', search);
    this.input.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter') {
        this.setState({ ...this.state, text: this.input.value });
      }
    });
    this.completer = new SearchCompleter(this.input);
    this.completer.onAccept = () => this.setState({ ...this.state, text: this.input.value });
    this.queryError = h('div', { class: 'voxcat-query-error', role: 'alert' });
    this.queryError.hidden = true;
    this.count = h('div', { class: 'voxcat-count-line' });
    this.clearButton = h(
      'button',
      { class: 'voxcat-clear', title: 'Clear search and filters', onclick: () => this.clearAll() },
      'Clear'
    );
    this.head = new Widget({
      node: h(
        'div',
        { class: 'voxcat-head' },
        h('div', { class: 'voxcat-title' }, 'voxcat'),
        this.status,
        this.input,
        this.queryError,
        h('div', { class: 'voxcat-count-row' }, this.count, this.clearButton)
      )
    });
    this.facets = new FacetPanel();
    this.facets.onToggle = (field, value) => this.setState(toggleFilter(this.state, field, value));
    this.grid = new ThumbnailGrid();
    this.grid.onOpen = row => this.openDataset(row.id);
    this.grid.onTotal = (total, error) => this.showTotal(total, error);
    this.detail = new DatasetDetail();
    this.detail.onBack = () => this.showResults();
    this.detail.onOpenId = id => this.openDataset(id);
    this.detail.onInsert = id => void this.insert(id);
    this.detail.onPyramid = id => void this.jobs.start({ kind: 'pyramid', id });
    this.detail.hide();
    this.jobs = new JobsView();
    this.jobs.onEnded = job => {
      if (job.kind === 'scan' || job.kind === 'pyramid') {
        void this.refresh();
      }
    };
    for (const widget of [this.head, this.facets, this.grid, this.detail, this.jobs]) {
      this.addWidget(widget);
    }
    void this.refresh();
  }

  /** The current search. */
  get searchState(): ISearchState {
    return this.state;
  }

  /** Search for `text` (words and `field:value` terms), as if typed in the box. */
  search(text: string): void {
    this.input.value = text;
    this.setState({ ...this.state, text });
  }

  /** Put the keyboard focus in the search box. */
  focusSearch(): void {
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  /** Apply the extension's settings (schema/plugin.json); takes effect at once. */
  applySettings(settings: ISidebarSettings): void {
    this.settings = settings;
    this.grid.setPageSize(settings.pageSize);
    this.grid.setTileWidth(settings.thumbnailSize);
  }

  /** Start a background job (e.g. `{kind: 'scan', path}`) and show it in the jobs view. */
  startJob(body: Record<string, unknown>): Promise<IJob | null> {
    return this.jobs.start(body);
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.completer.dispose();
    }
    super.dispose();
  }

  /** Re-read the index: info line, facets and results. */
  async refresh(): Promise<void> {
    try {
      this.info = await api.info();
      const count = this.info.datasets ?? 0;
      this.status.textContent = this.info.index_exists
        ? `${count.toLocaleString()} datasets in ${this.info.index}`
        : `No index yet at ${this.info.index}: scan a folder below.`;
      this.status.title = this.info.index;
      this.facets.labels = api.columnLabels(this.info.columns ?? []);
    } catch (error) {
      this.status.textContent = `voxcat server extension unavailable: ${(error as Error).message}`;
      return;
    }
    const shown = this.detail.isVisible ? this.detail.datasetId : null;
    this.key = null;
    this.run();
    if (shown) {
      this.keepDetail(shown);
    }
  }

  /** Show the detail of `id` again after a refresh (a job ended): it stays open. */
  private keepDetail(id: string): void {
    this.facets.hide();
    this.grid.hide();
    this.detail.show();
    void this.detail.load(id);
  }

  /** Show a dataset in the detail view. */
  openDataset(id: string): void {
    if (this.options.openDataset?.(id)) {
      return; // the sidebar stays the finder
    }
    this.facets.hide();
    this.grid.hide();
    this.detail.show();
    void this.detail.load(id);
  }

  private showResults(): void {
    this.detail.hide();
    this.facets.show();
    this.grid.show();
  }

  private setState(state: ISearchState): void {
    this.state = state;
    this.run();
  }

  private clearAll(): void {
    this.input.value = '';
    this.setState(emptyState());
  }

  private run(): void {
    const key = stateKey(this.state);
    if (key === this.key || !this.info?.index_exists) {
      return;
    }
    this.key = key;
    this.showResults();
    const params = searchParams(this.state);
    this.grid.setQuery(params);
    this.clearButton.hidden = !this.state.text.trim() && activeFilterCount(this.state) === 0;
    const state = this.state;
    api
      .facets(params)
      .then(facets => {
        if (key === this.key) {
          this.facets.setFacets(facets, state);
        }
      })
      .catch(error => {
        if (key === this.key) {
          this.facets.setFacets(null, state);
          this.showTotal(null, error as Error);
        }
      });
  }

  private showTotal(total: number | null, error: Error | null): void {
    this.count.classList.toggle('voxcat-error', error !== null);
    // a search the server cannot read (unknown field, bad value): say why, under the box
    const invalid = error instanceof api.ApiError && error.status === 400;
    this.queryError.hidden = !invalid;
    this.queryError.textContent = invalid ? error.message : '';
    this.input.setAttribute('aria-invalid', String(invalid));
    if (invalid) {
      this.count.textContent = 'No results: the search above is not valid';
    } else if (error) {
      this.count.textContent = error.message;
    } else if (total === null) {
      this.count.textContent = 'Searching…';
    } else {
      const all = this.info?.datasets;
      this.count.textContent =
        all !== undefined && all !== total
          ? `${total.toLocaleString()} of ${all.toLocaleString()} datasets`
          : `${total.toLocaleString()} datasets`;
    }
  }

  private async insert(id: string): Promise<void> {
    if (!this.info) {
      return;
    }
    try {
      await this.options.insertCode(this.settings.indexPath.trim() || this.info.index, id);
    } catch (error) {
      Notification.error(`voxcat: could not insert code: ${(error as Error).message}`);
    }
  }

  private settings: ISidebarSettings = { indexPath: '', pageSize: 60, thumbnailSize: 108 };
  private completer: SearchCompleter;
  private queryError: HTMLElement;
  private state: ISearchState = emptyState();
  private key: string | null = null;
  private info: api.IInfo | null = null;
  private input: HTMLInputElement;
  private status: HTMLElement;
  private count: HTMLElement;
  private clearButton: HTMLButtonElement;
  private head: Widget;
  private facets: FacetPanel;
  private grid: ThumbnailGrid;
  private detail: DatasetDetail;
  private jobs: JobsView;
}
