// @ts-check
// Signing in and out as events on the document, so the parts that meet a
// 401 (views, polls, the router) and the sign-in form need not import each
// other: the entry (app.js) wires "a token is needed" to the form and
// "signed in" to rendering the view that was interrupted.

const AUTH_REQUIRED = 'kdump:auth-required';
const SIGNED_IN = 'kdump:signed-in';

/**
 * A request was refused for want of a (valid) token.
 * @param {string | null} reason what the receiver said, if anything
 */
export function authRequired(reason) {
  document.dispatchEvent(new CustomEvent(AUTH_REQUIRED, { detail: reason }));
}

export function signedIn() {
  document.dispatchEvent(new CustomEvent(SIGNED_IN));
}

/** @param {(reason: string | null) => void} handler */
export function onAuthRequired(handler) {
  document.addEventListener(AUTH_REQUIRED, (event) => handler(/** @type {CustomEvent<string | null>} */ (event).detail));
}

/** @param {() => void} handler */
export function onSignedIn(handler) {
  document.addEventListener(SIGNED_IN, () => handler());
}
