// The page: picks a view from the path and the session, and switches views
// with the History API so that reloads and the back button work.

import * as api from './api.js';
import * as session from './session.js';
import { h, replace } from './dom.js';
import { signedOutView, resetView, verifyView } from './auth.js';
import { tasksView, flushPending } from './tasks.js';
import { accountView } from './account.js';

const root = document.getElementById('app');
const header = h('header', { class: 'bar' });
const main = h('main', { id: 'main' });
let firstRender = true;
// A message for the next signed-out view: {text, error}.
let notice = null;

/** navigate shows path's view and records it in the history. */
export function navigate(path) {
  if (location.pathname + location.search !== path) history.pushState(null, '', path);
  render();
}

function link(text, path) {
  const current = location.pathname === path;
  return h('a', {
    href: path,
    'aria-current': current ? 'page' : null,
    text,
    onclick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(path);
    },
  });
}

function renderHeader(user) {
  const nav = user
    ? h('nav', { 'aria-label': 'Main' },
      link('Tasks', '/'),
      link('Account', '/account'),
      h('button', { type: 'button', class: 'ghost', text: 'Sign out', onclick: signOut }))
    : null;
  replace(header, h('span', { class: 'brand', text: 'Todo' }), nav);
}

async function signOut() {
  await flushPending();
  await api.signOut();
}

function render() {
  const path = location.pathname;
  const user = session.user();
  renderHeader(user && path !== '/reset-password' && path !== '/verify-email' ? user : null);
  let view;
  if (path === '/reset-password') view = resetView({ navigate });
  else if (path === '/verify-email') view = verifyView({ navigate });
  else if (!user) {
    view = signedOutView({ notice });
    notice = null;
  } else if (path === '/account') view = accountView();
  else view = tasksView({ user });
  replace(main, view.el);
  document.title = `${view.title} – Todo`;
  // After a navigation, tell screen readers where they are; on the first
  // load the browser starts at the top of the page anyway.
  if (!firstRender) view.el.querySelector('h1')?.focus({ preventScroll: false });
  firstRender = false;
}

session.onChange((s, reason) => {
  if (reason === 'user') {
    // A rename here or in another tab: only the names on the page change.
    document.querySelectorAll('[data-user-name]').forEach((el) => {
      el.textContent = s.user.name;
    });
    return;
  }
  if (reason === 'expired') notice = { text: 'Your session has ended. Sign in again.', error: true };
  if (reason === 'deleted') notice = { text: 'Your account and its tasks are deleted.', error: false };
  if (!s && location.pathname === '/account') history.replaceState(null, '', '/');
  render();
});

window.addEventListener('popstate', render);
// Deletes still waiting for their Undo window go out before the page does.
window.addEventListener('pagehide', () => flushPending({ keepalive: true }));

async function boot() {
  root.append(header, main);
  root.querySelector('.boot')?.remove();
  await session.restore();
  render();
  if (session.user()) {
    // The stored user may be stale (renamed on another device): refresh it.
    api.me().catch(() => {});
  }
}

boot();
