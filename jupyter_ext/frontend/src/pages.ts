/**
 * Paging and windowing behind the virtualised thumbnail grid: only the rows in
 * view exist in the DOM, and only the pages they need are fetched. Pure: tested in
 * tests/pages.test.ts.
 */

/** Grid geometry for a scroll position. */
export interface IWindow {
  /** first item index to render */
  first: number;
  /** one past the last item index to render */
  last: number;
  /** pixels above the first rendered row */
  top: number;
  /** pixels of the whole (virtual) grid */
  height: number;
}

/** Which items of a `columns`-wide grid of `total` items with rows of `rowHeight`
 * pixels are in (or within `overscan` rows of) a viewport. */
export function visibleWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  columns: number,
  total: number,
  overscan = 2
): IWindow {
  const cols = Math.max(1, Math.floor(columns));
  const rows = Math.ceil(Math.max(0, total) / cols);
  const height = rows * rowHeight;
  if (total <= 0 || rowHeight <= 0) {
    return { first: 0, last: 0, top: 0, height: 0 };
  }
  // a scroll position left over from longer results is clamped to the end
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, height - Math.max(0, viewportHeight)));
  const firstRow = Math.max(0, Math.floor(top / rowHeight) - overscan);
  const lastRow = Math.min(rows, Math.ceil((top + Math.max(0, viewportHeight)) / rowHeight) + overscan);
  return {
    first: firstRow * cols,
    last: Math.min(total, Math.max(firstRow, lastRow) * cols),
    top: firstRow * rowHeight,
    height
  };
}

/** How many thumbnails of `itemWidth` pixels fit in `width` pixels (at least one). */
export function columnsFor(width: number, itemWidth: number): number {
  return Math.max(1, Math.floor(width / Math.max(1, itemWidth)));
}

/** One page of a search as the server returns it. */
export interface IPage<T> {
  total: number;
  rows: T[];
}

export type PageFetcher<T> = (offset: number, limit: number) => Promise<IPage<T>>;

/**
 * Pages of one search, fetched on demand and kept up to `maxPages` (least recently
 * used dropped). `reset` starts a new search: answers to older requests are ignored,
 * so a slow response never paints stale rows.
 */
export class PageCache<T> {
  constructor(
    readonly pageSize: number,
    private fetcher: PageFetcher<T> | null,
    private onChange: () => void,
    readonly maxPages = 40
  ) {}

  /** Number of matches, once the first page arrived (else `null`). */
  get total(): number | null {
    return this._total;
  }

  /** The last error of a fetch, if any (cleared by `reset`). */
  get error(): Error | null {
    return this._error;
  }

  /** Forget everything and fetch with `fetcher` from now on (with none, `ensure`
   * fetches nothing until one is given). */
  reset(fetcher?: PageFetcher<T>): void {
    if (fetcher) {
      this.fetcher = fetcher;
    }
    this.generation += 1;
    this.pages.clear();
    this.pending.clear();
    this._total = null;
    this._error = null;
  }

  /** The item at `index` if its page has arrived. */
  get(index: number): T | undefined {
    const page = Math.floor(index / this.pageSize);
    const rows = this.pages.get(page);
    if (rows === undefined) {
      return undefined;
    }
    this.pages.delete(page); // refresh its place in the LRU order
    this.pages.set(page, rows);
    return rows[index - page * this.pageSize];
  }

  /** Fetch the pages covering items `first .. last - 1` that are not here yet;
   * resolves when they arrived (or failed). */
  async ensure(first: number, last: number): Promise<void> {
    const wanted: Promise<void>[] = [];
    if (this.fetcher === null) {
      return;
    }
    const lo = Math.floor(Math.max(0, first) / this.pageSize);
    const hi = Math.floor(Math.max(0, last - 1) / this.pageSize);
    for (let page = lo; page <= hi; page++) {
      if (this._total !== null && page * this.pageSize >= this._total && page > 0) {
        break;
      }
      if (!this.pages.has(page) && !this.pending.has(page)) {
        wanted.push(this.load(page));
      }
    }
    await Promise.all(wanted);
  }

  private async load(page: number): Promise<void> {
    const generation = this.generation;
    this.pending.add(page);
    try {
      const result = await (this.fetcher as PageFetcher<T>)(page * this.pageSize, this.pageSize);
      if (generation !== this.generation) {
        return;
      }
      this._total = result.total;
      this.pages.set(page, result.rows);
      while (this.pages.size > this.maxPages) {
        const oldest = this.pages.keys().next().value as number;
        this.pages.delete(oldest);
      }
    } catch (error) {
      if (generation !== this.generation) {
        return;
      }
      this._error = error instanceof Error ? error : new Error(String(error));
    } finally {
      if (generation === this.generation) {
        this.pending.delete(page);
      }
    }
    this.onChange();
  }

  private generation = 0;
  private pages = new Map<number, T[]>();
  private pending = new Set<number>();
  private _total: number | null = null;
  private _error: Error | null = null;
}
