// kdump-receiver web UI: vanilla ES module, no build step, no dependencies.
// Talks to the HTTP API v1 (docs/api.md). Every string from the API reaches
// the page through textContent / text nodes (h() below), never as HTML.

const API = '/api/v1';
const UPLOADS_VIEW_POLL_MS = 1000;
const BADGE_POLL_MS = 3000;
const DEFAULT_LIMIT = 50;
const LIMITS = [25, 50, 100, 200];

/** An error answer of the API: {"error": {"code", "message"}}, or a failure to reach it. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** 401: the caller has no valid token; the UI asks for one. */
class AuthRequired extends ApiError {}

// ---------------------------------------------------------------- DOM helpers

/** Builds an element. Strings and numbers become text nodes; null/false children are skipped. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const $ = (selector) => document.querySelector(selector);
const hashPart = (s) => encodeURIComponent(String(s));
const muted = (text, title) => h('span', { class: 'muted', title }, text);

/** Only the API's own paths become download links (never javascript: or another origin). */
const apiLink = (link) => (typeof link === 'string' && link.startsWith(`${API}/`) ? link : null);

// ---------------------------------------------------------------- formatting

const pad = (n, width = 2) => String(n).padStart(width, '0');

function localTime(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A <time> in local time, its ISO value in the title. */
function timeEl(iso, emptyText = '—') {
  if (iso === null || iso === undefined || iso === '') return muted(emptyText, 'unknown');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', {}, String(iso));
  return h('time', { datetime: date.toISOString(), title: String(iso) }, localTime(date));
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
function formatBytes(n) {
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
const exactBytes = (n) => (typeof n === 'number' ? `${n.toLocaleString('en-US')} bytes` : undefined);
const bytesEl = (n) => h('span', { class: 'num', title: exactBytes(n) }, formatBytes(n));
const count = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');

function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

const statusPill = (status) => h('span', { class: `pill status-${/^[a-z]+$/.test(status) ? status : 'unknown'}` }, status ?? 'unknown');

/** The value of an <input type=datetime-local> for an ISO or epoch-ms filter value. */
function toLocalInput(value) {
  if (!value) return '';
  const date = new Date(/^\d+$/.test(value) ? Number(value) : value);
  if (Number.isNaN(date.getTime())) return '';
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// ---------------------------------------------------------------- API client

async function readError(res) {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body && typeof body.error === 'object' && body.error !== null) {
      if (body.error.code) code = String(body.error.code);
      if (body.error.message) message = String(body.error.message);
    } else if (body && typeof body.error === 'string') {
      message = body.error;
    }
  } catch {
    // Not JSON (a proxy's page, say): keep the status line.
  }
  return res.status === 401 ? new AuthRequired(res.status, code, message) : new ApiError(res.status, code, message);
}

/** Calls the API; resolves with the parsed JSON (or text, or null for 204), rejects with ApiError / AuthRequired. */
async function api(path, { method = 'GET', body, as = 'json' } = {}) {
  let res;
  try {
    res = await fetch(API + path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `cannot reach the receiver (${error.message})`);
  }
  if (!res.ok) throw await readError(res);
  if (res.status === 204) return null;
  if (as === 'text') return res.text();
  try {
    return await res.json();
  } catch {
    throw new ApiError(res.status, 'BAD_RESPONSE', `${method} ${API}${path} did not answer JSON`);
  }
}

const query = (params) => {
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') qs.set(key, String(value));
  const text = qs.toString();
  return text ? `?${text}` : '';
};

// ---------------------------------------------------------------- banners

function showBanner(id, text) {
  const banner = document.getElementById(id);
  banner.querySelector('.banner-text').textContent = text;
  banner.hidden = false;
}
const hideBanner = (id) => { document.getElementById(id).hidden = true; };

function showError(error) {
  if (error instanceof ApiError) showBanner('error-banner', `${error.code}: ${error.message}`);
  else showBanner('error-banner', `Error: ${error?.message ?? String(error)}`);
}

// ---------------------------------------------------------------- state, header, polling

const state = {
  user: null,          // whoami answer
  loginShown: false,
  flash: null,         // notice shown on the next view (e.g. after a delete)
  generation: 0,       // bumps on every navigation; async work of older views is dropped
  cleanups: [],
  badgeTimer: null,
  badgeLoop: 0,        // bumps when the badge's polling stops; an older loop's answers are dropped
};

function renderWhoami() {
  const box = $('#whoami');
  const user = state.user;
  if (!user) {
    box.replaceChildren();
    return;
  }
  const parts = [];
  if (user.open) {
    parts.push(h('span', { class: 'pill role-open', title: 'serve --open: every request is admin, no token needed' }, 'open mode'));
  } else {
    parts.push(h('span', { class: 'user-name' }, user.name ?? 'unknown'));
    parts.push(h('span', { class: `pill role-${user.role === 'admin' ? 'admin' : 'read'}`, title: 'role' }, user.role ?? '?'));
    parts.push(h('button', { type: 'button', class: 'link-button', id: 'sign-out', onclick: signOut }, 'Sign out'));
  }
  box.replaceChildren(...parts);
}

function setBadge(n) {
  const badge = $('#uploads-badge');
  badge.hidden = false;
  badge.classList.toggle('idle', n === 0);
  badge.classList.toggle('busy', n > 0);
  badge.removeAttribute('title');
  badge.textContent = n === 0 ? 'No uploads in flight' : `${n} upload${n === 1 ? '' : 's'} in flight`;
}

function stopBadge() {
  clearTimeout(state.badgeTimer);
  state.badgeTimer = null;
  state.badgeLoop++;
  $('#uploads-badge').hidden = true;
}

function startBadge() {
  if (state.badgeTimer !== null) return;
  const loop = ++state.badgeLoop;
  const tick = async () => {
    try {
      const data = await api('/uploads');
      if (loop !== state.badgeLoop) return;
      setBadge(Array.isArray(data.uploads) ? data.uploads.length : 0);
    } catch (error) {
      if (loop !== state.badgeLoop) return;
      if (error instanceof AuthRequired) return showLogin(error.message);
      const badge = $('#uploads-badge');
      badge.textContent = 'Uploads: ?';
      badge.title = error.message;
      showError(error);
    }
    if (loop === state.badgeLoop) state.badgeTimer = setTimeout(tick, BADGE_POLL_MS);
  };
  state.badgeTimer = setTimeout(tick, 0);
}

/** Calls fn every ms (first call after ms) while the current view is shown; fn's errors go to the banner. */
function poll(ctx, fn, ms) {
  let timer = null;
  const tick = async () => {
    try {
      await fn();
    } catch (error) {
      if (!ctx.alive()) return;
      if (error instanceof AuthRequired) return showLogin(error.message);
      showError(error);
    }
    if (ctx.alive()) timer = setTimeout(tick, ms);
  };
  ctx.onLeave(() => clearTimeout(timer));
  timer = setTimeout(tick, ms);
}

// ---------------------------------------------------------------- login

function leaveView() {
  state.generation++;
  for (const cleanup of state.cleanups.splice(0)) cleanup();
}

function showLogin(reason) {
  leaveView();
  stopBadge();
  state.user = null;
  state.loginShown = true;
  renderWhoami();
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, placeholder: 'operator token', spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card login', id: 'login-form' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This receiver needs an operator token. Make one on the receiver\'s machine with ',
      h('code', {}, 'kdump-receiver operator add NAME --role read|admin'), '.'),
    reason ? h('p', { class: 'muted' }, `The receiver said: ${reason}`) : null,
    h('label', { for: 'token' }, 'Token'),
    h('div', { class: 'row' }, input, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api('/session', { method: 'POST', body: { token: input.value.trim() } });
      hideBanner('error-banner');
      state.loginShown = false;
      await render();
    } catch (error) {
      showError(error);
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  $('#view').replaceChildren(form);
  setActiveNav(null);
  input.focus();
}

async function signOut() {
  try {
    await api('/session', { method: 'DELETE' });
    hideBanner('error-banner');
    showLogin(null);
  } catch (error) {
    if (error instanceof AuthRequired) showLogin(null);
    else showError(error);
  }
}

// ---------------------------------------------------------------- router

function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const at = raw.indexOf('?');
  const pathText = at < 0 ? raw : raw.slice(0, at);
  const params = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
  const parts = pathText.split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { parts, params };
}

function setActiveNav(section) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** Navigates to a hash; renders even if the hash did not change (re-submitting the same filter). */
function go(hash) {
  if (location.hash === hash) void render();
  else location.hash = hash;
}

async function render() {
  leaveView();
  const generation = state.generation;
  const ctx = {
    alive: () => generation === state.generation,
    onLeave: (fn) => state.cleanups.push(fn),
  };
  hideBanner('error-banner');
  if (state.flash) {
    showBanner('notice-banner', state.flash);
    state.flash = null;
  } else {
    hideBanner('notice-banner');
  }
  const { parts, params } = parseHash();
  const [section = 'dumps', id, ...rest] = parts;
  setActiveNav(section);
  const view = $('#view');
  view.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  try {
    if (!state.user) {
      const user = await api('/whoami');
      if (!ctx.alive()) return;
      state.user = user;
      state.loginShown = false;
      renderWhoami();
      startBadge();
    }
    let content;
    if (rest.length > 0) content = notFound();
    else if (section === 'dumps' && id === undefined) content = await dumpsView(ctx, params);
    else if (section === 'dumps') content = await dumpView(ctx, id);
    else if (section === 'groups' && id === undefined) content = await groupsView(ctx, params);
    else if (section === 'groups') content = await groupView(ctx, id);
    else if (section === 'uploads' && id === undefined) content = await uploadsView(ctx);
    else content = notFound();
    if (ctx.alive() && content) view.replaceChildren(...[content].flat().filter((node) => node instanceof Node));
  } catch (error) {
    if (!ctx.alive()) return;
    if (error instanceof AuthRequired) return showLogin(error.message);
    showError(error);
    view.replaceChildren(h('div', { class: 'empty', id: 'load-failed' },
      h('p', {}, 'This page could not be loaded.'),
      h('p', {}, h('a', { href: '#/dumps' }, 'Back to the dump list'))));
  }
}

function notFound() {
  showError(new ApiError(404, 'NOT_FOUND', `no page ${location.hash}`));
  return h('div', { class: 'empty' }, h('p', {}, h('a', { href: '#/dumps' }, 'Back to the dump list')));
}

// ---------------------------------------------------------------- filters and paging

const FILTER_KEYS = ['host', 'kernel', 'signature', 'status', 'since', 'until'];

function filterForm(section, params, { status = false, signature = false } = {}) {
  const text = (name, label, placeholder) => h('label', { class: 'field' }, h('span', {}, label),
    h('input', { type: 'text', name, value: params.get(name) ?? '', placeholder, spellcheck: 'false' }));
  const when = (name, label) => h('label', { class: 'field' }, h('span', {}, label),
    h('input', { type: 'datetime-local', name, value: toLocalInput(params.get(name)), title: params.get(name) ?? undefined }));
  const statusSelect = status
    ? h('label', { class: 'field' }, h('span', {}, 'Status'),
      h('select', { name: 'status' }, ['', 'complete', 'receiving', 'failed'].map((s) =>
        h('option', { value: s, selected: (params.get('status') ?? '') === s }, s || 'any'))))
    : null;
  const form = h('form', { class: 'filters', id: 'filters', role: 'search' },
    text('host', 'Host', 'any host'),
    text('kernel', 'Kernel', 'any kernel'),
    statusSelect,
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
      const field = form.elements.namedItem(key);
      if (!field || !field.value.trim()) continue;
      let value = field.value.trim();
      if (field.type === 'datetime-local') {
        const date = new Date(value);
        if (!Number.isNaN(date.getTime())) value = date.toISOString();
      }
      next.set(key, value);
    }
    if (params.get('limit')) next.set('limit', params.get('limit'));
    const qs = next.toString();
    go(`#/${section}${qs ? `?${qs}` : ''}`);
  });
  return form;
}

function pager(section, params, data) {
  const limit = Number(data.limit) || DEFAULT_LIMIT;
  const offset = Number(data.offset) || 0;
  const total = Number(data.total) || 0;
  const shown = Array.isArray(data.dumps) ? data.dumps.length : 0;
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
  const sizes = h('select', { 'aria-label': 'Dumps per page', onchange: (e) => go(at(0, Number(e.target.value))) },
    [...new Set([...LIMITS, limit])].sort((a, b) => a - b).map((n) => h('option', { value: n, selected: n === limit }, `${n} per page`)));
  return h('div', { class: 'pager' },
    h('span', { class: 'muted', id: 'range' }, shown === 0 ? `0 of ${count(total)}` : `${count(offset + 1)}–${count(offset + shown)} of ${count(total)}`),
    h('span', { class: 'spacer' }), sizes, prev, next);
}

// ---------------------------------------------------------------- dump list

/** Whether the sender applied fewer -d bits than asked: it kept pages it could not judge safely, so the dump is bigger. */
const levelLowered = (level) => typeof level?.asked === 'number' && typeof level?.applied === 'number' && level.applied < level.asked;

function loweredPill(level, text) {
  return h('span', { class: 'pill level-lowered', title: `dump level ${level.applied} applied, ${level.asked} asked: the dump's page shows why` }, text);
}

function panicCell(dump) {
  const link = (text, cls) => h('a', { href: `#/dumps/${hashPart(dump.id)}`, class: cls }, text);
  if (dump.status === 'failed') return h('td', { class: 'panic-cell' }, link('upload failed', 'failure'), h('div', { class: 'sub' }, dump.failure ?? ''));
  if (dump.status === 'receiving') return h('td', { class: 'panic-cell' }, link('receiving…', 'muted'));
  const reason = dump.reason ?? dump.panicLine;
  if (!reason) return h('td', { class: 'panic-cell' }, link('no panic line', 'muted'), dump.triageError ? h('div', { class: 'sub' }, dump.triageError) : null);
  return h('td', { class: 'panic-cell' }, link(reason, 'reason'),
    dump.panicLine && dump.panicLine !== reason ? h('div', { class: 'sub' }, dump.panicLine) : null);
}

function dumpTable(dumps, { emptyText = 'No dumps match.' } = {}) {
  if (!Array.isArray(dumps) || dumps.length === 0) return h('div', { class: 'empty', id: 'no-dumps' }, emptyText);
  const rows = dumps.map((dump) => h('tr', { dataset: { dumpId: dump.id }, class: 'dump-row' },
    h('td', { class: 'nowrap col-time' },
      dump.crashTime ? timeEl(dump.crashTime) : [timeEl(dump.receivedAt), h('div', { class: 'sub', title: 'crash time unknown: receive time shown' }, 'received')]),
    h('td', {}, h('a', { href: `#/dumps?host=${hashPart(dump.host)}`, class: 'host', title: `Only dumps of ${dump.host}` }, dump.host)),
    h('td', { class: 'mono nowrap' }, dump.kernel ?? muted('unknown')),
    h('td', {}, statusPill(dump.status),
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

async function dumpsView(ctx, params) {
  const filters = {};
  for (const key of FILTER_KEYS) if (params.get(key)) filters[key] = params.get(key);
  const data = await api(`/dumps${query({ ...filters, limit: params.get('limit') ?? DEFAULT_LIMIT, offset: params.get('offset') ?? undefined })}`);
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

// ---------------------------------------------------------------- groups

function listCell(items, max = 4) {
  if (!Array.isArray(items) || items.length === 0) return muted('—');
  const shown = items.slice(0, max).flatMap((item, i) => [i > 0 ? ', ' : null, h('span', { class: 'nowrap' }, item)]);
  return h('span', { title: items.join(', ') }, shown, items.length > max ? muted(` +${items.length - max} more`) : null);
}

async function groupsView(ctx, params) {
  const filters = {};
  for (const key of ['host', 'kernel', 'since', 'until']) if (params.get(key)) filters[key] = params.get(key);
  const data = await api(`/groups${query(filters)}`);
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

async function groupView(ctx, signature) {
  const data = await api(`/groups/${encodeURIComponent(signature)}`);
  const group = data.group ?? data;
  const dumps = data.dumps ?? group.dumps ?? [];
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
    dumpTable(dumps, { emptyText: 'No dumps in this group.' }),
  ];
}

// ---------------------------------------------------------------- one dump

/**
 * The dump level rows of the details: applied (asked), the page rules and
 * the sender's notes. All of it is the sender's text: text nodes only.
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

const metaRow = (label, value) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, value ?? muted('—')));

function copyButton(text) {
  const button = h('button', { type: 'button', class: 'copy', id: 'copy-crash-command' }, 'Copy');
  button.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      // No clipboard API (plain http from another host): select the text and use the legacy command.
      const code = document.getElementById('crash-command');
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => { button.textContent = 'Copy'; }, 2000);
  });
  return button;
}

async function deleteDump(dump) {
  const what = `dump ${dump.id} of ${dump.host}${dump.crashTime ? ` (crashed ${localTime(new Date(dump.crashTime))})` : ''}`;
  if (!confirm(`Delete ${what}?\n\nIts folder and its index row are removed. This cannot be undone.`)) return;
  try {
    await api(`/dumps/${encodeURIComponent(dump.id)}`, { method: 'DELETE' });
    state.flash = `Deleted ${what}.`;
    go('#/dumps');
  } catch (error) {
    if (error instanceof AuthRequired) showLogin(error.message);
    else showError(error);
  }
}

async function loadDmesg(ctx, dump, box) {
  const link = apiLink(dump.links?.dmesg) ?? `${API}/dumps/${encodeURIComponent(dump.id)}/dmesg`;
  try {
    const text = await api(link.slice(API.length), { as: 'text' });
    if (!ctx.alive()) return;
    const pre = h('pre', { class: 'dmesg', id: 'dmesg', tabindex: '0' }, text);
    box.replaceChildren(pre);
    requestAnimationFrame(() => { pre.scrollTop = pre.scrollHeight; }); // the panic is at the end
  } catch (error) {
    if (!ctx.alive()) return;
    if (error instanceof AuthRequired) return showLogin(error.message);
    if (error.status === 404) {
      box.replaceChildren(h('div', { class: 'note', id: 'dmesg-missing' },
        h('strong', {}, 'No kernel log for this dump. '),
        dump.triageError ?? dump.triage?.error ?? dump.failure ?? error.message));
      return;
    }
    box.replaceChildren(h('div', { class: 'note' }, 'The kernel log could not be loaded.'));
    showError(error);
  }
}

async function dumpView(ctx, id) {
  const dump = await api(`/dumps/${encodeURIComponent(id)}`);
  const triage = dump.triage ?? {};
  const reason = dump.reason ?? triage.reason ?? null;
  const panicLine = dump.panicLine ?? triage.panicLine ?? null;
  const complete = dump.status === 'complete';

  const download = (label, link, hint) => {
    const href = apiLink(link);
    return complete && href
      ? h('a', { class: 'button', href, download: '', title: hint }, label)
      : h('span', { class: 'button disabled', 'aria-disabled': 'true', title: 'available once the dump is complete' }, label);
  };
  const isAdmin = state.user?.role === 'admin';

  const panic = h('section', { class: 'panic', id: 'panic' },
    reason ? h('div', { class: 'reason-line', id: 'reason' }, reason) : null,
    panicLine && panicLine !== reason ? h('div', { class: 'panic-line', id: 'panic-line' }, panicLine) : null,
    !reason && !panicLine
      ? h('div', { class: 'reason-line muted' }, dump.status === 'receiving' ? 'Still receiving: the kernel log is read when the dump is complete.'
        : dump.status === 'failed' ? `Upload failed: ${dump.failure ?? 'unknown reason'}`
          : `No panic line: ${dump.triageError ?? triage.error ?? 'the kernel log was not read'}`)
      : null,
    triage.ripSymbol ? h('div', { class: 'rip' }, 'RIP: ', h('code', {}, triage.ripSymbol)) : null);
  if (reason && panicLine && panicLine === reason) panic.querySelector('.reason-line').id = 'panic-line';

  const trace = Array.isArray(triage.callTrace) && triage.callTrace.length > 0
    ? h('ol', { class: 'trace', id: 'call-trace' }, triage.callTrace.map((fn) => h('li', {}, fn)))
    : h('p', { class: 'muted' }, 'No call trace in the kernel log.');

  const pages = dump.pages ?? {};
  const meta = h('table', { class: 'meta', id: 'dump-meta' }, h('tbody', {},
    metaRow('Dump id', h('code', {}, dump.id)),
    metaRow('Host', h('a', { href: `#/dumps?host=${hashPart(dump.host)}` }, dump.host)),
    metaRow('Kernel', dump.kernel ? h('code', {}, dump.kernel) : null),
    metaRow('Status', statusPill(dump.status)),
    dump.failure ? metaRow('Failure', h('span', { class: 'failure' }, dump.failure)) : null,
    metaRow('Crash time', timeEl(dump.crashTime, 'unknown')),
    metaRow('Received', timeEl(dump.receivedAt)),
    metaRow('Finished', dump.finishedAt ? h('span', {}, timeEl(dump.finishedAt),
      muted(` (${duration(new Date(dump.finishedAt) - new Date(dump.receivedAt))})`)) : null),
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
      h('span', { class: 'muted' }, 'crashed ', timeEl(dump.crashTime, 'at an unknown time')),
      h('span', { class: 'spacer' }), actions),
    panic,
    h('section', {}, h('h2', {}, 'Open in crash'), command),
    h('div', { class: 'columns' },
      h('section', {}, h('h2', {}, 'Call trace'), trace),
      h('section', {}, h('h2', {}, 'Details'), meta)),
    h('section', {}, h('h2', {}, 'Kernel log'), dmesgBox),
  ];
}

// ---------------------------------------------------------------- uploads in flight

function progressBar(fraction) {
  const pct = Math.max(0, Math.min(100, fraction * 100));
  const fill = h('div', { class: 'progress-fill' });
  fill.style.width = `${pct}%`;
  return h('div', { class: 'progress-cell' },
    h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': pct.toFixed(1) }, fill),
    h('span', { class: 'num pct' }, `${pct.toFixed(1)} %`));
}

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

async function uploadsView(ctx) {
  const body = h('div', { id: 'uploads-body' }, h('p', { class: 'loading' }, 'Loading…'));
  const total = h('span', { class: 'muted', id: 'total' });
  const update = async () => {
    const data = await api('/uploads');
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

// ---------------------------------------------------------------- start

for (const banner of document.querySelectorAll('.banner')) {
  banner.querySelector('.banner-close').addEventListener('click', () => { banner.hidden = true; });
}
window.addEventListener('hashchange', () => void render());
void render();
