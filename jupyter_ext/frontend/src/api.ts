/**
 * Calls to the voxcat server extension under `/voxcat/api/`. Requests go through
 * JupyterLab's `ServerConnection`, so they carry the user's token and XSRF cookie.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IJob } from './jobsmodel';
import { ICompletions, IFacetValue } from './query';

/**
 * A search result row: the server's `ROW_FIELDS` (the registry's `row` columns)
 * plus the thumbnail URL. Typed here are only the values the grid reads.
 */
export interface IRow extends Record<string, unknown> {
  id: string;
  name: string;
  modality: string | null;
  shape: number[] | null;
  size: number | null;
  status: string | null;
  tags: string[];
  thumbnail: string | null;
}

export interface ISearchPage {
  total: number;
  offset: number;
  limit: number;
  rows: IRow[];
}

export interface IFacets {
  total: number;
  facets: Record<string, IFacetValue[]>;
  ranges: Record<string, [unknown, unknown] | null>;
}

export interface IInfo {
  version: string;
  index: string;
  index_exists: boolean;
  jobs: number;
  datasets?: number;
  fields?: string[];
  /** the dataset columns, in table order (catalog/index/columns.py) */
  columns?: IColumn[];
}

/** One dataset column as the `info` route describes it. */
export interface IColumn extends Record<string, unknown> {
  name: string;
  /** what people read, e.g. "size on disk" */
  label: string;
  /** how a value is shown */
  display: 'bytes' | 'length' | 'shape' | 'time' | 'value';
  /** position in the detail view's metadata table, or null: not shown */
  detail: number | null;
}

export interface ILineage {
  nodes: Record<string, unknown>[];
  edges: Record<string, unknown>[];
}

/** One dataset's metadata as `GET datasets/{id}` returns it. */
export interface IDataset extends Record<string, unknown> {
  id: string;
  name: string;
  thumbnail: string | null;
  slice: string | null;
  tags?: string[];
  notes?: Record<string, unknown>[];
  lineage?: ILineage;
  /** the drive it lives on (null: object storage, or scanned before drives) */
  on_drive?: IOnDrive | null;
  /** whether browsing it needs a preview pyramid that is not built yet */
  preview_needed?: boolean;
  /** every place its content is known at, the primary one first */
  locations?: ILocation[];
}

/** One copy of a dataset (catalog/replicas.py `listing`). */
export interface ILocation extends Record<string, unknown> {
  path: string;
  /** the drive's label, else its id */
  drive: string | null;
  drive_id: string | null;
  /** "ok", "offline" or "missing" */
  status: string;
  primary: boolean;
  last_seen: string | null;
}

/** A dataset's drive, as the REST detail gives it. */
export interface IOnDrive {
  id: string;
  label: string | null;
  name: string;
  uuid: string | null;
  online: boolean;
  mount_point: string | null;
  last_seen: string | null;
  /** "on drive WD-2019 (offline)" */
  text: string;
}

/** An error answered by the server extension, with its message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

const settings = (): ServerConnection.ISettings => ServerConnection.makeSettings();

/** The absolute URL of an API path (`"search"`, `"datasets/abc"`...). */
export function apiUrl(path: string, params?: URLSearchParams): string {
  const base = URLExt.join(settings().baseUrl, 'voxcat/api', path);
  const query = params ? params.toString() : '';
  return query ? `${base}?${query}` : base;
}

async function request(url: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings());
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && typeof body.error === 'string') {
        message = body.error;
      } else if (body && typeof body.message === 'string') {
        message = body.message;
      }
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(message, response.status);
  }
  return response;
}

async function json<T>(url: string, init: RequestInit = {}): Promise<T> {
  return (await request(url, init)).json() as Promise<T>;
}

export async function info(): Promise<IInfo> {
  const out = await json<IInfo>(apiUrl('info'));
  if (out.columns) {
    knownColumns = Promise.resolve(out.columns);
  }
  return out;
}

let knownColumns: Promise<IColumn[]> | null = null;

/** The dataset columns the server describes (fetched with `info` once per page). */
export function columns(): Promise<IColumn[]> {
  if (!knownColumns) {
    knownColumns = info().then(out => out.columns ?? []);
    knownColumns.catch(() => {
      knownColumns = null; // try again next time
    });
  }
  return knownColumns;
}

/** The columns of the detail view's metadata table, in its order. */
export function detailColumns(all: IColumn[]): IColumn[] {
  return all.filter(c => c.detail !== null).sort((a, b) => (a.detail as number) - (b.detail as number));
}

/** field name -> label, for the columns the server describes. */
export function columnLabels(all: IColumn[]): Record<string, string> {
  return Object.fromEntries(all.map(c => [c.name, c.label]));
}

export function search(params: URLSearchParams, offset: number, limit: number): Promise<ISearchPage> {
  const query = new URLSearchParams(params);
  query.set('offset', String(offset));
  query.set('limit', String(limit));
  return json<ISearchPage>(apiUrl('search', query));
}

export function facets(params: URLSearchParams, fields: string[] = []): Promise<IFacets> {
  const query = new URLSearchParams(params);
  query.delete('sort');
  if (fields.length) {
    query.set('fields', fields.join(','));
  }
  query.set('limit', '30');
  return json<IFacets>(apiUrl('facets', query));
}

export function dataset(id: string): Promise<IDataset> {
  return json<IDataset>(apiUrl(`datasets/${encodeURIComponent(id)}`));
}

export function addTags(id: string, tags: string[]): Promise<{ tags: string[] }> {
  return json(apiUrl(`datasets/${encodeURIComponent(id)}/tags`), {
    method: 'POST',
    body: JSON.stringify({ tags })
  });
}

export function removeTag(id: string, tag: string): Promise<{ tags: string[] }> {
  const params = new URLSearchParams({ tag });
  return json(apiUrl(`datasets/${encodeURIComponent(id)}/tags`, params), { method: 'DELETE' });
}

export function addNote(id: string, text: string): Promise<{ notes: Record<string, unknown>[] }> {
  return json(apiUrl(`datasets/${encodeURIComponent(id)}/notes`), {
    method: 'POST',
    body: JSON.stringify({ text })
  });
}

export function jobs(): Promise<{ jobs: IJob[] }> {
  return json(apiUrl('jobs'));
}

export function startJob(body: Record<string, unknown>): Promise<IJob> {
  return json<IJob>(apiUrl('jobs'), { method: 'POST', body: JSON.stringify(body) });
}

export function cancelJob(id: string): Promise<IJob> {
  return json<IJob>(apiUrl(`jobs/${encodeURIComponent(id)}`), { method: 'DELETE' });
}

/** A PNG the server made, with the response headers (slice source, level...). */
export interface IImage {
  url: string;
  headers: Headers;
}

/** Fetch an image URL of the API as an object URL (the caller revokes it). */
export async function image(url: string, signal?: AbortSignal): Promise<IImage> {
  // the server answers paths ("/voxcat/api/..."); requests need the absolute URL
  const response = await request(new URL(url, window.location.href).href, { signal });
  const blob = await response.blob();
  return { url: URL.createObjectURL(blob), headers: response.headers };
}

/** Completions of the search box's term at `cursor` (field names, or values of the
 * field before the colon), from `GET complete`. */
export function complete(text: string, cursor: number, signal?: AbortSignal): Promise<ICompletions> {
  const params = new URLSearchParams({ query: text, cursor: String(cursor) });
  return json<ICompletions>(apiUrl('complete', params), { signal });
}
