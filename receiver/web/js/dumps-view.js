// @ts-check
// #/dumps: the dump list, newest crash first, with its filters and pager.
import { api, query } from './api.js';
import { dumpTable } from './dump-table.js';
import { h, hashPart } from './dom.js';
import { DEFAULT_LIMIT, FILTER_KEYS, filterForm, pager } from './filters.js';
import { count } from './format.js';

/** @typedef {import('./api.js').DumpList} DumpList */
/** @typedef {import('./state.js').ViewContext} ViewContext */

/**
 * @param {ViewContext} ctx
 * @param {URLSearchParams} params
 */
export async function dumpsView(ctx, params) {
  /** @type {Record<string, string>} */
  const filters = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (value) filters[key] = value;
  }
  const data = /** @type {DumpList} */ (await api(`/dumps${query({ ...filters, limit: params.get('limit') ?? DEFAULT_LIMIT, offset: params.get('offset') ?? undefined })}`));
  const active = Object.keys(filters).length > 0;
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Dumps'),
      h('span', { class: 'muted', id: 'total' }, `${count(data.total)} ${data.total === 1 ? 'dump' : 'dumps'}${active ? ' match' : ''}`)),
    filterForm('dumps', params, { status: true, signature: true }),
    filters.signature ? h('p', { class: 'chip-row' }, 'Signature ', h('code', {}, filters.signature), ' · ',
      h('a', { href: `#/groups/${hashPart(filters.signature)}` }, 'group page')) : null,
    dumpTable(data.dumps, { emptyText: active ? 'No dumps match these filters.' : 'No dumps yet. Dumps appear here as kdump-send stores them.' }),
    pager('dumps', params, data),
  ];
}
