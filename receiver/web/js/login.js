// @ts-check
// Who is signed in: the header's name and role (or "open mode"), the sign-in
// form that posts an operator token to /session (the receiver answers with an
// HttpOnly cookie), and sign-out.
import { api, AuthRequired } from './api.js';
import { stopBadge } from './badge.js';
import { hideBanner, showError } from './banners.js';
import { $, h } from './dom.js';
import { signedIn } from './auth-events.js';
import { setActiveNav } from './nav.js';
import { leaveView, state } from './state.js';

export function renderWhoami() {
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

/**
 * Replaces the view with the sign-in form; signing in says so (signedIn), and the entry renders the view it interrupted.
 * @param {string | null} reason what the receiver said, if anything
 */
export function showLogin(reason) {
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
      signedIn();
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
