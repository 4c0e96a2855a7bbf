/**
 * The lineage graph of the dataset viewer: columns by generation (parents left of
 * their children), and which datasets overlay which (a segmentation over its parent).
 * Pure: tested in tests/viewerlineage.test.ts.
 */

export interface ILineageNodeInfo {
  name?: unknown;
  data_level?: unknown;
  status?: unknown;
}

export interface ILineageEdge {
  parent: string;
  child: string;
  step?: unknown;
}

export interface IPlacedNode {
  id: string;
  name: string;
  dataLevel: string | null;
  status: string | null;
  generation: number;
  x: number;
  y: number;
  focus: boolean;
}

export interface IPlacedEdge {
  parent: string;
  child: string;
  step: string;
  /** from the parent's right middle to the child's left middle */
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface ILineageLayout {
  nodes: IPlacedNode[];
  edges: IPlacedEdge[];
  width: number;
  height: number;
}

export interface ILineageSizes {
  nodeWidth: number;
  nodeHeight: number;
  gapX: number;
  gapY: number;
}

export const LINEAGE_SIZES: ILineageSizes = { nodeWidth: 128, nodeHeight: 40, gapX: 28, gapY: 12 };

/**
 * Place the nodes of a lineage graph: a node's generation is one more than its
 * latest parent's (roots are 0), generations are columns left to right, and a column
 * is ordered by the mean row of its parents, then by name. Cycles (never recorded,
 * but not trusted) end the walk instead of looping.
 */
export function layoutLineage(
  nodes: Record<string, ILineageNodeInfo>,
  edges: ILineageEdge[],
  focus: string,
  sizes: ILineageSizes = LINEAGE_SIZES
): ILineageLayout {
  const ids = new Set<string>(Object.keys(nodes));
  ids.add(focus);
  for (const e of edges) {
    ids.add(e.parent);
    ids.add(e.child);
  }
  const parents = new Map<string, string[]>();
  for (const id of ids) {
    parents.set(id, []);
  }
  for (const e of edges) {
    parents.get(e.child)?.push(e.parent);
  }
  const generation = new Map<string, number>();
  const visiting = new Set<string>();
  const gen = (id: string): number => {
    const known = generation.get(id);
    if (known !== undefined) {
      return known;
    }
    if (visiting.has(id)) {
      return 0; // a cycle
    }
    visiting.add(id);
    let g = 0;
    for (const p of parents.get(id) ?? []) {
      g = Math.max(g, gen(p) + 1);
    }
    visiting.delete(id);
    generation.set(id, g);
    return g;
  };
  const nameOf = (id: string): string => {
    const n = nodes[id]?.name;
    return typeof n === 'string' && n ? n : id;
  };
  const columns: string[][] = [];
  for (const id of [...ids].sort((a, b) => nameOf(a).localeCompare(nameOf(b)) || a.localeCompare(b))) {
    const g = gen(id);
    (columns[g] ??= []).push(id);
  }
  const row = new Map<string, number>();
  for (const column of columns) {
    if (!column) {
      continue;
    }
    const key = (id: string): number => {
      const ps = (parents.get(id) ?? []).map(p => row.get(p)).filter((r): r is number => r !== undefined);
      return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : Infinity;
    };
    column.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return ka === kb ? 0 : ka === Infinity ? 1 : kb === Infinity ? -1 : ka - kb;
    });
    column.forEach((id, i) => row.set(id, i));
  }
  const tallest = Math.max(1, ...columns.map(c => (c ? c.length : 0)));
  const height = tallest * sizes.nodeHeight + (tallest - 1) * sizes.gapY;
  const placed: IPlacedNode[] = [];
  const at = new Map<string, IPlacedNode>();
  columns.forEach((column, g) => {
    if (!column) {
      return;
    }
    const own = column.length * sizes.nodeHeight + (column.length - 1) * sizes.gapY;
    const top = (height - own) / 2;
    column.forEach((id, i) => {
      const info = nodes[id] ?? {};
      const node: IPlacedNode = {
        id,
        name: nameOf(id),
        dataLevel: typeof info.data_level === 'string' ? info.data_level : null,
        status: typeof info.status === 'string' ? info.status : null,
        generation: g,
        x: g * (sizes.nodeWidth + sizes.gapX),
        y: top + i * (sizes.nodeHeight + sizes.gapY),
        focus: id === focus
      };
      placed.push(node);
      at.set(id, node);
    });
  });
  const placedEdges: IPlacedEdge[] = [];
  for (const e of edges) {
    const p = at.get(e.parent);
    const c = at.get(e.child);
    if (!p || !c) {
      continue;
    }
    placedEdges.push({
      parent: e.parent,
      child: e.child,
      step: typeof e.step === 'string' ? e.step : '',
      x1: p.x + sizes.nodeWidth,
      y1: p.y + sizes.nodeHeight / 2,
      x2: c.x,
      y2: c.y + sizes.nodeHeight / 2
    });
  }
  const width = columns.length * sizes.nodeWidth + Math.max(0, columns.length - 1) * sizes.gapX;
  return { nodes: placed, edges: placedEdges, width, height };
}

/** What the viewer of dataset `id` shows: the `base` image and the label datasets
 * that can be drawn over it. A segmentation is shown over its (first present)
 * parent, itself as the overlay; any other dataset is the base, its segmentation
 * children the overlays on offer. */
export function overlayPlan(
  id: string,
  dataLevel: unknown,
  nodes: Record<string, ILineageNodeInfo>,
  edges: ILineageEdge[]
): { base: string; overlays: string[]; overlayOn: string | null } {
  const present = (n: string): boolean => {
    const status = nodes[n]?.status;
    return status === undefined || status === 'ok' || status === 'offline';
  };
  if (dataLevel === 'segmentation') {
    const parent = edges.find(e => e.child === id && e.parent !== id && present(e.parent));
    if (parent) {
      return { base: parent.parent, overlays: [id], overlayOn: id };
    }
    return { base: id, overlays: [], overlayOn: null };
  }
  const overlays = edges
    .filter(e => e.parent === id && e.child !== id && nodes[e.child]?.data_level === 'segmentation' && present(e.child))
    .map(e => e.child);
  return { base: id, overlays: [...new Set(overlays)], overlayOn: null };
}

/** Whether two datasets share their z, y, x grid (an overlay must). */
export function sameGrid(axesA: unknown, shapeA: unknown, axesB: unknown, shapeB: unknown): boolean {
  const sizes = (axes: unknown, shape: unknown): Record<string, number> => {
    const names = typeof axes === 'string' ? axes.split('') : Array.isArray(axes) ? axes.map(String) : [];
    const dims = Array.isArray(shape) ? shape.map(Number) : [];
    const out: Record<string, number> = {};
    names.forEach((d, i) => {
      if ('zyx'.includes(d) && i < dims.length) {
        out[d] = dims[i];
      }
    });
    return out;
  };
  const a = sizes(axesA, shapeA);
  const b = sizes(axesB, shapeB);
  const keys = Object.keys(a);
  return (
    keys.length >= 2 &&
    keys.includes('y') &&
    keys.includes('x') &&
    keys.length === Object.keys(b).length &&
    keys.every(k => a[k] === b[k])
  );
}
