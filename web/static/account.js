// The account page: name, email verification, password, sessions, and
// deleting the account.

import * as api from './api.js';
import * as session from './session.js';
import { h, replace, field, alertBox, busy, id as newID } from './dom.js';
import { describe } from './messages.js';

function statusLine() {
  const el = h('p', { role: 'status', class: 'saved' });
  return { el, show: (text) => { el.textContent = text; } };
}

function section(title, ...children) {
  const hid = newID('h');
  return h('section', { class: 'card', 'aria-labelledby': hid }, h('h2', { id: hid, text: title }), children);
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const when = (s) => dateFmt.format(new Date(s));

/** device names a session after its User-Agent, roughly: "Chrome on Linux". */
function device(ua) {
  if (!ua) return 'Unknown device';
  const browser = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']]
    .find(([k]) => ua.includes(k))?.[1];
  const os = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'], ['Mac OS', 'macOS'], ['Linux', 'Linux']]
    .find(([k]) => ua.includes(k))?.[1];
  if (browser && os) return `${browser} on ${os}`;
  return ua.length > 60 ? `${ua.slice(0, 57)}…` : ua;
}

/** accountView is /account. */
export function accountView() {
  const user = session.user();
  const el = h('div', { class: 'account' }, h('h1', { tabindex: '-1', text: 'Account' }));

  // Name.
  {
    const name = h('input', { type: 'text', name: 'name', autocomplete: 'name', value: user.name, required: true });
    const alert = alertBox();
    const saved = statusLine();
    const form = h('form', { novalidate: true }, field('Name', name), alert.el, saved.el,
      h('button', { type: 'submit', class: 'primary', text: 'Save name' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(form, async () => {
        alert.clear();
        saved.show('');
        try {
          const u = await api.rename(name.value);
          name.value = u.name;
          saved.show('Name saved.');
        } catch (err) {
          alert.show(describe(err));
        }
      });
    });
    el.append(section('Profile', email(user), form));
  }

  // Password.
  {
    const current = h('input', { type: 'password', autocomplete: 'current-password', required: true });
    const next = h('input', { type: 'password', autocomplete: 'new-password', required: true, 'aria-describedby': 'change-hint' });
    const alert = alertBox();
    const saved = statusLine();
    const form = h('form', { novalidate: true },
      field('Current password', current),
      h('div', { class: 'field' }, h('label', { htmlFor: 'change-new', text: 'New password' }), Object.assign(next, { id: 'change-new' }),
        h('p', { class: 'hint', id: 'change-hint', text: '8 to 72 characters (accented letters and emoji count as 2 to 4). Every other device gets signed out.' })),
      alert.el, saved.el,
      h('button', { type: 'submit', class: 'primary', text: 'Change password' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!current.value || !next.value) {
        alert.show('Enter your current password and a new one.');
        (current.value ? next : current).focus();
        return;
      }
      busy(form, async () => {
        alert.clear();
        saved.show('');
        try {
          await api.changePassword(current.value, next.value);
          current.value = '';
          next.value = '';
          saved.show('Password changed. Every other device was signed out.');
          loadSessions();
        } catch (err) {
          alert.show(describe(err, { wrong_password: 'The current password is not right.' }));
          if (err.code === 'wrong_password') current.select();
        }
      });
    });
    el.append(section('Password', form));
  }

  // Sessions.
  const sessionList = h('ul', { class: 'sessions', 'aria-label': 'Sessions' });
  const sessionAlert = alertBox();
  const sessionStatus = statusLine();

  function sessionRow(s) {
    const nameID = newID('dev');
    const li = h('li', {},
      h('div', {},
        h('span', { class: 'device', id: nameID, text: s.current ? `${device(s.user_agent)} (this device)` : device(s.user_agent) }),
        h('span', { class: 'meta', text: `Signed in ${when(s.created_at)} · last active ${when(s.last_used_at)}` })));
    if (!s.current) {
      const revoke = h('button', { type: 'button', class: 'ghost danger', text: 'Revoke', 'aria-describedby': nameID });
      revoke.addEventListener('click', async () => {
        // The row leaves at once and comes back if the server refuses.
        const next = li.nextElementSibling ?? li.previousElementSibling;
        li.replaceWith(placeholder);
        (next?.querySelector('button') ?? sessionList).focus?.();
        sessionAlert.clear();
        try {
          await api.revokeSession(s.id);
          placeholder.remove();
          sessionStatus.show(`Signed out ${device(s.user_agent)}.`);
        } catch (err) {
          if (err.code === 'not_found') {
            placeholder.remove();
            return;
          }
          placeholder.replaceWith(li);
          sessionAlert.show(`That session was not revoked. ${describe(err)}`);
        }
      });
      const placeholder = document.createComment('revoking');
      li.append(revoke);
    }
    return li;
  }

  async function loadSessions() {
    try {
      const items = await api.sessions();
      replace(sessionList, items.map(sessionRow));
      if (!items.length) sessionList.append(h('li', { text: 'No sessions: this account signs in through another service.' }));
    } catch (err) {
      if (!err.reason) sessionAlert.show(`The sessions could not be loaded. ${describe(err)}`);
    }
  }
  sessionList.tabIndex = -1;
  el.append(section('Sessions', h('p', { class: 'hint', text: 'Devices signed in to this account. Revoke one to sign it out.' }),
    sessionList, sessionAlert.el, sessionStatus.el));
  loadSessions();

  // Delete account.
  {
    const start = h('button', { type: 'button', class: 'danger', text: 'Delete account' });
    const holder = h('div', {}, start);
    start.addEventListener('click', () => {
      const pass = h('input', { type: 'password', autocomplete: 'current-password', required: true });
      const alert = alertBox();
      const cancel = h('button', { type: 'button', class: 'ghost', text: 'Cancel' });
      const form = h('form', { novalidate: true, class: 'confirm' },
        h('p', { text: 'This deletes your account and all of your tasks, on every device. It cannot be undone.' }),
        field('Password', pass),
        alert.el,
        h('div', { class: 'row' }, h('button', { type: 'submit', class: 'danger', text: 'Delete account forever' }), cancel));
      cancel.addEventListener('click', () => {
        replace(holder, start);
        start.focus();
      });
      form.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') cancel.click();
      });
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        if (!pass.value) {
          alert.show('Enter your password to confirm.');
          pass.focus();
          return;
        }
        busy(form, async () => {
          alert.clear();
          try {
            // Ends the session: every tab shows the signed-out page.
            await api.deleteAccount(pass.value);
          } catch (err) {
            alert.show(describe(err));
            if (err.code === 'wrong_password') pass.select();
          }
        });
      });
      replace(holder, form);
      pass.focus();
    });
    el.append(section('Delete account', holder));
  }

  return { el, title: 'Account' };
}

function email(user) {
  const line = h('p', { class: 'email' }, 'Email: ', h('strong', { text: user.email }), ' ');
  if (user.email_verified) {
    line.append(h('span', { class: 'badge', text: 'verified' }));
    return line;
  }
  const status = statusLine();
  const alert = alertBox();
  const send = h('button', { type: 'button', class: 'link', text: 'Send verification email' });
  send.addEventListener('click', async () => {
    alert.clear();
    try {
      await api.requestVerification();
      status.show(`A confirmation link is on its way to ${user.email}.`);
    } catch (err) {
      alert.show(describe(err, { not_found: 'This server cannot send confirmation mail.' }));
    }
  });
  line.append(h('span', { class: 'badge muted', text: 'not verified' }), ' ', send);
  return h('div', { class: 'email-block' }, line, status.el, alert.el);
}
