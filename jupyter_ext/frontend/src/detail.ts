/**
 * The detail view of one dataset: name, actions, a slice preview with a slider and
 * a choice of plane, metadata, tags and notes (editable), and lineage.
 */

import { Widget } from '@lumino/widgets';

import * as api from './api';
import { clear, debounce, h } from './dom';
import {
  driveText,
  formatBytes,
  formatShape,
  formatTime,
  formatValue,
  formatVoxelSize,
  noPreviewReason
} from './format';
import { planes, IPlane } from './planes';

export class DatasetDetail extends Widget {
  /** Back to the results. */
  onBack: () => void = () => undefined;
  /** Insert code reading the dataset into a notebook. */
  onInsert: (id: string) => void = () => undefined;
  /** Start a preview pyramid job for the dataset (its id and name). */
  onPyramid: (id: string, name: string) => void = () => undefined;
  /** Show another dataset (from the lineage). */
  onOpenId: (id: string) => void = () => undefined;

  constructor() {
    super();
    this.addClass('voxcat-detail');
  }

  /** The dataset shown, if any. */
  get datasetId(): string | null {
    return this.data?.id ?? null;
  }

  /** Load and show a dataset. */
  async load(id: string): Promise<void> {
    this.token += 1;
    const token = this.token;
    clear(this.node);
    this.node.appendChild(h('div', { class: 'voxcat-muted' }, `Loading ${id}…`));
    try {
      const [data, columns] = await Promise.all([api.dataset(id), api.columns()]);
      if (token !== this.token) {
        return;
      }
      this.data = data;
      this.fields = api.detailColumns(columns);
      this.render();
    } catch (error) {
      if (token !== this.token) {
        return;
      }
      clear(this.node);
      this.node.appendChild(this.toolbar(null));
      this.node.appendChild(h('div', { class: 'voxcat-error' }, (error as Error).message));
    }
  }

  dispose(): void {
    this.revokePreview();
    super.dispose();
  }

  private render(): void {
    const data = this.data as api.IDataset;
    clear(this.node);
    this.node.appendChild(this.toolbar(data));
    this.node.appendChild(h('h3', { class: 'voxcat-detail-name', title: data.name }, data.name));
    const drive = driveText(data.on_drive);
    if (drive) {
      const online = Boolean(data.on_drive?.online);
      const where = data.on_drive?.mount_point;
      this.node.appendChild(
        h(
          'div',
          {
            class: `voxcat-drive ${online ? 'voxcat-muted' : 'voxcat-drive-offline'}`,
            title: where ? `${online ? 'mounted' : 'last seen'} at ${where}` : undefined
          },
          drive
        )
      );
    }
    this.node.appendChild(this.preview(data));
    this.node.appendChild(tagsSection(data));
    this.node.appendChild(notesSection(data));
    this.node.appendChild(this.lineageSection(data));
    this.node.appendChild(metadataTable(data, this.fields));
  }

  private toolbar(data: api.IDataset | null): HTMLElement {
    return h(
      'div',
      { class: 'voxcat-detail-toolbar' },
      h('button', { class: 'jp-mod-styled voxcat-back', onclick: () => this.onBack() }, '← Results'),
      data &&
        h(
          'button',
          {
            class: 'jp-mod-styled jp-mod-accept voxcat-insert',
            title: 'Insert code that reads this dataset into the active notebook',
            onclick: () => this.onInsert(data.id)
          },
          'Insert code'
        ),
      data && pyramidButton(data, () => this.onPyramid(data.id, data.name))
    );
  }

  private preview(data: api.IDataset): HTMLElement {
    const box = h('div', { class: 'voxcat-preview' });
    this.revokePreview();
    if (!data.slice) {
      const reason = noPreviewReason(data.status, data.error);
      box.appendChild(h('div', { class: 'voxcat-muted' }, `No preview: ${reason}.`));
      return box;
    }
    const options = planes(data.axes, data.shape);
    const img = h('img', { class: 'voxcat-slice', alt: `slice of ${data.name}` });
    const caption = h('div', { class: 'voxcat-slice-caption voxcat-muted' });
    const controls = h('div', { class: 'voxcat-slice-controls' });
    let plane: IPlane = options[0];
    let position = plane.depth > 0 ? Math.floor(plane.depth / 2) : 0;
    let request = 0;
    const load = async (): Promise<void> => {
      request += 1;
      const mine = request;
      const params = new URLSearchParams({ dims: plane.dims.join(','), size: '512' });
      if (plane.through) {
        params.set(plane.through, String(position));
      }
      caption.textContent = 'Loading slice…';
      try {
        const url = `${data.slice}?${params.toString()}`;
        const result = await api.image(url);
        if (mine !== request || this.isDisposed) {
          URL.revokeObjectURL(result.url);
          return;
        }
        this.revokePreview();
        this.previewUrl = result.url;
        img.src = result.url;
        const where = plane.through ? `${plane.through} = ${position} of ${plane.depth} · ` : '';
        caption.textContent = `${where}level ${result.headers.get('X-Voxcat-Level') ?? '0'} · from ${
          result.headers.get('X-Voxcat-Source') ?? 'source'
        }`;
      } catch (error) {
        if (mine === request) {
          caption.textContent = `Slice failed: ${(error as Error).message}`;
        }
      }
    };
    const loadSoon = debounce(() => void load(), 120);
    const slider = h('input', {
      class: 'voxcat-slider',
      type: 'range',
      min: 0,
      max: Math.max(0, plane.depth - 1),
      value: position,
      'aria-label': 'slice position'
    });
    slider.addEventListener('input', () => {
      position = Number(slider.value);
      loadSoon();
    });
    const setPlane = (next: IPlane): void => {
      plane = next;
      position = next.depth > 0 ? Math.floor(next.depth / 2) : 0;
      slider.max = String(Math.max(0, next.depth - 1));
      slider.value = String(position);
      slider.hidden = next.depth <= 1;
      for (const button of Array.from(controls.querySelectorAll('button'))) {
        button.classList.toggle('voxcat-on', button.dataset.plane === next.label);
      }
      void load();
    };
    if (options.length > 1) {
      for (const option of options) {
        controls.appendChild(
          h(
            'button',
            { class: 'jp-mod-styled voxcat-plane', 'data-plane': option.label, onclick: () => setPlane(option) },
            option.label
          )
        );
      }
    }
    box.append(img, controls, slider, caption);
    setPlane(plane);
    return box;
  }

  private lineageSection(data: api.IDataset): HTMLElement {
    const section = h('section', { class: 'voxcat-lineage' }, h('h4', {}, 'Lineage'));
    const lineage = data.lineage;
    const edges = lineage?.edges ?? [];
    if (!lineage || edges.length === 0) {
      section.appendChild(h('div', { class: 'voxcat-muted' }, 'No recorded parents or derived datasets.'));
      return section;
    }
    const nodes = lineage.nodes as unknown as Record<string, Record<string, unknown>>;
    const label = (id: string): HTMLElement => {
      const node = nodes[id] ?? {};
      const name = formatValue(node.name) || id;
      return id === data.id
        ? h('strong', {}, name)
        : h(
            'a',
            {
              href: '#',
              class: 'voxcat-link',
              title: id,
              onclick: (e: Event) => {
                e.preventDefault();
                this.onOpenId(id);
              }
            },
            name
          );
    };
    const list = h('ul', {});
    for (const edge of edges) {
      list.appendChild(
        h(
          'li',
          {},
          label(String(edge.parent)),
          ` → ${formatValue(edge.step) || 'derived'} → `,
          label(String(edge.child))
        )
      );
    }
    section.appendChild(list);
    return section;
  }

  private revokePreview(): void {
    if (this.previewUrl) {
      URL.revokeObjectURL(this.previewUrl);
      this.previewUrl = null;
    }
  }

  private data: api.IDataset | null = null;
  /** rows of the metadata table, in order; then the format's own metadata */
  private fields: api.IColumn[] = [];
  private token = 0;
  private previewUrl: string | null = null;
}

/** The tags of a dataset with a remove button each and an input to add more. */
export function tagsSection(data: api.IDataset): HTMLElement {
  const list = h('div', { class: 'voxcat-tags' });
  const render = (tags: string[]): void => {
    clear(list);
    for (const tag of tags) {
      list.appendChild(
        h(
          'span',
          { class: 'voxcat-tag' },
          tag,
          h(
            'button',
            {
              class: 'voxcat-tag-remove',
              title: `Remove the tag ${tag}`,
              onclick: async () => render((await api.removeTag(data.id, tag)).tags)
            },
            '×'
          )
        )
      );
    }
  };
  render(data.tags ?? []);
  const input = h('input', { class: 'jp-mod-styled voxcat-tag-input', placeholder: 'add a tag', type: 'text' });
  input.addEventListener('keydown', async (event: KeyboardEvent) => {
    if (event.key === 'Enter' && input.value.trim()) {
      const tags = input.value
        .split(',')
        .map(t => t.trim())
        .filter(Boolean);
      input.value = '';
      render((await api.addTags(data.id, tags)).tags);
    }
  });
  return h('section', {}, h('h4', {}, 'Tags'), list, input);
}

/** The notes of a dataset and a box to add one. */
export function notesSection(data: api.IDataset): HTMLElement {
  const list = h('ul', { class: 'voxcat-notes' });
  const render = (notes: Record<string, unknown>[]): void => {
    clear(list);
    for (const note of notes) {
      const who = [note.user ?? note.user_name, formatTime(note.time)].filter(Boolean).join(', ');
      list.appendChild(
        h(
          'li',
          {},
          h('span', { class: 'voxcat-note-text' }, formatValue(note.text)),
          who ? h('span', { class: 'voxcat-muted' }, ` — ${who}`) : null
        )
      );
    }
  };
  render(data.notes ?? []);
  const input = h('textarea', { class: 'jp-mod-styled voxcat-note-input', placeholder: 'add a note', rows: 2 });
  const add = h(
    'button',
    {
      class: 'jp-mod-styled',
      onclick: async () => {
        if (input.value.trim()) {
          const text = input.value;
          input.value = '';
          render((await api.addNote(data.id, text)).notes);
        }
      }
    },
    'Add note'
  );
  return h('section', {}, h('h4', {}, 'Notes'), list, input, add);
}

/** The metadata table: the server's detail columns, then the format's own metadata. */
export function metadataTable(data: api.IDataset, fields: api.IColumn[]): HTMLElement {
  const table = h('table', { class: 'voxcat-meta' });
  const row = (key: string, value: string): void => {
    if (value !== '') {
      table.appendChild(h('tr', {}, h('th', {}, key), h('td', {}, value)));
    }
  };
  // the fields, their labels and order come from the server (the `info` route)
  for (const { name, label, display } of fields) {
    const value = data[name];
    if (display === 'bytes') {
      row(label, formatBytes(value as number));
    } else if (display === 'shape') {
      row(label, formatShape(value));
    } else if (display === 'length') {
      row(label, formatVoxelSize(value));
    } else if (display === 'time') {
      row(label, formatTime(value));
    } else {
      row(label, formatValue(value));
    }
  }
  const meta = data.meta;
  if (meta && typeof meta === 'object') {
    for (const [key, value] of Object.entries(meta as Record<string, unknown>)) {
      row(`meta.${key}`, formatValue(value));
    }
  }
  return h('section', {}, h('h4', {}, 'Metadata'), table);
}

/** "Build preview", offered only when the server says browsing needs a pyramid (a
 * large image without one), else null. */
export function pyramidButton(data: api.IDataset, start: () => void): HTMLButtonElement | null {
  if (!data.slice || !data.preview_needed) {
    return null;
  }
  return h(
    'button',
    {
      class: 'jp-mod-styled voxcat-pyramid',
      title: `Build a preview pyramid of ${data.name} in the background for fast browsing`,
      onclick: (event: Event) => {
        const button = event.currentTarget as HTMLButtonElement;
        button.disabled = true;
        button.textContent = 'Building preview…';
        start();
      }
    },
    'Build preview'
  );
}
