// @ts-check
// kdump-receiver web UI: native ES modules, no build step, no dependencies.
// Talks to the HTTP API v1 (docs/api.md). Every string from the API reaches
// the page through textContent / text nodes (h() in js/dom.js), never as HTML.
//
// This entry wires the modules: the banners' close buttons, the route table,
// and the sign-in events (js/auth-events.js): a 401 anywhere shows the
// sign-in form, and signing in renders the view it interrupted.
import { dumpView } from './js/dump-detail-view.js';
import { dumpsView } from './js/dumps-view.js';
import { groupsView, groupView } from './js/groups-view.js';
import { onAuthRequired, onSignedIn } from './js/auth-events.js';
import { showLogin } from './js/login.js';
import { render, startRouter } from './js/router.js';
import { uploadsView } from './js/uploads-view.js';

/** @typedef {import('./js/router.js').Section} Section */

for (const banner of document.querySelectorAll('.banner')) {
  /** @type {HTMLElement} */ (banner.querySelector('.banner-close')).addEventListener('click', () => { /** @type {HTMLElement} */ (banner).hidden = true; });
}

onAuthRequired(showLogin);
onSignedIn(() => { void render(); });

/** #/SECTION and #/SECTION/ID; anything else is "no page". */
startRouter(new Map(/** @type {Array<[string, Section]>} */ ([
  ['dumps', { list: dumpsView, one: dumpView }],
  ['groups', { list: groupsView, one: groupView }],
  ['uploads', { list: uploadsView }],
])));
