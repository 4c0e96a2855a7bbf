/**
 * The planes a dataset can be previewed in. Pure: tested in tests/planes.test.ts.
 */

export interface IPlane {
  /** button label, e.g. "z (y, x)" */
  label: string;
  /** the two displayed dimensions, rows first */
  dims: [string, string];
  /** the dimension the slider moves through (null for 2D) */
  through: string | null;
  /** number of positions along `through` (0 for 2D) */
  depth: number;
}

/** Planes of an image with `axes` (e.g. "zyx" or ["z","y","x"]) and `shape`:
 * for 3D and more, the three orthogonal planes of z, y, x; for 2D the image. */
export function planes(axes: unknown, shape: unknown): IPlane[] {
  const names = typeof axes === 'string' ? axes.split('') : Array.isArray(axes) ? axes.map(String) : [];
  const sizes = Array.isArray(shape) ? shape.map(Number) : [];
  const size = (dim: string): number => {
    const at = names.indexOf(dim);
    return at >= 0 && at < sizes.length ? sizes[at] : 0;
  };
  const has = (dim: string): boolean => names.includes(dim) && size(dim) > 0;
  if (has('z') && has('y') && has('x')) {
    return [
      { label: 'z (y, x)', dims: ['y', 'x'], through: 'z', depth: size('z') },
      { label: 'y (z, x)', dims: ['z', 'x'], through: 'y', depth: size('y') },
      { label: 'x (z, y)', dims: ['z', 'y'], through: 'x', depth: size('x') }
    ];
  }
  if (has('t') && has('y') && has('x')) {
    return [{ label: 't (y, x)', dims: ['y', 'x'], through: 't', depth: size('t') }];
  }
  return [{ label: 'y, x', dims: ['y', 'x'], through: null, depth: 0 }];
}
