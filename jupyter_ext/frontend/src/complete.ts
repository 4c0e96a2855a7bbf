/**
 * Completion of the search box: field names while a term has no colon, the values of
 * a field after `field:`. The server offers them (`GET complete`, which parses the
 * text with the same code as `voxcat search --where`); this only shows the list.
 * Keyboard: ArrowDown/ArrowUp move, Tab or Enter accept, Escape closes,
 * Ctrl+Space opens the list for the term at the cursor.
 */

import * as api from './api';
import { clear, h } from './dom';
import { acceptCompletion, ICompletionItem, ICompletions, moveSelection } from './query';

let lists = 0;

export class SearchCompleter {
  /** Called after a completion was accepted (the input's text changed). */
  onAccept: () => void = () => undefined;

  constructor(readonly input: HTMLInputElement) {
    this.id = `voxcat-completions-${++lists}`;
    this.list = h('ul', { class: 'voxcat-completions', role: 'listbox', id: this.id, 'aria-label': 'completions' });
    this.list.hidden = true;
    // mousedown, not click: the input keeps its focus
    this.list.addEventListener('mousedown', (event: MouseEvent) => {
      const item = (event.target as HTMLElement).closest('li');
      if (item) {
        event.preventDefault();
        this.accept(Number(item.dataset.index));
      }
    });
    document.body.appendChild(this.list);
    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', this.id);
    input.setAttribute('aria-expanded', 'false');
    input.addEventListener('input', () => this.schedule(false));
    // capture: before the sidebar's own Enter handler on the same input
    input.addEventListener('keydown', event => this.onKey(event), { capture: true });
    input.addEventListener('blur', () => this.close());
  }

  /** Whether the list is showing. */
  get isOpen(): boolean {
    return !this.list.hidden;
  }

  /** Close the list (and forget answers still on their way). */
  close(): void {
    this.abort?.abort();
    this.abort = null;
    this.generation += 1;
    this.completions = null;
    this.selected = -1;
    this.list.hidden = true;
    clear(this.list);
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  dispose(): void {
    this.close();
    this.list.remove();
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key === ' ' && event.ctrlKey) {
      event.preventDefault();
      this.schedule(true);
      return;
    }
    if (!this.isOpen || !this.completions) {
      return;
    }
    const count = this.completions.items.length;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      this.select(moveSelection(this.selected, event.key === 'ArrowDown' ? 1 : -1, count));
    } else if (event.key === 'Tab' || (event.key === 'Enter' && this.selected >= 0)) {
      this.accept(this.selected >= 0 ? this.selected : 0);
    } else if (event.key === 'Escape') {
      this.close();
    } else {
      if (event.key === 'Enter') {
        this.close(); // nothing chosen: Enter searches as typed
      }
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }

  private schedule(force: boolean): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.fetch(force);
    }, 120);
  }

  private async fetch(force: boolean): Promise<void> {
    const text = this.input.value;
    const cursor = this.input.selectionStart ?? text.length;
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    const generation = ++this.generation;
    let found: ICompletions;
    try {
      found = await api.complete(text, cursor, abort.signal);
    } catch {
      // an unknown field: the search itself says so, under the box
      if (generation === this.generation) {
        this.close();
      }
      return;
    }
    if (generation !== this.generation || document.activeElement !== this.input) {
      return;
    }
    const term = text.slice(found.start, found.end);
    const exact = found.items.length === 1 && found.items[0].text === term;
    // while typing, a list opens once a term has begun (or right after "field:")
    if (found.items.length === 0 || exact || (!force && term === '')) {
      this.close();
      return;
    }
    this.completions = found;
    this.render();
  }

  private render(): void {
    const found = this.completions as ICompletions;
    clear(this.list);
    found.items.forEach((item: ICompletionItem, index: number) => {
      this.list.appendChild(
        h(
          'li',
          {
            class: 'voxcat-completion',
            role: 'option',
            id: `${this.id}-${index}`,
            'data-index': index,
            'aria-selected': 'false'
          },
          h('span', { class: 'voxcat-completion-label' }, item.label),
          item.detail ? h('span', { class: 'voxcat-completion-detail' }, item.detail) : null
        )
      );
    });
    const box = this.input.getBoundingClientRect();
    this.list.style.left = `${box.left}px`;
    this.list.style.top = `${box.bottom + 2}px`;
    this.list.style.width = `${box.width}px`;
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.select(-1);
  }

  private select(index: number): void {
    this.selected = index;
    Array.from(this.list.children).forEach((node, i) => {
      node.classList.toggle('voxcat-mod-selected', i === index);
      node.setAttribute('aria-selected', String(i === index));
    });
    if (index >= 0) {
      this.input.setAttribute('aria-activedescendant', `${this.id}-${index}`);
      (this.list.children[index] as HTMLElement).scrollIntoView({ block: 'nearest' });
    } else {
      this.input.removeAttribute('aria-activedescendant');
    }
  }

  private accept(index: number): void {
    const found = this.completions;
    const item = found?.items[index];
    if (!found || !item) {
      return;
    }
    const next = acceptCompletion(this.input.value, found, item);
    this.close();
    this.input.value = next.text;
    this.input.setSelectionRange(next.cursor, next.cursor);
    this.onAccept();
    if (found.kind === 'field') {
      this.schedule(true); // go on with the field's values
    }
  }

  private id: string;
  private list: HTMLUListElement;
  private completions: ICompletions | null = null;
  private selected = -1;
  private generation = 0;
  private abort: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
}
