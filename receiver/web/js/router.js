// @ts-check
// Hash routes (#/SECTION/ID?PARAMS): which view to show, the nav's current
// link, and render(), which leaves the old view, asks who is signed in the
// first time, and puts the new view's content in #view. The route table is
// app.js's; this module knows no view.
import { ApiError, api, AuthRequired } from './api.js';
import { startBadge } from './badge.js';
import { hideBanner, showBanner, showError } from './banners.js';
import { $, h } from './dom.js';
import { renderWhoami } from './login.js';
import { authRequired } from './auth-events.js';
import { setActiveNav } from './nav.js';
import { leaveView, state } from './state.js';

/** @typedef {import('./api.js').Whoami} Whoami */
/** @typedef {import('./state.js').ViewContext} ViewContext */
/** @typedef {HTMLElement | Array<HTMLElement | null>} ViewContent */
/**
 * A section's views: `list` for #/SECTION (its hash parameters), `one` for #/SECTION/ID.
 * @typedef {{
 *   list?: (ctx: ViewContext, params: URLSearchParams) => Promise<ViewContent>,
 *   one?: (ctx: ViewContext, id: string) => Promise<ViewContent>,
 * }} Section
 */

/** @type {Map<string, Section>} */
let sections = new Map();

/**
 * Sets the route table and shows the page the hash names, now and on every change.
 * @param {Map<string, Section>} table
 */
export function startRouter(table) {
  sections = table;
  window.addEventListener('hashchange', () => void render());
  void render();
}

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

/**
 * Navigates to a hash; renders even if the hash did not change (re-submitting the same filter).
 * @param {string} hash
 */
export function go(hash) {
  if (location.hash === hash) void render();
  else location.hash = hash;
}

export async function render() {
  leaveView();
  const generation = state.generation;
  /** @type {ViewContext} */
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
      const user = /** @type {Whoami} */ (await api('/whoami'));
      if (!ctx.alive()) return;
      state.user = user;
      state.loginShown = false;
      renderWhoami();
      startBadge();
    }
    const views = sections.get(section);
    let content;
    if (rest.length > 0 || !views) content = notFound();
    else if (id === undefined) content = views.list ? await views.list(ctx, params) : notFound();
    else content = views.one ? await views.one(ctx, id) : notFound();
    if (ctx.alive() && content) view.replaceChildren(...[content].flat().filter((node) => node instanceof Node));
  } catch (error) {
    if (!ctx.alive()) return;
    if (error instanceof AuthRequired) return authRequired(error.message);
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
