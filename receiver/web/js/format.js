// @ts-check
// How numbers and times read on the page: local times (ISO in the title),
// sizes in binary units, counts, durations, and the status pill.
import { h, muted } from './dom.js';

/**
 * @param {number} n
 * @param {number} [width]
 */
const pad = (n, width = 2) => String(n).padStart(width, '0');

/** @param {Date} date */
export function localTime(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * A <time> in local time, its ISO value in the title.
 * @param {string | null | undefined} iso
 * @param {string} [emptyText]
 */
export function timeEl(iso, emptyText = '—') {
  if (iso === null || iso === undefined || iso === '') return muted(emptyText, 'unknown');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', {}, String(iso));
  return h('time', { datetime: date.toISOString(), title: String(iso) }, localTime(date));
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** @param {number | null | undefined} n */
export function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  if (Math.abs(n) < 1024) return `${n} B`;
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** @param {number | null | undefined} n */
export const exactBytes = (n) => (typeof n === 'number' ? `${n.toLocaleString('en-US')} bytes` : undefined);

/** @param {number | null | undefined} n */
export const bytesEl = (n) => h('span', { class: 'num', title: exactBytes(n) }, formatBytes(n));

/** @param {number | null | undefined} n */
export const count = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');

/** @param {number} ms */
export function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

/** @param {string} status */
export const statusPill = (status) => h('span', { class: `pill status-${/^[a-z]+$/.test(status) ? status : 'unknown'}` }, status ?? 'unknown');

/**
 * The value of an <input type=datetime-local> for an ISO or epoch-ms filter value.
 * @param {string | null} value
 */
export function toLocalInput(value) {
  if (!value) return '';
  const date = new Date(/^\d+$/.test(value) ? Number(value) : value);
  if (Number.isNaN(date.getTime())) return '';
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
