/**
 * Human-readable sizes, shapes, voxel sizes and dates for the sidebar.
 * Pure functions: no DOM, no JupyterLab (tested in tests/format.test.ts).
 */

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** `1234567` -> `"1.2 MB"` (decimal units, as file managers show them). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) {
    return '';
  }
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** `[512, 2048, 2048]` -> `"512×2048×2048"`. */
export function formatShape(shape: unknown): string {
  if (!Array.isArray(shape) || shape.length === 0) {
    return '';
  }
  return shape.map(v => String(v)).join('×');
}

const LENGTH_UNITS: [number, string][] = [
  [1, 'm'],
  [1e-3, 'mm'],
  [1e-6, 'µm'],
  [1e-9, 'nm'],
  [1e-12, 'pm']
];

/** A length in metres with a fitting unit: `6.5e-6` -> `"6.5 µm"`. */
export function formatLength(metres: number | null | undefined): string {
  if (metres === null || metres === undefined || !Number.isFinite(metres)) {
    return '';
  }
  if (metres === 0) {
    return '0 m';
  }
  const abs = Math.abs(metres);
  for (const [scale, unit] of LENGTH_UNITS) {
    if (abs >= scale * 0.9995) {
      return `${trim(metres / scale)} ${unit}`;
    }
  }
  return `${trim(metres / 1e-12)} pm`;
}

/** Voxel sizes per axis (metres): equal sizes collapse to one figure. */
export function formatVoxelSize(sizes: unknown): string {
  if (!Array.isArray(sizes)) {
    return typeof sizes === 'number' ? formatLength(sizes) : '';
  }
  const numbers = sizes.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (numbers.length === 0) {
    return '';
  }
  const parts = numbers.map(formatLength);
  return new Set(parts).size === 1 ? parts[0] : parts.join(' × ');
}

/** An ISO timestamp as `YYYY-MM-DD HH:MM` (as stored, no time zone shift). */
export function formatTime(iso: unknown): string {
  if (typeof iso !== 'string' || iso.length < 10) {
    return '';
  }
  const date = iso.slice(0, 10);
  const time = iso.length >= 16 && iso[10] === 'T' ? ` ${iso.slice(11, 16)}` : '';
  return date + time;
}

/** Any metadata value as one line of text (objects as compact JSON). */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function trim(value: number): string {
  const text = value.toPrecision(3);
  return text.includes('e') ? text : String(Number(text));
}

/** What the detail view says of a dataset's drive (`on_drive` of the REST detail):
 * `"on drive WD-2019 (offline)"`, or `''` when it is on none (object storage). */
export function driveText(onDrive: unknown): string {
  if (!onDrive || typeof onDrive !== 'object') {
    return '';
  }
  const drive = onDrive as { text?: unknown; name?: unknown; online?: unknown };
  if (typeof drive.text === 'string' && drive.text) {
    return drive.text;
  }
  const name = typeof drive.name === 'string' && drive.name ? drive.name : '?';
  return `on drive ${name} (${drive.online ? 'online' : 'offline'})`;
}

/** Why a dataset shows no preview: for one on an unplugged drive, which drive to plug
 * in (the server's `error`); else its status, or that it is not an image. */
export function noPreviewReason(status: unknown, error: unknown): string {
  if (status === 'offline') {
    return typeof error === 'string' && error ? error : 'its drive is offline: plug it in';
  }
  return status !== 'ok' ? `not readable (${formatValue(status)})` : 'not an image';
}

/** The extra class of a result tile: `' voxcat-tile-offline'` for a dataset on an
 * unplugged drive (still shown with its thumbnail), `' voxcat-tile-failed'` for one
 * that cannot be read, else `''`. */
export function tileStatusClass(status: unknown): string {
  if (!status || status === 'ok') {
    return '';
  }
  return status === 'offline' ? ' voxcat-tile-offline' : ' voxcat-tile-failed';
}
