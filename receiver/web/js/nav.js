// @ts-check
// The header's navigation: which section is the current page.

/** @param {string | null} section */
export function setActiveNav(section) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (/** @type {HTMLElement} */ (link).dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}
