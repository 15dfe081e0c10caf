// @ts-check
// The header's "N uploads in flight" badge: polls GET /uploads while someone
// is signed in, stops on sign-out.
import { api, AuthRequired } from './api.js';
import { showError } from './banners.js';
import { $ } from './dom.js';
import { authRequired } from './auth-events.js';
import { state } from './state.js';

/** @typedef {import('./api.js').UploadList} UploadList */

const BADGE_POLL_MS = 3000;

/** @param {number} n */
export function setBadge(n) {
  const badge = $('#uploads-badge');
  badge.hidden = false;
  badge.classList.toggle('idle', n === 0);
  badge.classList.toggle('busy', n > 0);
  badge.removeAttribute('title');
  badge.textContent = n === 0 ? 'No uploads in flight' : `${n} upload${n === 1 ? '' : 's'} in flight`;
}

export function stopBadge() {
  clearTimeout(state.badgeTimer ?? undefined);
  state.badgeTimer = null;
  state.badgeLoop++;
  $('#uploads-badge').hidden = true;
}

export function startBadge() {
  if (state.badgeTimer !== null) return;
  const loop = ++state.badgeLoop;
  const tick = async () => {
    try {
      const data = /** @type {UploadList} */ (await api('/uploads'));
      if (loop !== state.badgeLoop) return;
      setBadge(Array.isArray(data.uploads) ? data.uploads.length : 0);
    } catch (error) {
      if (loop !== state.badgeLoop) return;
      if (error instanceof AuthRequired) return authRequired(error.message);
      const badge = $('#uploads-badge');
      badge.textContent = 'Uploads: ?';
      badge.title = /** @type {Error} */ (error).message;
      showError(error);
    }
    if (loop === state.badgeLoop) state.badgeTimer = setTimeout(tick, BADGE_POLL_MS);
  };
  state.badgeTimer = setTimeout(tick, 0);
}
