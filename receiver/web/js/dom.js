// @ts-check
// Building the page: h() makes elements, every string from the API becoming a
// text node (never HTML), plus the small element helpers the views share.

/** @typedef {string | number | boolean | null | undefined} AttrValue */
/**
 * Attributes of h(): `on*` functions become listeners, `class` the class name,
 * `dataset` data-* attributes; null, undefined and false are left out, true is
 * an empty attribute.
 * @typedef {{ [name: string]: AttrValue | ((event: Event) => void) | Record<string, string> }} Attrs
 */
/** @typedef {Node | string | number | boolean | null | undefined | Children} Child */
/** @typedef {Child[]} Children */

/**
 * Builds an element. Strings and numbers become text nodes; null/false children are skipped.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  // flat(Infinity) leaves no arrays; its type for a recursive Child is too deep for tsc to spell.
  for (const child of /** @type {Array<Exclude<Child, Children>>} */ (/** @type {unknown[]} */ (children).flat(Infinity))) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * One of the page's own elements (index.html), which are always there.
 * @param {string} selector
 */
export const $ = (selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

/**
 * The page's own element with this id (index.html), which is always there.
 * @param {string} id
 */
export const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * A value as one segment of a hash route.
 * @param {string | number} s
 */
export const hashPart = (s) => encodeURIComponent(String(s));

/**
 * @param {string} text
 * @param {string} [title]
 */
export const muted = (text, title) => h('span', { class: 'muted', title }, text);

/**
 * A row of a label/value table (class "meta"); no value shows a muted dash.
 * @param {string} label
 * @param {Child} value
 */
export const metaRow = (label, value) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, value ?? muted('—')));
