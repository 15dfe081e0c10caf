// @ts-check
// The two banners above the view (index.html): errors, and notices such as
// "Deleted dump …". Their close buttons are wired by app.js.
import { ApiError } from './api.js';
import { byId } from './dom.js';

/**
 * @param {'error-banner' | 'notice-banner'} id
 * @param {string} text
 */
export function showBanner(id, text) {
  const banner = byId(id);
  /** @type {HTMLElement} */ (banner.querySelector('.banner-text')).textContent = text;
  banner.hidden = false;
}

/** @param {'error-banner' | 'notice-banner'} id */
export const hideBanner = (id) => { byId(id).hidden = true; };

/**
 * An API error as "CODE: message"; anything else as "Error: message".
 * @param {unknown} error
 */
export function showError(error) {
  if (error instanceof ApiError) showBanner('error-banner', `${error.code}: ${error.message}`);
  else showBanner('error-banner', `Error: ${/** @type {{ message?: unknown } | null | undefined} */ (error)?.message ?? String(error)}`);
}
