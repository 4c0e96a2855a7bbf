/**
 * The main-area dataset viewer: three planes (z, y, x; one for 2-D) that fill the
 * tab, each with a slider, zoom (wheel) and pan (drag); contrast, colour maps and a
 * label overlay for all of them; and beside them the metadata, tags and notes,
 * copies, and the lineage graph.
 */

import { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import * as api from './api';
import { metadataTable, notesSection, pyramidButton, tagsSection } from './detail';
import { append, clear, debounce, h } from './dom';
import { driveText, formatTime, formatValue, noPreviewReason } from './format';
import { IPlane, planes } from './planes';
import {
  autoContrast,
  contrastParams,
  formatLevel,
  IContrast,
  levelStep,
  manualRange,
  parseContrast,
  PERCENTILE_PRESETS
} from './viewercontrast';
import { drawRect, FIT, IView, panBy, planeLayout, requestSize, zoomAt } from './viewerlayout';
import { layoutLineage, LINEAGE_SIZES, overlayPlan, sameGrid } from './viewerlineage';

/** Colour maps the slice API draws (catalog/preview/colormaps.py). */
export const COLORMAPS = ['gray', 'viridis', 'magma', 'inferno', 'cividis'];

export interface IViewerActions {
  /** Insert code reading the dataset into the active notebook. */
  insert: (id: string) => Promise<void>;
  /** Open another dataset's viewer. */
  open: (id: string) => void;
}

interface IDisplay {
  cmap: string;
  contrast: IContrast;
  overlay: string | null;
  opacity: number;
}

/** A loaded image and the headers it came with. */
interface IPicture {
  image: HTMLImageElement;
  headers: Headers;
}

async function picture(url: string): Promise<IPicture> {
  const got = await api.image(url);
  try {
    const image = new Image();
    image.src = got.url;
    await image.decode();
    return { image, headers: got.headers };
  } finally {
    URL.revokeObjectURL(got.url);
  }
}

/** Physical extents (rows, columns) of a plane: pixel counts times voxel sizes. */
function extent(plane: IPlane, axes: unknown, shape: unknown, voxel: unknown): [number, number] {
  const names = typeof axes === 'string' ? axes.split('') : Array.isArray(axes) ? axes.map(String) : [];
  const sizes = Array.isArray(shape) ? shape.map(Number) : [];
  const step = (d: string): number => {
    const i = names.indexOf(d);
    if (Array.isArray(voxel) && i >= 0 && typeof voxel[i] === 'number' && voxel[i] > 0) {
      return voxel[i];
    }
    return 1;
  };
  const n = (d: string): number => {
    const i = names.indexOf(d);
    return i >= 0 && i < sizes.length ? sizes[i] : 1;
  };
  return [n(plane.dims[0]) * step(plane.dims[0]), n(plane.dims[1]) * step(plane.dims[1])];
}

/** One plane: a canvas, its slider and caption. */
class PlaneView {
  readonly node: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  position: number;
  view: IView = { ...FIT };

  constructor(
    readonly plane: IPlane,
    readonly size: [number, number],
    private owner: DatasetViewer
  ) {
    this.position = plane.depth > 0 ? Math.floor(plane.depth / 2) : 0;
    this.canvas = h('canvas', {
      class: 'voxcat-plane-canvas',
      tabindex: 0,
      'aria-label': `plane ${plane.label}: + and - zoom, arrows pan, 0 fits`
    });
    this.caption = h('span', { class: 'voxcat-plane-caption' });
    this.slider = h('input', {
      class: 'voxcat-plane-slider',
      type: 'range',
      min: 0,
      max: Math.max(0, plane.depth - 1),
      value: this.position,
      'aria-label': `${plane.through ?? 'slice'} position`
    });
    this.slider.hidden = plane.depth <= 1;
    this.slider.addEventListener('input', () => {
      this.position = Number(this.slider.value);
      this.updateCaption();
      this.loadSoon();
    });
    this.node = h(
      'div',
      { class: 'voxcat-view-plane', 'data-plane': plane.through ?? 'yx' },
      this.canvas,
      h(
        'div',
        { class: 'voxcat-plane-bar' },
        h('span', { class: 'voxcat-plane-name' }, plane.through ?? 'yx'),
        this.slider,
        this.caption
      )
    );
    this.canvas.addEventListener('wheel', event => this.onWheel(event), { passive: false });
    this.canvas.addEventListener('pointerdown', event => this.onPointerDown(event));
    this.canvas.addEventListener('dblclick', () => this.resetView());
    this.canvas.addEventListener('keydown', event => this.onKey(event));
    this.loadSoon = debounce(() => void this.load(), 60);
    this.updateCaption();
  }

  /** Place the plane at `rect` (tab pixels). */
  place(x: number, y: number, width: number, height: number): void {
    Object.assign(this.node.style, { left: `${x}px`, top: `${y}px`, width: `${width}px`, height: `${height}px` });
    this.fitCanvas();
  }

  /** Size the canvas's backing store to its box (device pixels) and redraw. */
  fitCanvas(): void {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * ratio));
    const hgt = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
      if (this.wanted() !== this.loadedSize) {
        this.loadSoon();
      }
    }
    this.draw();
  }

  /** The PNG size to ask for now. */
  wanted(): number {
    return requestSize(this.canvas.width, this.canvas.height, this.view.zoom);
  }

  /** Fetch the plane (and its overlay) at the current position and display. */
  async load(): Promise<void> {
    const display = this.owner.display;
    const base = this.owner.base;
    if (!base?.slice || this.owner.isDisposed) {
      return;
    }
    this.request += 1;
    const mine = this.request;
    const size = this.wanted();
    const params = new URLSearchParams({ dims: this.plane.dims.join(','), size: String(size), cmap: display.cmap });
    if (this.plane.through) {
      params.set(this.plane.through, String(this.position));
    }
    for (const [k, v] of Object.entries(contrastParams(display.contrast))) {
      params.set(k, v);
    }
    const overlay = display.overlay ? this.owner.overlaySlice(display.overlay) : null;
    let overlayUrl: string | null = null;
    if (overlay) {
      const o = new URLSearchParams({ dims: this.plane.dims.join(','), size: String(size), cmap: 'labels' });
      if (this.plane.through) {
        o.set(this.plane.through, String(this.position));
      }
      overlayUrl = `${overlay}?${o.toString()}`;
    }
    this.node.classList.add('voxcat-plane-loading');
    try {
      const [image, labels] = await Promise.all([
        picture(`${base.slice}?${params.toString()}`),
        overlayUrl ? picture(overlayUrl) : Promise.resolve(null)
      ]);
      if (mine !== this.request || this.owner.isDisposed) {
        return;
      }
      this.image = image;
      this.labels = labels;
      this.loadedSize = size;
      this.error = null;
      this.owner.planeLoaded(this, image.headers);
    } catch (error) {
      if (mine !== this.request) {
        return;
      }
      this.error = (error as Error).message;
    } finally {
      if (mine === this.request) {
        this.node.classList.remove('voxcat-plane-loading');
      }
    }
    this.updateCaption();
    this.draw();
  }

  /** Draw the image, then the overlay, under the current zoom and pan. */
  draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) {
      return;
    }
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    if (!this.image) {
      return;
    }
    const r = drawRect(width, height, this.size[1], this.size[0], this.view);
    // big screen pixels per image pixel: show pixels as squares, not blurred
    ctx.imageSmoothingEnabled = r.width / this.image.image.naturalWidth < 3;
    ctx.globalAlpha = 1;
    ctx.drawImage(this.image.image, r.x, r.y, r.width, r.height);
    if (this.labels && this.owner.display.overlay) {
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = this.owner.display.opacity;
      ctx.drawImage(this.labels.image, r.x, r.y, r.width, r.height);
      ctx.globalAlpha = 1;
    }
  }

  /** Back to the whole plane. */
  resetView(): void {
    this.view = { ...FIT };
    this.draw();
    this.updateCaption();
  }

  private updateCaption(): void {
    const parts: string[] = [];
    if (this.plane.through) {
      parts.push(`${this.position + 1} / ${this.plane.depth}`);
    }
    if (this.view.zoom > 1.001) {
      parts.push(`${this.view.zoom.toFixed(1)}×`);
    }
    if (this.image) {
      parts.push(`level ${this.image.headers.get('X-Voxcat-Level') ?? '0'}`);
    }
    this.caption.textContent = this.error ? `failed: ${this.error}` : parts.join(' · ');
    this.caption.title = this.image ? `read from ${this.image.headers.get('X-Voxcat-Source') ?? 'source'}` : '';
  }

  private point(event: MouseEvent): [number, number] {
    const box = this.canvas.getBoundingClientRect();
    const ratio = this.canvas.width / Math.max(1, box.width);
    return [(event.clientX - box.left) * ratio, (event.clientY - box.top) * ratio];
  }

  private onWheel(event: WheelEvent): void {
    event.preventDefault();
    const [px, py] = this.point(event);
    const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
    this.view = zoomAt(this.view, factor, px, py, this.canvas.width, this.canvas.height, this.size[1], this.size[0]);
    this.draw();
    this.updateCaption();
    if (this.wanted() > this.loadedSize) {
      this.loadSoon(); // sharper pixels for the closer look
    }
  }

  /** Zoom, pan and fit from the keyboard (the canvas takes focus). */
  private onKey(event: KeyboardEvent): void {
    const { width, height } = this.canvas;
    const step = Math.min(width, height) / 10;
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [step, 0],
      ArrowRight: [-step, 0],
      ArrowUp: [0, step],
      ArrowDown: [0, -step]
    };
    if (event.key === '+' || event.key === '=' || event.key === '-') {
      const factor = event.key === '-' ? 1 / 1.25 : 1.25;
      this.view = zoomAt(this.view, factor, width / 2, height / 2, width, height, this.size[1], this.size[0]);
      if (this.wanted() > this.loadedSize) {
        this.loadSoon();
      }
    } else if (event.key === '0') {
      this.view = { ...FIT };
    } else if (moves[event.key]) {
      const [dx, dy] = moves[event.key];
      this.view = panBy(this.view, dx, dy, width, height, this.size[1], this.size[0]);
    } else {
      return;
    }
    event.preventDefault();
    this.draw();
    this.updateCaption();
  }

  private onPointerDown(event: PointerEvent): void {
    if (event.button !== 0) {
      return;
    }
    let [lx, ly] = this.point(event);
    this.canvas.setPointerCapture(event.pointerId);
    this.canvas.classList.add('voxcat-panning');
    const move = (e: PointerEvent): void => {
      const [x, y] = this.point(e);
      this.view = panBy(this.view, x - lx, y - ly, this.canvas.width, this.canvas.height, this.size[1], this.size[0]);
      lx = x;
      ly = y;
      this.draw();
    };
    const up = (): void => {
      this.canvas.removeEventListener('pointermove', move);
      this.canvas.removeEventListener('pointerup', up);
      this.canvas.removeEventListener('pointercancel', up);
      this.canvas.classList.remove('voxcat-panning');
    };
    this.canvas.addEventListener('pointermove', move);
    this.canvas.addEventListener('pointerup', up);
    this.canvas.addEventListener('pointercancel', up);
  }

  private caption: HTMLElement;
  private slider: HTMLInputElement;
  private image: IPicture | null = null;
  private labels: IPicture | null = null;
  private loadedSize = 0;
  private request = 0;
  private error: string | null = null;
  private loadSoon: () => void;
}

/** The viewer of one dataset, the content of its main-area tab. */
export class DatasetViewer extends Widget {
  constructor(
    readonly datasetId: string,
    private actions: IViewerActions
  ) {
    super();
    this.id = `voxcat-viewer-${datasetId}`;
    this.addClass('voxcat-viewer');
    this.title.label = datasetId;
    this.title.caption = `voxcat dataset ${datasetId}`;
    this.stage = h('div', { class: 'voxcat-viewer-stage' });
    this.side = h('div', { class: 'voxcat-viewer-side' });
    this.header = h('div', { class: 'voxcat-viewer-header' });
    this.node.append(this.header, h('div', { class: 'voxcat-viewer-body' }, this.stage, this.side));
    this.observer = new ResizeObserver(() => this.arrange());
    this.observer.observe(this.stage);
    void this.load();
  }

  /** The dataset the tab is about. */
  data: api.IDataset | null = null;
  /** The dataset whose image the planes show (a segmentation's parent, or itself). */
  base: api.IDataset | null = null;
  display: IDisplay = { cmap: 'gray', contrast: autoContrast(), overlay: null, opacity: 0.5 };

  dispose(): void {
    this.observer.disconnect();
    super.dispose();
  }

  /** The slice URL of an overlay dataset, once its detail is known. */
  overlaySlice(id: string): string | null {
    return this.overlayData.get(id)?.slice ?? null;
  }

  /** A plane's image arrived: show the contrast it was drawn with. */
  planeLoaded(plane: PlaneView, headers: Headers): void {
    if (plane !== this.planes[0]) {
      return;
    }
    const range = parseContrast(headers.get('X-Voxcat-Contrast'));
    if (range && this.display.contrast.mode === 'auto' && this.minInput && this.maxInput) {
      this.minInput.value = formatLevel(range[0]);
      this.maxInput.value = formatLevel(range[1]);
      const step = String(levelStep(range[0], range[1]));
      this.minInput.step = step;
      this.maxInput.step = step;
    }
  }

  /** Reload every plane (display settings changed). */
  reloadPlanes(): void {
    for (const p of this.planes) {
      void p.load();
    }
  }

  async load(): Promise<void> {
    clear(this.header);
    this.header.append(h('div', { class: 'voxcat-muted' }, `Loading ${this.datasetId}…`));
    try {
      const [data, columns] = await Promise.all([api.dataset(this.datasetId), api.columns()]);
      if (this.isDisposed) {
        return;
      }
      this.data = data;
      this.title.label = data.name;
      this.title.caption = `${data.name} (voxcat ${data.id})`;
      const nodes = (data.lineage?.nodes ?? {}) as unknown as Record<string, Record<string, unknown>>;
      const edges = (data.lineage?.edges ?? []).map(e => ({
        parent: String(e.parent),
        child: String(e.child),
        step: e.step
      }));
      const plan = overlayPlan(data.id, data.data_level, nodes, edges);
      let base: api.IDataset = data;
      if (plan.base !== data.id) {
        try {
          const parent = await api.dataset(plan.base);
          if (parent.slice && sameGrid(parent.axes, parent.shape, data.axes, data.shape)) {
            base = parent;
          }
        } catch {
          // a parent that cannot be read: show the dataset alone
        }
      }
      this.base = base;
      const overlays = base === data ? plan.overlays.filter(id => id !== data.id) : [data.id];
      this.overlayData.clear();
      if (base !== data) {
        this.overlayData.set(data.id, data);
      }
      for (const id of overlays) {
        if (!this.overlayData.has(id)) {
          try {
            const o = await api.dataset(id);
            if (o.slice && sameGrid(base.axes, base.shape, o.axes, o.shape)) {
              this.overlayData.set(id, o);
            }
          } catch {
            // not readable: not offered
          }
        }
      }
      this.display.overlay = base !== data && this.overlayData.has(data.id) ? data.id : null;
      this.render(data, api.detailColumns(columns));
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      clear(this.header);
      this.header.append(
        h('div', { class: 'voxcat-error' }, `Cannot open ${this.datasetId}: ${(error as Error).message}`)
      );
    }
  }

  private render(data: api.IDataset, fields: api.IColumn[]): void {
    clear(this.header);
    clear(this.side);
    clear(this.stage);
    const drive = driveText(data.on_drive);
    const online = Boolean(data.on_drive?.online);
    const where = data.on_drive?.mount_point;
    append(
      this.header,
      h('h2', { class: 'voxcat-viewer-name', title: data.name }, data.name),
      this.base && this.base !== data
        ? h('span', { class: 'voxcat-muted voxcat-viewer-over' }, `over ${this.base.name}`)
        : null,
      drive
        ? h(
            'span',
            {
              class: `voxcat-drive ${online ? 'voxcat-muted' : 'voxcat-drive-offline'}`,
              title: where ? `${online ? 'mounted' : 'last seen'} at ${where}` : undefined
            },
            drive
          )
        : null,
      h('span', { class: 'voxcat-viewer-spacer' }),
      h(
        'button',
        {
          class: 'jp-mod-styled jp-mod-accept voxcat-viewer-insert',
          title: 'Insert code that reads this dataset into the active notebook',
          onclick: () => void this.actions.insert(data.id)
        },
        'Insert code'
      ),
      pyramidButton(data, () => void this.startPyramid(data))
    );
    this.side.append(
      this.controls(),
      this.section('Copies', this.locations(data)),
      this.section('Lineage', this.lineage(data)),
      tagsSection(data),
      notesSection(data),
      metadataTable(data, fields)
    );
    this.planes = [];
    const base = this.base;
    if (!base?.slice) {
      this.stage.append(
        h(
          'div',
          { class: 'voxcat-muted voxcat-viewer-nopreview' },
          `No preview: ${noPreviewReason(data.status, data.error)}.`
        )
      );
      return;
    }
    for (const plane of planes(base.axes, base.shape)) {
      const view = new PlaneView(plane, extent(plane, base.axes, base.shape, base.voxel_size), this);
      this.planes.push(view);
      this.stage.append(view.node);
    }
    this.arrange();
    this.reloadPlanes();
  }

  /** Place the planes in the stage: the grid that shows them largest. */
  private arrange(): void {
    if (!this.planes.length) {
      return;
    }
    const width = this.stage.clientWidth;
    const height = this.stage.clientHeight;
    if (width <= 0 || height <= 0) {
      return;
    }
    const out = planeLayout(
      width,
      height,
      this.planes.map(p => p.size),
      6
    );
    this.planes.forEach((p, i) => {
      const c = out.cells[i];
      p.place(c.x, c.y, c.width, c.height);
    });
  }

  private section(title: string, ...content: (HTMLElement | null)[]): HTMLElement {
    return h('section', { class: `voxcat-viewer-section` }, h('h4', {}, title), ...content);
  }

  private controls(): HTMLElement {
    const cmap = h('select', { class: 'jp-mod-styled voxcat-viewer-cmap', 'aria-label': 'colour map' });
    for (const name of COLORMAPS) {
      cmap.append(h('option', { value: name }, name));
    }
    cmap.value = this.display.cmap;
    cmap.addEventListener('change', () => {
      this.display.cmap = cmap.value;
      this.reloadPlanes();
    });
    const preset = h('select', {
      class: 'jp-mod-styled voxcat-viewer-percentiles',
      'aria-label': 'automatic contrast'
    });
    for (const p of PERCENTILE_PRESETS) {
      preset.append(h('option', { value: p.percentiles.join(',') }, p.label));
    }
    this.minInput = h('input', {
      class: 'jp-mod-styled voxcat-viewer-min',
      type: 'number',
      'aria-label': 'contrast minimum'
    });
    this.maxInput = h('input', {
      class: 'jp-mod-styled voxcat-viewer-max',
      type: 'number',
      'aria-label': 'contrast maximum'
    });
    const problem = h('span', { class: 'voxcat-error voxcat-viewer-contrast-error' });
    const auto = h(
      'button',
      { class: 'jp-mod-styled voxcat-viewer-auto', title: 'Contrast from robust percentiles of each plane' },
      'Auto'
    );
    const setAuto = (): void => {
      const [lo, hi] = preset.value.split(',').map(Number) as [number, number];
      this.display.contrast = autoContrast([lo, hi]);
      auto.classList.add('voxcat-on');
      problem.textContent = '';
      this.reloadPlanes();
    };
    auto.addEventListener('click', setAuto);
    preset.addEventListener('change', setAuto);
    auto.classList.add('voxcat-on');
    const manual = debounce(() => {
      const range = manualRange(this.minInput?.value ?? '', this.maxInput?.value ?? '');
      if (typeof range === 'string') {
        problem.textContent = range;
        return;
      }
      problem.textContent = '';
      this.display.contrast = { ...this.display.contrast, mode: 'manual', range };
      auto.classList.remove('voxcat-on');
      this.reloadPlanes();
    }, 300);
    this.minInput.addEventListener('input', manual);
    this.maxInput.addEventListener('input', manual);
    const rows: (HTMLElement | null)[] = [
      h('label', { class: 'voxcat-viewer-row' }, h('span', {}, 'Colour map'), cmap),
      h('div', { class: 'voxcat-viewer-row' }, h('span', {}, 'Contrast'), auto, preset),
      h('div', { class: 'voxcat-viewer-row' }, h('span', {}, 'Min / max'), this.minInput, this.maxInput),
      problem
    ];
    if (this.overlayData.size) {
      const overlay = h('select', { class: 'jp-mod-styled voxcat-viewer-overlay', 'aria-label': 'label overlay' });
      overlay.append(h('option', { value: '' }, 'none'));
      for (const [id, o] of this.overlayData) {
        overlay.append(h('option', { value: id }, o.name));
      }
      overlay.value = this.display.overlay ?? '';
      overlay.addEventListener('change', () => {
        this.display.overlay = overlay.value || null;
        this.reloadPlanes();
      });
      const opacity = h('input', {
        class: 'voxcat-viewer-opacity',
        type: 'range',
        min: 0,
        max: 100,
        value: Math.round(this.display.opacity * 100),
        'aria-label': 'overlay opacity'
      });
      opacity.addEventListener('input', () => {
        this.display.opacity = Number(opacity.value) / 100;
        for (const p of this.planes) {
          p.draw();
        }
      });
      rows.push(
        h('label', { class: 'voxcat-viewer-row' }, h('span', {}, 'Labels'), overlay),
        h('label', { class: 'voxcat-viewer-row' }, h('span', {}, 'Opacity'), opacity)
      );
    }
    rows.push(
      h(
        'div',
        { class: 'voxcat-viewer-row' },
        h('span', {}, 'View'),
        h(
          'button',
          {
            class: 'jp-mod-styled voxcat-viewer-reset',
            title: 'Show the whole planes again (double-click a plane: that one)',
            onclick: () => this.planes.forEach(p => p.resetView())
          },
          'Fit'
        ),
        h('span', { class: 'voxcat-muted' }, 'wheel: zoom · drag: pan')
      )
    );
    return this.section('Display', ...rows);
  }

  private locations(data: api.IDataset): HTMLElement {
    const places = data.locations ?? [];
    if (!places.length) {
      return h('div', { class: 'voxcat-muted' }, formatValue(data.path) || 'No recorded location.');
    }
    const list = h('ul', { class: 'voxcat-viewer-copies' });
    for (const p of places) {
      const offline = p.status !== 'ok';
      list.append(
        h(
          'li',
          { class: `voxcat-copy${offline ? ' voxcat-copy-offline' : ''}`, 'data-status': p.status },
          h(
            'div',
            { class: 'voxcat-copy-head' },
            h('span', { class: 'voxcat-copy-drive' }, p.drive ?? 'no drive'),
            p.primary ? h('span', { class: 'voxcat-muted' }, 'primary') : null,
            h(
              'span',
              { class: 'voxcat-copy-status', title: p.last_seen ? `last seen ${formatTime(p.last_seen)}` : '' },
              p.status
            )
          ),
          // LRMs keep the path's own order in the right-to-left line that elides its start
          h('div', { class: 'voxcat-copy-path', title: p.path }, `\u200e${p.path}\u200e`)
        )
      );
    }
    return list;
  }

  private lineage(data: api.IDataset): HTMLElement {
    const edges = (data.lineage?.edges ?? []).map(e => ({
      parent: String(e.parent),
      child: String(e.child),
      step: e.step
    }));
    if (!edges.length) {
      return h('div', { class: 'voxcat-muted' }, 'No recorded parents or derived datasets.');
    }
    const nodes = (data.lineage?.nodes ?? {}) as unknown as Record<string, Record<string, unknown>>;
    const g = layoutLineage(nodes, edges, data.id);
    const NS = 'http://www.w3.org/2000/svg';
    const el = (tag: string, attrs: Record<string, string | number>): SVGElement => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) {
        node.setAttribute(k, String(v));
      }
      return node;
    };
    const pad = 4;
    const svg = el('svg', {
      class: 'voxcat-lineage-graph',
      viewBox: `${-pad} ${-pad} ${g.width + 2 * pad} ${g.height + 2 * pad}`,
      width: g.width + 2 * pad,
      role: 'img',
      'aria-label': `lineage of ${data.name}`
    });
    for (const e of g.edges) {
      const mid = (e.x1 + e.x2) / 2;
      const path = el('path', {
        class: 'voxcat-lineage-edge',
        d: `M${e.x1},${e.y1} C${mid},${e.y1} ${mid},${e.y2} ${e.x2},${e.y2}`
      });
      const how = document.createElementNS(NS, 'title');
      how.textContent = `${nodes[e.parent]?.name ?? e.parent} → ${e.step || 'derived'} → ${nodes[e.child]?.name ?? e.child}`;
      path.append(how);
      svg.append(path);
    }
    for (const n of g.nodes) {
      const gone = n.status === 'gone';
      const group = el('g', {
        class: `voxcat-lineage-node${n.focus ? ' voxcat-lineage-focus' : ''}${gone ? ' voxcat-lineage-gone' : ''}`,
        transform: `translate(${n.x},${n.y})`,
        'data-id': n.id,
        tabindex: n.focus || gone ? -1 : 0,
        role: n.focus || gone ? 'img' : 'button'
      });
      const title = document.createElementNS(NS, 'title');
      const made = g.edges.filter(e => e.child === n.id && e.step).map(e => e.step);
      title.textContent = `${n.name}${n.dataLevel ? ` [${n.dataLevel}]` : ''}${made.length ? `, made by ${made.join(', ')}` : ''}${
        gone ? ' (no longer in the index)' : ''
      }`;
      group.append(title, el('rect', { width: LINEAGE_SIZES.nodeWidth, height: LINEAGE_SIZES.nodeHeight, rx: 5 }));
      const name = el('text', { x: 8, y: 17 });
      name.textContent = n.name.length > 19 ? `${n.name.slice(0, 8)}…${n.name.slice(-10)}` : n.name;
      const level = el('text', { x: 8, y: 32, class: 'voxcat-lineage-level' });
      level.textContent = n.dataLevel ?? (gone ? 'gone' : '');
      group.append(name, level);
      if (!n.focus && !gone) {
        const open = (): void => this.actions.open(n.id);
        group.addEventListener('click', open);
        group.addEventListener('keydown', (event: Event) => {
          const key = (event as KeyboardEvent).key;
          if (key === 'Enter' || key === ' ') {
            event.preventDefault();
            open();
          }
        });
      }
      svg.append(group);
    }
    return h('div', { class: 'voxcat-lineage-scroll' }, svg as unknown as HTMLElement);
  }

  private async startPyramid(data: api.IDataset): Promise<void> {
    try {
      await api.startJob({ kind: 'pyramid', id: data.id });
      Notification.info(`voxcat: building a preview of ${data.name}`, { autoClose: 4000 });
    } catch (error) {
      Notification.error(`voxcat: could not build a preview of ${data.name}: ${(error as Error).message}`);
    }
  }

  private stage: HTMLElement;
  private side: HTMLElement;
  private header: HTMLElement;
  private observer: ResizeObserver;
  private planes: PlaneView[] = [];
  private overlayData = new Map<string, api.IDataset>();
  private minInput: HTMLInputElement | null = null;
  private maxInput: HTMLInputElement | null = null;
}
