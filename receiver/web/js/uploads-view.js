// @ts-check
// #/uploads: the uploads in flight with a live progress bar, polled every
// second while the page is shown (and the header's badge kept in step).
import { api, AuthRequired } from './api.js';
import { setBadge } from './badge.js';
import { showError } from './banners.js';
import { h, hashPart, muted } from './dom.js';
import { bytesEl, count, formatBytes, timeEl } from './format.js';
import { authRequired } from './auth-events.js';

/** @typedef {import('./api.js').UploadList} UploadList */
/** @typedef {import('./api.js').UploadView} UploadView */
/** @typedef {import('./state.js').ViewContext} ViewContext */

const UPLOADS_VIEW_POLL_MS = 1000;

/**
 * Calls fn every ms (first call after ms) while the current view is shown; fn's errors go to the banner.
 * @param {ViewContext} ctx
 * @param {() => Promise<void>} fn
 * @param {number} ms
 */
function poll(ctx, fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const tick = async () => {
    try {
      await fn();
    } catch (error) {
      if (!ctx.alive()) return;
      if (error instanceof AuthRequired) return authRequired(error.message);
      showError(error);
    }
    if (ctx.alive()) timer = setTimeout(tick, ms);
  };
  ctx.onLeave(() => clearTimeout(timer));
  timer = setTimeout(tick, ms);
}

/** @param {number} fraction 0 to 1 */
function progressBar(fraction) {
  const pct = Math.max(0, Math.min(100, fraction * 100));
  const fill = h('div', { class: 'progress-fill' });
  fill.style.width = `${pct}%`;
  return h('div', { class: 'progress-cell' },
    h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': pct.toFixed(1) }, fill),
    h('span', { class: 'num pct' }, `${pct.toFixed(1)} %`));
}

/** @param {UploadView[]} uploads */
function uploadRows(uploads) {
  return uploads.map((u) => {
    const fraction = typeof u.fraction === 'number' ? u.fraction : u.pagesTotal > 0 ? u.pagesDone / u.pagesTotal : 0;
    return h('tr', { dataset: { uploadId: u.id }, class: 'upload-row' },
      h('td', {}, h('a', { href: `#/dumps/${hashPart(u.id)}`, class: 'host' }, u.host)),
      h('td', { class: 'mono nowrap' }, u.kernel ?? muted('unknown')),
      h('td', { class: 'mono' }, u.peer ?? '—'),
      h('td', { class: 'nowrap' }, timeEl(u.startedAt)),
      h('td', { class: 'wide' }, progressBar(fraction)),
      h('td', { class: 'right num' }, `${count(u.pagesDone)} / ${count(u.pagesTotal)}`),
      h('td', { class: 'right' }, bytesEl(u.bytesIn)),
      h('td', { class: 'right num' }, typeof u.bytesPerSecond === 'number' ? `${formatBytes(u.bytesPerSecond)}/s` : '—'));
  });
}

/** @param {ViewContext} ctx */
export async function uploadsView(ctx) {
  const body = h('div', { id: 'uploads-body' }, h('p', { class: 'loading' }, 'Loading…'));
  const total = h('span', { class: 'muted', id: 'total' });
  const update = async () => {
    const data = /** @type {UploadList} */ (await api('/uploads'));
    if (!ctx.alive()) return;
    const uploads = Array.isArray(data.uploads) ? data.uploads : [];
    setBadge(uploads.length);
    total.textContent = `${uploads.length} in flight · refreshed every second`;
    body.replaceChildren(uploads.length === 0
      ? h('div', { class: 'empty', id: 'no-uploads' }, 'No uploads in flight.')
      : h('div', { class: 'table-wrap' }, h('table', { class: 'data', id: 'uploads-table' },
        h('thead', {}, h('tr', {}, ['Host', 'Kernel', 'Peer', 'Started', 'Progress', 'Pages', 'Received', 'Rate']
          .map((t, i) => h('th', { class: i >= 5 ? 'right' : null }, t)))),
        h('tbody', {}, uploadRows(uploads)))));
  };
  await update(); // the first answer (or its error) decides the page
  poll(ctx, update, UPLOADS_VIEW_POLL_MS);
  return [h('div', { class: 'page-head' }, h('h1', {}, 'Uploads in flight'), total), body];
}
