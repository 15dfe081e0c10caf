// @ts-check
// The table of dumps that the dump list and a group's page share, and the
// "level lowered" mark that the dump page shows too.
import { h, hashPart, muted } from './dom.js';
import { exactBytes, formatBytes, statusPill, timeEl } from './format.js';

/** @typedef {import('../../api/dump-view.js').DumpSummaryView} DumpSummaryView */
/** @typedef {DumpSummaryView['dumpLevel']} DumpLevel */

/**
 * Whether the sender applied fewer -d bits than asked: it kept pages it could not judge safely, so the dump is bigger.
 * @param {DumpLevel} level
 */
export const levelLowered = (level) => typeof level?.asked === 'number' && typeof level?.applied === 'number' && level.applied < level.asked;

/**
 * @param {DumpLevel} level
 * @param {string} text
 */
export function loweredPill(level, text) {
  return h('span', { class: 'pill level-lowered', title: `dump level ${level.applied} applied, ${level.asked} asked: the dump's page shows why` }, text);
}

/**
 * The mark of a live snapshot (kdump-send --live): a running kernel's memory, read while it ran.
 * @param {DumpSummaryView} dump
 */
export function livePill(dump) {
  return h('span', { class: 'pill live', title: `live snapshot of a running kernel, not a crash; not atomic${dump.liveReason ? `: ${dump.liveReason}` : ''}` }, 'live');
}

/** @param {DumpSummaryView} dump */
function panicCell(dump) {
  /**
   * @param {string} text
   * @param {string} cls
   */
  const link = (text, cls) => h('a', { href: `#/dumps/${hashPart(dump.id)}`, class: cls }, text);
  if (dump.status === 'failed') return h('td', { class: 'panic-cell' }, link('upload failed', 'failure'), h('div', { class: 'sub' }, dump.failure ?? ''));
  const reason = dump.reason ?? dump.panicLine;
  if (dump.status === 'receiving') {
    // The sender's log came ahead of its pages: what panicked is known while the pages arrive.
    if (!reason) return h('td', { class: 'panic-cell' }, link('receiving…', 'muted'));
    return h('td', { class: 'panic-cell' }, link(reason, 'reason'), h('div', { class: 'sub' }, 'log received, pages arriving'));
  }
  // A live snapshot has no panic: its reason is the operator's.
  if (dump.kind === 'live' && !reason) return h('td', { class: 'panic-cell' }, link(dump.liveReason || 'live snapshot', 'reason'), h('div', { class: 'sub' }, 'live snapshot, no crash'));
  if (!reason) return h('td', { class: 'panic-cell' }, link('no panic line', 'muted'), dump.triageError ? h('div', { class: 'sub' }, dump.triageError) : null);
  return h('td', { class: 'panic-cell' }, link(reason, 'reason'),
    dump.panicLine && dump.panicLine !== reason ? h('div', { class: 'sub' }, dump.panicLine) : null);
}

/**
 * @param {DumpSummaryView[]} dumps
 * @param {{ emptyText?: string }} [options]
 */
export function dumpTable(dumps, { emptyText = 'No dumps match.' } = {}) {
  if (!Array.isArray(dumps) || dumps.length === 0) return h('div', { class: 'empty', id: 'no-dumps' }, emptyText);
  const rows = dumps.map((dump) => h('tr', { dataset: { dumpId: dump.id }, class: 'dump-row' },
    h('td', { class: 'nowrap col-time' },
      dump.crashTime ? timeEl(dump.crashTime) : [timeEl(dump.receivedAt), h('div', { class: 'sub', title: 'crash time unknown: receive time shown' }, 'received')]),
    h('td', {}, h('a', { href: `#/dumps?host=${hashPart(dump.host)}`, class: 'host', title: `Only dumps of ${dump.host}` }, dump.host)),
    h('td', { class: 'mono nowrap' }, dump.kernel ?? muted('unknown')),
    h('td', {}, statusPill(dump.status), dump.kind === 'live' ? [' ', livePill(dump)] : null,
      levelLowered(dump.dumpLevel) ? h('div', { class: 'sub level-mark' }, loweredPill(dump.dumpLevel, 'level lowered')) : null),
    panicCell(dump),
    h('td', { class: 'right' }, h('span', { class: 'num', title: `${exactBytes(dump.storedBytes) ?? '?'} stored of a ${formatBytes(dump.vmcoreBytes)} vmcore` }, formatBytes(dump.storedBytes))),
    h('td', { class: 'mono col-sig' }, dump.signature
      ? h('a', { href: `#/groups/${hashPart(dump.signature)}`, title: 'Dumps with this signature' }, dump.signature)
      : muted('—'))));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data', id: 'dumps-table' },
    h('thead', {}, h('tr', {}, ['Crash time', 'Host', 'Kernel', 'Status', 'Panic', 'Stored', 'Signature'].map((t, i) => h('th', { class: [null, null, null, null, null, 'right', 'col-sig'][i] }, t)))),
    h('tbody', {}, rows)));
}
