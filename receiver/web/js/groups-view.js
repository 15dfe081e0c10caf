// @ts-check
// #/groups: the same crash across hosts, one row per signature; and
// #/groups/SIGNATURE: one group and its dumps.
import { api, query } from './api.js';
import { dumpTable } from './dump-table.js';
import { h, hashPart, metaRow, muted } from './dom.js';
import { filterForm } from './filters.js';
import { count, timeEl } from './format.js';

/** @typedef {import('./api.js').GroupList} GroupList */
/** @typedef {import('./api.js').GroupDetail} GroupDetail */
/** @typedef {import('./state.js').ViewContext} ViewContext */

/**
 * The first few items, the rest counted; all of them in the title.
 * @param {string[]} items
 * @param {number} [max]
 */
function listCell(items, max = 4) {
  if (!Array.isArray(items) || items.length === 0) return muted('—');
  const shown = items.slice(0, max).flatMap((item, i) => [i > 0 ? ', ' : null, h('span', { class: 'nowrap' }, item)]);
  return h('span', { title: items.join(', ') }, shown, items.length > max ? muted(` +${items.length - max} more`) : null);
}

/**
 * @param {ViewContext} ctx
 * @param {URLSearchParams} params
 */
export async function groupsView(ctx, params) {
  /** @type {Record<string, string>} */
  const filters = {};
  for (const key of ['host', 'kernel', 'since', 'until']) {
    const value = params.get(key);
    if (value) filters[key] = value;
  }
  const data = /** @type {GroupList} */ (await api(`/groups${query(filters)}`));
  const groups = Array.isArray(data.groups) ? data.groups : [];
  const table = groups.length === 0
    ? h('div', { class: 'empty', id: 'no-groups' }, 'No groups. A group forms once a dump\'s kernel log has been read.')
    : h('div', { class: 'table-wrap' }, h('table', { class: 'data', id: 'groups-table' },
      h('thead', {}, h('tr', {}, ['Reason', 'Dumps', 'Hosts', 'Kernels', 'First seen', 'Last seen'].map((t, i) => h('th', { class: i === 1 ? 'right' : null }, t)))),
      h('tbody', {}, groups.map((g) => h('tr', { dataset: { signature: g.signature }, class: 'group-row' },
        h('td', { class: 'panic-cell' },
          h('a', { href: `#/groups/${hashPart(g.signature)}`, class: 'reason' }, g.reason ?? g.panicLine ?? g.signature),
          h('div', { class: 'sub mono' }, g.signature)),
        h('td', { class: 'right' }, h('span', { class: 'count' }, count(g.count))),
        h('td', {}, listCell(g.hosts)),
        h('td', { class: 'mono' }, listCell(g.kernels, 2)),
        h('td', { class: 'nowrap' }, timeEl(g.firstSeen)),
        h('td', { class: 'nowrap' }, timeEl(g.lastSeen)))))));
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Groups'),
      h('span', { class: 'muted', id: 'total' }, `${groups.length} ${groups.length === 1 ? 'signature' : 'signatures'}: the same crash across hosts`)),
    filterForm('groups', params),
    table,
  ];
}

/**
 * @param {ViewContext} ctx
 * @param {string} signature
 */
export async function groupView(ctx, signature) {
  const group = /** @type {GroupDetail} */ (await api(`/groups/${encodeURIComponent(signature)}`));
  return [
    h('nav', { class: 'crumbs' }, h('a', { href: '#/groups' }, 'Groups'), ' › ', h('span', { class: 'mono' }, group.signature ?? signature)),
    h('div', { class: 'panic' },
      h('div', { class: 'reason-line', id: 'group-reason' }, group.reason ?? group.panicLine ?? 'unknown reason'),
      group.panicLine && group.panicLine !== group.reason ? h('div', { class: 'panic-line' }, group.panicLine) : null),
    h('table', { class: 'meta' }, h('tbody', {},
      metaRow('Signature', h('code', {}, group.signature ?? signature)),
      group.signatureText ? metaRow('Signature of', h('pre', { class: 'inline', id: 'signature-text' }, group.signatureText)) : null,
      metaRow('Dumps', h('span', { id: 'group-count' }, count(group.count))),
      metaRow('Hosts', listCell(group.hosts, 20)),
      metaRow('Kernels', listCell(group.kernels, 10)),
      metaRow('First seen', timeEl(group.firstSeen)),
      metaRow('Last seen', timeEl(group.lastSeen)))),
    h('h2', {}, 'Dumps in this group'),
    dumpTable(group.dumps ?? [], { emptyText: 'No dumps in this group.' }),
  ];
}
