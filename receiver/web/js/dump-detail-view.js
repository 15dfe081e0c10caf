// @ts-check
// #/dumps/ID: one dump: its panic, the crash command to paste, the call
// trace, the details (dump level and the sender's notes among them), the
// kernel log, the downloads, and Delete for an admin.
import { API, api, apiLink, ApiError, AuthRequired } from './api.js';
import { showError } from './banners.js';
import { byId, h, hashPart, metaRow, muted } from './dom.js';
import { levelLowered, livePill, loweredPill } from './dump-table.js';
import { bytesEl, count, duration, localTime, statusPill, timeEl } from './format.js';
import { authRequired } from './auth-events.js';
import { go } from './router.js';
import { state } from './state.js';

/** @typedef {import('../../api/dump-view.js').DumpDetailView} DumpDetailView */
/** @typedef {import('./state.js').ViewContext} ViewContext */

/**
 * The dump level rows of the details: applied (asked), the page rules and
 * the sender's notes. All of it is the sender's text: text nodes only.
 * @param {DumpDetailView['dumpLevel']} level
 */
function dumpLevelRows(level) {
  if (!level || typeof level !== 'object') return [];
  const notes = Array.isArray(level.notes) ? level.notes : [];
  const applied = typeof level.applied === 'number'
    ? h('span', { id: 'dump-level' }, String(level.applied),
      level.asked !== level.applied && level.asked !== null ? muted(` (asked ${level.asked})`) : null,
      levelLowered(level) ? [' ', loweredPill(level, 'lowered')] : null)
    : null;
  const rules = level.rules === null || level.rules === undefined ? muted('unknown (the sender did not say)')
    : level.rules === '' ? muted('none') : h('code', {}, level.rules);
  return [
    metaRow('Dump level', applied),
    metaRow('Page rules', h('span', { id: 'dump-level-rules' }, rules)),
    metaRow('Level notes', notes.length > 0 ? h('ul', { class: 'level-notes', id: 'dump-level-notes' }, notes.map((note) => h('li', {}, note))) : null),
  ];
}

/** @param {string} text the crash command, also shown in #crash-command */
function copyButton(text) {
  const button = h('button', { type: 'button', class: 'copy', id: 'copy-crash-command' }, 'Copy');
  button.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      // No clipboard API (plain http from another host): select the text and use the legacy command.
      const code = byId('crash-command');
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = /** @type {Selection} */ (getSelection());
      selection.removeAllRanges();
      selection.addRange(range);
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => { button.textContent = 'Copy'; }, 2000);
  });
  return button;
}

/** @param {DumpDetailView} dump */
async function deleteDump(dump) {
  const what = `dump ${dump.id} of ${dump.host}${dump.crashTime ? ` (crashed ${localTime(new Date(dump.crashTime))})` : ''}`;
  if (!confirm(`Delete ${what}?\n\nIts folder and its index row are removed. This cannot be undone.`)) return;
  try {
    await api(`/dumps/${encodeURIComponent(dump.id)}`, { method: 'DELETE' });
    state.flash = `Deleted ${what}.`;
    go('#/dumps');
  } catch (error) {
    if (error instanceof AuthRequired) authRequired(error.message);
    else showError(error);
  }
}

/**
 * Fills box with the kernel log (scrolled to its end, where the panic is), or says why there is none.
 * @param {ViewContext} ctx
 * @param {DumpDetailView} dump
 * @param {HTMLElement} box
 */
async function loadDmesg(ctx, dump, box) {
  const link = apiLink(dump.links?.dmesg) ?? `${API}/dumps/${encodeURIComponent(dump.id)}/dmesg`;
  try {
    const text = /** @type {string} */ (await api(link.slice(API.length), { as: 'text' }));
    if (!ctx.alive()) return;
    const pre = h('pre', { class: 'dmesg', id: 'dmesg', tabindex: '0' }, text);
    box.replaceChildren(pre);
    requestAnimationFrame(() => { pre.scrollTop = pre.scrollHeight; }); // the panic is at the end
  } catch (error) {
    if (!ctx.alive()) return;
    if (error instanceof AuthRequired) return authRequired(error.message);
    if (error instanceof ApiError && error.status === 404) {
      box.replaceChildren(h('div', { class: 'note', id: 'dmesg-missing' },
        h('strong', {}, 'No kernel log for this dump. '),
        dump.triageError ?? dump.failure ?? error.message));
      return;
    }
    box.replaceChildren(h('div', { class: 'note' }, 'The kernel log could not be loaded.'));
    showError(error);
  }
}

/**
 * @param {ViewContext} ctx
 * @param {string} id
 */
export async function dumpView(ctx, id) {
  const dump = /** @type {DumpDetailView} */ (await api(`/dumps/${encodeURIComponent(id)}`));
  // reason, panicLine, signature and triageError are the summary's; triage holds only what a detail adds.
  const { triage, reason, panicLine } = dump;
  // A partial dump is a file too: downloadable, opened by crash (which warns that pages are missing).
  const complete = dump.status === 'complete' || dump.status === 'partial';

  /**
   * @param {string} label
   * @param {string | undefined} link
   * @param {string} hint
   */
  const download = (label, link, hint) => {
    const href = apiLink(link);
    return complete && href
      ? h('a', { class: 'button', href, download: '', title: hint }, label)
      : h('span', { class: 'button disabled', 'aria-disabled': 'true', title: 'available once the dump is complete' }, label);
  };
  const isAdmin = state.user?.role === 'admin';

  const panic = h('section', { class: 'panic', id: 'panic' },
    // A reason that is the panic line itself is shown once, as the panic line.
    reason ? h('div', { class: 'reason-line', id: panicLine === reason ? 'panic-line' : 'reason' }, reason) : null,
    panicLine && panicLine !== reason ? h('div', { class: 'panic-line', id: 'panic-line' }, panicLine) : null,
    !reason && !panicLine
      ? h('div', { class: 'reason-line muted' }, dump.status === 'receiving' ? 'Still receiving: the kernel log is read when the dump is complete.'
        : dump.status === 'failed' ? `Upload failed: ${dump.failure ?? 'unknown reason'}`
          : `No panic line: ${dump.triageError ?? 'the kernel log was not read'}`)
      : null,
    triage.ripSymbol ? h('div', { class: 'rip' }, 'RIP: ', h('code', {}, triage.ripSymbol)) : null,
    dump.status === 'receiving' && (reason || panicLine)
      ? h('div', { class: 'sub', id: 'log-first' }, 'The kernel log came ahead of the pages: pages are still arriving.') : null);

  const trace = Array.isArray(triage.callTrace) && triage.callTrace.length > 0
    ? h('ol', { class: 'trace', id: 'call-trace' }, triage.callTrace.map((fn) => h('li', {}, fn)))
    : h('p', { class: 'muted' }, 'No call trace in the kernel log.');

  const pages = dump.pages;
  const meta = h('table', { class: 'meta', id: 'dump-meta' }, h('tbody', {},
    metaRow('Dump id', h('code', {}, dump.id)),
    metaRow('Host', h('a', { href: `#/dumps?host=${hashPart(dump.host)}` }, dump.host)),
    metaRow('Kernel', dump.kernel ? h('code', {}, dump.kernel) : null),
    metaRow('Status', dump.status === 'partial'
      ? h('span', {}, statusPill(dump.status), muted(` ${count(pages.stored + pages.zero)} of ${count(pages.total)} pages arrived (${dump.partialReason ?? 'no reason recorded'})`))
      : statusPill(dump.status)),
    dump.kind === 'live' ? metaRow('Kind', h('span', {}, livePill(dump), muted(' a running kernel\'s memory, read while it ran: not atomic, no crash'))) : null,
    dump.kind === 'live' ? metaRow('Live reason', dump.liveReason ? h('span', { id: 'live-reason' }, dump.liveReason) : muted('none given')) : null,
    dump.failure ? metaRow('Failure', h('span', { class: 'failure' }, dump.failure)) : null,
    metaRow(dump.kind === 'live' ? 'Taken at' : 'Crash time', timeEl(dump.crashTime, 'unknown')),
    metaRow('Received', timeEl(dump.receivedAt)),
    metaRow('Finished', dump.finishedAt ? h('span', {}, timeEl(dump.finishedAt),
      muted(` (${duration(new Date(dump.finishedAt).getTime() - new Date(dump.receivedAt ?? 0).getTime())})`)) : null),
    metaRow('vmcore size', bytesEl(dump.vmcoreBytes)),
    metaRow('Stored size', h('span', {}, bytesEl(dump.storedBytes),
      dump.vmcoreBytes > 0 && typeof dump.storedBytes === 'number' ? muted(` (${((dump.storedBytes / dump.vmcoreBytes) * 100).toFixed(1)} % of the vmcore)`) : null)),
    metaRow('Pages', typeof pages.total === 'number'
      ? `${count(pages.total)} total · ${count(pages.stored)} stored · ${count(pages.zero)} zero` : null),
    dumpLevelRows(dump.dumpLevel),
    metaRow('Signature', dump.signature ? h('a', { href: `#/groups/${hashPart(dump.signature)}`, class: 'mono' }, dump.signature) : null),
    triage.signatureText ? metaRow('Signature of', h('pre', { class: 'inline' }, triage.signatureText)) : null,
    dump.triageError ? metaRow('Log not read', dump.triageError) : null,
    metaRow('Path', dump.path ? h('code', { class: 'wrap' }, dump.path) : null)));

  const command = dump.crashCommand
    ? h('div', { class: 'command' }, h('code', { id: 'crash-command' }, dump.crashCommand), copyButton(dump.crashCommand))
    : h('p', { class: 'muted' }, 'No crash command (the dump is not complete).');

  const dmesgBox = h('div', { id: 'dmesg-box' }, h('p', { class: 'loading' }, 'Loading the kernel log…'));
  if (complete || dump.links?.dmesg) void loadDmesg(ctx, dump, dmesgBox);

  const actions = h('div', { class: 'actions' },
    download('Download kdump file', dump.links?.file, 'kdump-compressed, opens in crash'),
    download('Download ELF core', dump.links?.elf, 'ELF core for gdb, made on the fly'),
    isAdmin ? h('button', { type: 'button', class: 'danger', id: 'delete-dump', onclick: () => deleteDump(dump) }, 'Delete') : null);

  return [
    h('nav', { class: 'crumbs' }, h('a', { href: '#/dumps' }, 'Dumps'), ' › ',
      h('a', { href: `#/dumps?host=${hashPart(dump.host)}` }, dump.host), ' › ', h('span', { class: 'mono' }, dump.id)),
    h('div', { class: 'page-head' },
      h('h1', {}, dump.host, ' ', h('span', { class: 'kernel' }, dump.kernel ?? 'unknown kernel')),
      statusPill(dump.status),
      dump.kind === 'live' ? livePill(dump) : null,
      h('span', { class: 'muted' }, dump.kind === 'live' ? 'snapshot taken ' : 'crashed ', timeEl(dump.crashTime, 'at an unknown time')),
      h('span', { class: 'spacer' }), actions),
    panic,
    h('section', {}, h('h2', {}, 'Open in crash'), command),
    h('div', { class: 'columns' },
      h('section', {}, h('h2', {}, 'Call trace'), trace),
      h('section', {}, h('h2', {}, 'Details'), meta)),
    h('section', {}, h('h2', {}, 'Kernel log'), dmesgBox),
  ];
}
