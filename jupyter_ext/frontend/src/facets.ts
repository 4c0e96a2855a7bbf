/**
 * Facet filters: for each field, its values in the current results with counts;
 * a click switches a value on or off (values of one field: any of them; fields: all).
 */

import { Widget } from '@lumino/widgets';

import { IFacets } from './api';
import { clear, h } from './dom';
import { facetFilterText, ISearchState } from './query';

export class FacetPanel extends Widget {
  /** Called when the user switches a value of a field. */
  onToggle: (field: string, value: string) => void = () => undefined;
  /** field -> title (the labels of the columns the server describes) */
  labels: Record<string, string> = {};

  constructor() {
    super();
    this.addClass('voxcat-facets');
  }

  /** Show facet counts; values switched on in `state` stay visible. */
  setFacets(facets: IFacets | null, state: ISearchState): void {
    clear(this.node);
    if (!facets) {
      return;
    }
    for (const [field, values] of Object.entries(facets.facets)) {
      const chosen = state.filters[field] ?? [];
      const shown = values
        .map(v => ({ text: facetFilterText(v.value), count: v.count }))
        .filter((v): v is { text: string; count: number } => v.text !== null);
      for (const value of chosen) {
        if (!shown.some(v => v.text === value)) {
          shown.push({ text: value, count: 0 });
        }
      }
      if (shown.length === 0) {
        continue;
      }
      const group = h(
        'div',
        { class: 'voxcat-facet', 'data-field': field },
        h('div', { class: 'voxcat-facet-title' }, this.labels[field] ?? field)
      );
      for (const value of shown) {
        const on = chosen.includes(value.text);
        group.appendChild(
          h(
            'button',
            {
              class: `voxcat-chip${on ? ' voxcat-on' : ''}`,
              'aria-pressed': on ? 'true' : 'false',
              'data-value': value.text,
              title: `${on ? 'Remove' : 'Add'} the filter ${field} = ${value.text}`,
              onclick: () => this.onToggle(field, value.text)
            },
            value.text,
            h('span', { class: 'voxcat-count' }, String(value.count))
          )
        );
      }
      this.node.appendChild(group);
    }
  }
}
