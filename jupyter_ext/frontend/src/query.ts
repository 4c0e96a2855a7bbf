/**
 * The sidebar's search state and its query string for `/voxcat/api/search`.
 * Pure: tested in tests/query.test.ts.
 */

/** What the user asked for: the search box's text, chosen facet values and a sort order. */
export interface ISearchState {
  /** words, "phrases", -excluded words and `field:value` terms; the server reads
   * the terms exactly as `voxcat search --where field=value` (catalog/querytext.py) */
  text: string;
  /** field -> chosen values (any of them matches; fields combine with AND) */
  filters: Record<string, string[]>;
  sort: string;
}

export function emptyState(): ISearchState {
  return { text: '', filters: {}, sort: '' };
}

/** A filter value as the server's value syntax (catalog/querytext.py) reads it back as
 * this one text: backslashes doubled, and `\\` before each `,` and before a `.` that
 * another `.` follows, so neither reads as a list or a range (`encode` there). */
export function encodeValue(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' || ch === ',' || (ch === '.' && text[i + 1] === '.')) {
      out += '\\';
    }
    out += ch;
  }
  return out;
}

/** The query parameters of a search (without paging). Empty parts are left out;
 * the search box's text goes as `query` (words and `field:value` terms, parsed by the
 * server, never here); a field with several values is repeated, which the server
 * reads as "any of"; each value is sent with {@link encodeValue}. */
export function searchParams(state: ISearchState): URLSearchParams {
  const params = new URLSearchParams();
  const text = state.text.trim();
  if (text) {
    params.set('query', text);
  }
  for (const field of Object.keys(state.filters).sort()) {
    for (const value of state.filters[field]) {
      if (value !== '') {
        params.append(field, encodeValue(value));
      }
    }
  }
  if (state.sort) {
    params.set('sort', state.sort);
  }
  return params;
}

/** A stable key of a search, to tell whether cached pages still belong to it. */
export function stateKey(state: ISearchState): string {
  return searchParams(state).toString();
}

/** A new state with `value` of `field` switched on or off. */
export function toggleFilter(state: ISearchState, field: string, value: string): ISearchState {
  const current = state.filters[field] ?? [];
  const next = current.includes(value) ? current.filter(v => v !== value) : [...current, value];
  const filters = { ...state.filters };
  if (next.length) {
    filters[field] = next;
  } else {
    delete filters[field];
  }
  return { ...state, filters };
}

/** How many facet values are switched on. */
export function activeFilterCount(state: ISearchState): number {
  return Object.values(state.filters).reduce((n, values) => n + values.length, 0);
}

/** A facet value as the server sends it (`null` is "no value"). */
export interface IFacetValue {
  value: unknown;
  count: number;
}

/** The text a facet value is filtered by; `null` when it cannot be a filter (no
 * value, or text the server's value syntax would read as a range, list or glob). */
export function facetFilterText(value: unknown): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  const text = typeof value === 'string' ? value : String(value);
  if (text === '' || /[,*?]|\.\.|^[<>]/.test(text)) {
    return null;
  }
  return text;
}

/** One completion the server offers (`GET complete`): `text` replaces the term. */
export interface ICompletionItem {
  text: string;
  label: string;
  detail: string;
}

/** The server's completions of the term at the cursor: `text.slice(start, end)` is
 * the term they replace; `kind` is "field", "value" or "none". */
export interface ICompletions {
  start: number;
  end: number;
  kind: string;
  field: string | null;
  items: ICompletionItem[];
}

/** The text after accepting `item` of `completions`, and where the cursor goes. A
 * field name (`modality:`) leaves the cursor after the colon, to type the value; a
 * value ends the term with a space, so the next term can start. */
export function acceptCompletion(
  text: string,
  completions: ICompletions,
  item: ICompletionItem
): { text: string; cursor: number } {
  const before = text.slice(0, completions.start);
  const after = text.slice(completions.end);
  let insert = item.text;
  if (completions.kind === 'value' && !after.startsWith(' ')) {
    insert += ' ';
  }
  return { text: before + insert + after, cursor: before.length + insert.length };
}

/** The index the selection moves to with ArrowDown (`+1`) or ArrowUp (`-1`) in a
 * list of `count` items, wrapping around; -1 (nothing selected) when it is empty. */
export function moveSelection(current: number, step: number, count: number): number {
  if (count <= 0) {
    return -1;
  }
  if (current < 0) {
    return step > 0 ? 0 : count - 1;
  }
  return (((current + step) % count) + count) % count;
}
