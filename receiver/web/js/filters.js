// @ts-check
// The filter form above the dump and group lists (host, kernel, status,
// crash time; submitted into the hash) and the dump list's pager.
import { h } from './dom.js';
import { count, toLocalInput } from './format.js';
import { go } from './router.js';

/** @typedef {import('./api.js').DumpList} DumpList */

export const DEFAULT_LIMIT = 50;
const LIMITS = [25, 50, 100, 200];
export const FILTER_KEYS = ['host', 'kernel', 'signature', 'status', 'kind', 'since', 'until'];

/**
 * @param {string} section the hash route the form submits to
 * @param {URLSearchParams} params the hash's parameters: the form's values
 * @param {{ status?: boolean, signature?: boolean }} [options] a status select; keep a signature filter
 */
export function filterForm(section, params, { status = false, signature = false } = {}) {
  /**
   * @param {string} name
   * @param {string} label
   * @param {string} placeholder
   */
  const text = (name, label, placeholder) => h('label', { class: 'field' }, h('span', {}, label),
    h('input', { type: 'text', name, value: params.get(name) ?? '', placeholder, spellcheck: 'false' }));
  /**
   * @param {string} name
   * @param {string} label
   */
  const when = (name, label) => h('label', { class: 'field' }, h('span', {}, label),
    h('input', { type: 'datetime-local', name, value: toLocalInput(params.get(name)), title: params.get(name) ?? undefined }));
  const statusSelect = status
    ? h('label', { class: 'field' }, h('span', {}, 'Status'),
      h('select', { name: 'status' }, ['', 'complete', 'partial', 'receiving', 'failed'].map((s) =>
        h('option', { value: s, selected: (params.get('status') ?? '') === s }, s || 'any'))))
    : null;
  // Crashes, or live snapshots of running kernels (kdump-send --live): where there is a status select.
  const kindSelect = status
    ? h('label', { class: 'field' }, h('span', {}, 'Kind'),
      h('select', { name: 'kind' }, [['', 'any'], ['crash', 'crashes'], ['live', 'live snapshots']].map(([value, label]) =>
        h('option', { value, selected: (params.get('kind') ?? '') === value }, label))))
    : null;
  const form = h('form', { class: 'filters', id: 'filters', role: 'search' },
    text('host', 'Host', 'any host'),
    text('kernel', 'Kernel', 'any kernel'),
    statusSelect,
    kindSelect,
    when('since', 'Crashed since'),
    when('until', 'until'),
    signature && params.get('signature') ? h('input', { type: 'hidden', name: 'signature', value: params.get('signature') }) : null,
    h('div', { class: 'field actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Filter'),
      h('a', { class: 'button', href: `#/${section}` }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const key of FILTER_KEYS) {
      const field = /** @type {HTMLInputElement | HTMLSelectElement | null} */ (form.elements.namedItem(key));
      if (!field || !field.value.trim()) continue;
      let value = field.value.trim();
      if (field.type === 'datetime-local') {
        const date = new Date(value);
        if (!Number.isNaN(date.getTime())) value = date.toISOString();
      }
      next.set(key, value);
    }
    const limit = params.get('limit');
    if (limit) next.set('limit', limit);
    const qs = next.toString();
    go(`#/${section}${qs ? `?${qs}` : ''}`);
  });
  return form;
}

/**
 * Newer / older pages and the page size, as links into the hash.
 * @param {string} section
 * @param {URLSearchParams} params
 * @param {DumpList} data
 */
export function pager(section, params, data) {
  const limit = Number(data.limit) || DEFAULT_LIMIT;
  const offset = Number(data.offset) || 0;
  const total = Number(data.total) || 0;
  const shown = Array.isArray(data.dumps) ? data.dumps.length : 0;
  /**
   * @param {number} newOffset
   * @param {number} [newLimit]
   */
  const at = (newOffset, newLimit = limit) => {
    const next = new URLSearchParams(params);
    if (newOffset > 0) next.set('offset', String(newOffset)); else next.delete('offset');
    next.set('limit', String(newLimit));
    return `#/${section}?${next}`;
  };
  const prev = offset > 0
    ? h('a', { class: 'button', href: at(Math.max(0, offset - limit)), rel: 'prev' }, '‹ Newer')
    : h('span', { class: 'button disabled', 'aria-disabled': 'true' }, '‹ Newer');
  const next = offset + shown < total
    ? h('a', { class: 'button', href: at(offset + limit), rel: 'next' }, 'Older ›')
    : h('span', { class: 'button disabled', 'aria-disabled': 'true' }, 'Older ›');
  const sizes = h('select', { 'aria-label': 'Dumps per page', onchange: (e) => go(at(0, Number(/** @type {HTMLSelectElement} */ (e.target).value))) },
    [...new Set([...LIMITS, limit])].sort((a, b) => a - b).map((n) => h('option', { value: n, selected: n === limit }, `${n} per page`)));
  return h('div', { class: 'pager' },
    h('span', { class: 'muted', id: 'range' }, shown === 0 ? `0 of ${count(total)}` : `${count(offset + 1)}–${count(offset + shown)} of ${count(total)}`),
    h('span', { class: 'spacer' }), sizes, prev, next);
}
