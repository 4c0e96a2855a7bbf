/**
 * The virtualised thumbnail grid: a scroll area as tall as all results, with tiles
 * only for the rows in view; pages of results are fetched as they scroll in.
 */

import { Widget } from '@lumino/widgets';

import { IRow, search } from './api';
import { clear, h } from './dom';
import { formatBytes, formatShape, tileStatusClass } from './format';
import { fitName, measuredFit } from './names';
import { columnsFor, PageCache, visibleWindow } from './pages';
import { ThumbnailLoader } from './thumbnails';

export const TILE_WIDTH = 108;
export const TILE_HEIGHT = 160;
/** What a tile takes from its column's width besides its name: margins, padding, border. */
const TILE_CHROME = 18;
const PAGE_SIZE = 60;
/** height of a tile's thumbnail box and the vertical margins of a tile (style/base.css) */
const THUMB_HEIGHT = 90;
const TILE_MARGIN = 8;

export class ThumbnailGrid extends Widget {
  /** Called with a row when its tile is clicked. */
  onOpen: (row: IRow) => void = () => undefined;
  /** Called when the number of results is known or changes. */
  onTotal: (total: number | null, error: Error | null) => void = () => undefined;

  constructor() {
    super();
    this.addClass('voxcat-grid');
    this.node.tabIndex = 0;
    this.spacer = h('div', { class: 'voxcat-grid-spacer' });
    this.tiles = h('div', { class: 'voxcat-grid-tiles' });
    this.spacer.appendChild(this.tiles);
    this.node.appendChild(this.spacer);
    this.node.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.cache = new PageCache<IRow>(PAGE_SIZE, null, () => {
      this.onTotal(this.cache.total, this.cache.error);
      this.schedule();
    });
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.node);
  }

  /** Show the results of a search (query parameters without paging). */
  setQuery(params: URLSearchParams): void {
    this.params = params;
    this.cache.reset((offset, limit) => search(params, offset, limit));
    this.node.scrollTop = 0;
    this.onTotal(null, null);
    this.schedule();
  }

  /** Fetch `size` results per request from now on (the `pageSize` setting); the
   * current search is fetched again. */
  setPageSize(size: number): void {
    if (size === this.cache.pageSize || !(size > 0)) {
      return;
    }
    this.cache.reset(); // answers still on their way to the old cache are dropped
    this.cache = new PageCache<IRow>(size, null, () => {
      this.onTotal(this.cache.total, this.cache.error);
      this.schedule();
    });
    if (this.params) {
      this.setQuery(this.params);
    }
  }

  /** Show tiles `width` CSS pixels wide (the `thumbnailSize` setting); the thumbnail
   * and the tile grow in height with it. */
  setTileWidth(width: number): void {
    if (width === this.tileWidth || !(width > 0)) {
      return;
    }
    this.tileWidth = width;
    const thumb = Math.round((THUMB_HEIGHT * width) / TILE_WIDTH);
    this.tileHeight = TILE_HEIGHT + thumb - THUMB_HEIGHT;
    this.node.style.setProperty('--voxcat-thumb-height', `${thumb}px`);
    this.node.style.setProperty('--voxcat-tile-height', `${this.tileHeight - TILE_MARGIN}px`);
    this.schedule();
  }

  /** Number of tiles currently in the DOM (the grid never builds more than fit). */
  get renderedCount(): number {
    return this.tiles.childElementCount;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.resizeObserver.disconnect();
    this.thumbnails.dispose();
    super.dispose();
  }

  private schedule(): void {
    if (this.frame === 0) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  private render(): void {
    const width = this.node.clientWidth || this.tileWidth;
    const columns = columnsFor(width, this.tileWidth);
    const total = this.cache.total ?? PAGE_SIZE;
    const view = visibleWindow(this.node.scrollTop, this.node.clientHeight || 600, this.tileHeight, columns, total);
    void this.cache.ensure(view.first, Math.max(view.last, 1));
    this.spacer.style.height = `${this.cache.total === null ? 0 : view.height}px`;
    this.tiles.style.transform = `translateY(${view.top}px)`;
    this.tiles.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    this.fitNames(Math.floor((width - 8) / columns) - TILE_CHROME);
    clear(this.tiles);
    const urls = new Set<string>();
    if (this.cache.total === null) {
      return;
    }
    for (let index = view.first; index < view.last; index++) {
      const row = this.cache.get(index);
      this.tiles.appendChild(row ? this.tile(row, urls) : h('div', { class: 'voxcat-tile voxcat-tile-loading' }));
    }
    this.thumbnails.forgetExcept(urls);
  }

  private tile(row: IRow, urls: Set<string>): HTMLElement {
    const img = h('img', { class: 'voxcat-thumb', alt: '', draggable: 'false' });
    if (row.thumbnail) {
      img.dataset.src = row.thumbnail;
      urls.add(row.thumbnail);
      this.thumbnails.load(img, row.thumbnail);
    } else {
      img.classList.add('voxcat-broken');
    }
    const facts = [row.modality, formatShape(row.shape), formatBytes(row.size)].filter(Boolean).join(' · ');
    const tile = h(
      'div',
      {
        class: `voxcat-tile${tileStatusClass(row.status)}`,
        title: `${row.name}\n${row.id}`,
        role: 'button',
        tabindex: 0,
        'data-id': row.id,
        onclick: () => this.onOpen(row),
        onkeydown: (event: KeyboardEvent) => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            this.onOpen(row);
          }
        }
      },
      h('div', { class: 'voxcat-thumb-box' }, img),
      h('div', { class: 'voxcat-tile-name', title: row.name }, this.shortName(row.name)),
      h('div', { class: 'voxcat-tile-facts' }, facts)
    );
    return tile;
  }

  /** Names are shortened to two lines of `width` pixels from now on. */
  private fitNames(width: number): void {
    if (width !== this.nameWidth) {
      this.nameWidth = width;
      this.names.clear();
      this.fits = width > 0 ? measuredFit(this.node, width) : () => true;
    }
  }

  /** `name` with a middle ellipsis where it is longer than two lines of a tile. */
  private shortName(name: string): string {
    let short = this.names.get(name);
    if (short === undefined) {
      short = fitName(name, this.fits);
      if (this.names.size > 2000) {
        this.names.clear();
      }
      this.names.set(name, short);
    }
    return short;
  }

  private spacer: HTMLElement;
  private nameWidth = -1;
  private names = new Map<string, string>();
  private fits: (text: string) => boolean = () => true;
  private tiles: HTMLElement;
  private cache: PageCache<IRow>;
  private thumbnails = new ThumbnailLoader();
  private resizeObserver: ResizeObserver;
  private frame = 0;
  private params: URLSearchParams | null = null;
  private tileWidth = TILE_WIDTH;
  private tileHeight = TILE_HEIGHT;
}
