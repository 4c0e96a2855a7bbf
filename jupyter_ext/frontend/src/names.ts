/**
 * Dataset names that fit a tile: shortened by an ellipsis in the middle so the end,
 * where numbered files differ, stays readable ("sandstone_0…_recon_0042.tif").
 * The same rule as `catalog.formatting.middle_ellipsis` on the Python side.
 */

const SEPARATORS = '_-. /';
const LOOKAHEAD = 4;
const LOOKBACK = 2;

/**
 * `name` shortened to at most `limit` characters (code points) by an ellipsis in the
 * middle, keeping more of the end than of the start; the end starts at a separator
 * when one is at most two characters earlier, else at most four later without
 * skipping a digit.
 */
export function middleEllipsis(name: string, limit: number): string {
  const chars = Array.from(name);
  if (chars.length <= limit) {
    return name;
  }
  if (limit < 2) {
    return limit < 1 ? '' : '…';
  }
  const keep = limit - 1;
  const tail = keep - Math.floor((keep * 2) / 5);
  const n = chars.length;
  let start = n - tail;
  let moved = false;
  for (let i = start; i >= Math.max(start - LOOKBACK, n - keep + 1); i--) {
    if (SEPARATORS.includes(chars[i])) {
      start = i;
      moved = true;
      break;
    }
  }
  if (!moved) {
    for (let i = start; i < Math.min(start + LOOKAHEAD + 1, n - 1); i++) {
      if (SEPARATORS.includes(chars[i])) {
        start = i;
        break;
      }
      if (/[0-9]/.test(chars[i])) {
        break;
      }
    }
  }
  const head = keep - (n - start);
  return chars.slice(0, head).join('') + '…' + chars.slice(start).join('');
}

/**
 * The longest middle-ellipsis form of `name` for which `fits` is true (`fits` says
 * whether a text fits, e.g. measured on a canvas against two lines of a tile);
 * at least `minimum` characters.
 */
export function fitName(name: string, fits: (text: string) => boolean, minimum = 3): string {
  if (fits(name)) {
    return name;
  }
  let lo = minimum;
  let hi = Array.from(name).length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(middleEllipsis(name, mid))) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return middleEllipsis(name, lo);
}

/**
 * A `fits` test for `fitName`: the text, in the font of `element`, is at most
 * `lines` lines of `width` pixels when broken anywhere (a character's width of
 * slack per line, as breaking between characters wastes up to one).
 */
export function measuredFit(element: Element, width: number, lines = 2): (text: string) => boolean {
  const context = canvasContext();
  const style = getComputedStyle(element);
  context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const slack = context.measureText('W').width;
  return text => context.measureText(text).width <= lines * (width - slack);
}

let canvas: HTMLCanvasElement | null = null;

function canvasContext(): CanvasRenderingContext2D {
  canvas = canvas ?? document.createElement('canvas');
  return canvas.getContext('2d') as CanvasRenderingContext2D;
}
