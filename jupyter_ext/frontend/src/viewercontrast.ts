/**
 * Contrast of the dataset viewer: automatic (robust percentiles, computed by the
 * server on the plane) or a manual min/max, as slice URL parameters. Pure: tested in
 * tests/viewercontrast.test.ts.
 */

export interface IContrast {
  /** "auto": percentiles of the plane; "manual": the range given */
  mode: 'auto' | 'manual';
  percentiles: [number, number];
  range: [number, number] | null;
}

/** The robust percentiles "auto" uses, as the thumbnails and the slice API do. */
export const AUTO_PERCENTILES: [number, number] = [1, 99.5];

/** Percentile choices offered next to "auto". */
export const PERCENTILE_PRESETS: { label: string; percentiles: [number, number] }[] = [
  { label: '1–99.5 %', percentiles: [1, 99.5] },
  { label: '0.1–99.9 %', percentiles: [0.1, 99.9] },
  { label: '5–95 %', percentiles: [5, 95] },
  { label: 'min–max', percentiles: [0, 100] }
];

export function autoContrast(percentiles: [number, number] = AUTO_PERCENTILES): IContrast {
  return { mode: 'auto', percentiles, range: null };
}

/** Slice URL parameters of a contrast. */
export function contrastParams(c: IContrast): Record<string, string> {
  if (c.mode === 'manual' && c.range) {
    return { range: `${c.range[0]},${c.range[1]}` };
  }
  return { percentiles: `${c.percentiles[0]},${c.percentiles[1]}` };
}

/** The range a slice was drawn with, from its `X-Voxcat-Contrast` header. */
export function parseContrast(header: string | null | undefined): [number, number] | null {
  if (!header) {
    return null;
  }
  const parts = header.split(',').map(p => Number(p.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite)) {
    return null;
  }
  return [parts[0], parts[1]];
}

/** A manual range from the two inputs' texts, or the reason it is not one. */
export function manualRange(minText: string, maxText: string): [number, number] | string {
  const lo = Number(minText.trim());
  const hi = Number(maxText.trim());
  if (minText.trim() === '' || maxText.trim() === '' || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    return 'min and max must be numbers';
  }
  if (!(lo < hi)) {
    return 'min must be below max';
  }
  return [lo, hi];
}

/** A readable number for the min/max inputs: at most 4 significant digits for
 * fractions, whole numbers as they are. */
export function formatLevel(v: number): string {
  if (Number.isInteger(v)) {
    return String(v);
  }
  return String(Number(v.toPrecision(4)));
}

/** A step for the min/max inputs: about a thousandth of the range, a power of ten. */
export function levelStep(lo: number, hi: number): number {
  const span = Math.abs(hi - lo);
  if (!(span > 0) || !Number.isFinite(span)) {
    return 1;
  }
  return Math.pow(10, Math.floor(Math.log10(span)) - 3);
}
