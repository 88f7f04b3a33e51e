// Signed-out views: sign in, create account, forgot password; and the two
// pages a mail links to: /reset-password and /verify-email.

import * as api from './api.js';
import * as session from './session.js';
import { h, replace, field, alertBox, busy } from './dom.js';
import { describe } from './messages.js';

const heading = (text) => h('h1', { tabindex: '-1', text });

function input(type, name, autocomplete, extra = {}) {
  return h('input', { type, name, autocomplete, required: true, spellcheck: type === 'text' ? null : 'false', ...extra });
}

function linkButton(text, onclick) {
  return h('button', { type: 'button', class: 'link', text, onclick });
}

/** signedOutView switches between sign in, create account and forgot password in place. */
export function signedOutView({ notice = null } = {}) {
  const el = h('section', { class: 'card' });
  const view = { el, title: 'Sign in' };
  // The email typed on one form follows to the others.
  let email = '';

  function show(which, focus) {
    const form = { signIn, signUp, forgot }[which]();
    view.title = { signIn: 'Sign in', signUp: 'Create account', forgot: 'Reset password' }[which];
    document.title = `${view.title} – Todo`;
    replace(el, form);
    if (focus) el.querySelector('h1').focus();
  }

  function signIn() {
    const mail = input('email', 'email', 'username', { value: email, oninput: (e) => { email = e.target.value; } });
    const pass = input('password', 'password', 'current-password');
    const alert = alertBox();
    if (notice?.error) alert.show(notice.text);
    const form = h('form', { novalidate: true },
      notice && !notice.error ? h('p', { role: 'status', class: 'done', text: notice.text }) : null,
      field('Email', mail),
      field('Password', pass),
      alert.el,
      h('button', { type: 'submit', class: 'primary', text: 'Sign in' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!mail.value.trim() || !pass.value) {
        alert.show('Enter your email and password.');
        (mail.value.trim() ? pass : mail).focus();
        return;
      }
      busy(form, async () => {
        alert.clear();
        try {
          await api.signIn(mail.value, pass.value);
        } catch (err) {
          alert.show(describe(err));
          pass.select();
        }
      });
    });
    return [
      heading('Sign in'),
      form,
      h('p', { class: 'alt' },
        linkButton('Create account', () => show('signUp', true)),
        linkButton('Forgot password?', () => show('forgot', true))),
    ];
  }

  function signUp() {
    const name = input('text', 'name', 'name');
    const mail = input('email', 'email', 'username', { value: email, oninput: (e) => { email = e.target.value; } });
    const hint = h('p', { class: 'hint', id: 'password-hint', text: '8 to 72 characters (accented letters and emoji count as 2 to 4).' });
    const pass = input('password', 'password', 'new-password', { 'aria-describedby': 'password-hint' });
    const alert = alertBox();
    const form = h('form', { novalidate: true },
      field('Name', name),
      field('Email', mail),
      h('div', { class: 'field' }, h('label', { htmlFor: 'signup-password', text: 'Password' }), Object.assign(pass, { id: 'signup-password' }), hint),
      alert.el,
      h('button', { type: 'submit', class: 'primary', text: 'Create account' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const missing = [name, mail, pass].find((i) => !i.value.trim());
      if (missing) {
        alert.show('Fill in your name, email and a password.');
        missing.focus();
        return;
      }
      busy(form, async () => {
        alert.clear();
        try {
          await api.register(name.value, mail.value, pass.value);
        } catch (err) {
          alert.show(describe(err));
        }
      });
    });
    return [heading('Create account'), form, h('p', { class: 'alt' }, 'Have an account? ', linkButton('Sign in', () => show('signIn', true)))];
  }

  function forgot() {
    const mail = input('email', 'email', 'username', { value: email, oninput: (e) => { email = e.target.value; } });
    const alert = alertBox();
    const form = h('form', { novalidate: true },
      h('p', { text: 'Enter the email of your account and we will send it a link to set a new password.' }),
      field('Email', mail),
      alert.el,
      h('button', { type: 'submit', class: 'primary', text: 'Send reset link' }));
    const back = h('p', { class: 'alt' }, linkButton('Sign in', () => show('signIn', true)));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!mail.value.trim()) {
        alert.show('Enter your email.');
        mail.focus();
        return;
      }
      busy(form, async () => {
        alert.clear();
        try {
          await api.requestReset(mail.value);
          const done = h('p', { role: 'status', tabindex: '-1', class: 'done' },
            'If an account uses that address, a link to set a new password is on its way. It works for an hour.');
          form.replaceWith(done);
          done.focus();
        } catch (err) {
          alert.show(describe(err));
        }
      });
    });
    return [heading('Reset password'), form, back];
  }

  show('signIn', false);
  return view;
}

const RESET_KEY = 'todo.reset-token';

/**
 * resetView is /reset-password?token=…: a new password for the account the
 * mailed token belongs to. The token leaves the address bar (and so the
 * history) at once and waits in this tab's sessionStorage, so a reload still
 * works.
 */
export function resetView({ navigate }) {
  const fromURL = new URLSearchParams(location.search).get('token');
  if (fromURL) {
    sessionStorage.setItem(RESET_KEY, fromURL);
    history.replaceState(null, '', '/reset-password');
  }
  const token = sessionStorage.getItem(RESET_KEY);
  const el = h('section', { class: 'card' }, heading('Set a new password'));
  const toSignIn = h('p', { class: 'alt' }, linkButton('Sign in', () => navigate('/')));
  const alert = alertBox();
  if (!token) {
    alert.show('This link is incomplete. Open it again from the email, or ask for a new one.');
    el.append(alert.el, toSignIn);
    return { el, title: 'Set a new password' };
  }
  const hint = h('p', { class: 'hint', id: 'new-password-hint', text: '8 to 72 characters (accented letters and emoji count as 2 to 4).' });
  const pass = input('password', 'new-password', 'new-password', { 'aria-describedby': 'new-password-hint' });
  const form = h('form', { novalidate: true },
    h('div', { class: 'field' }, h('label', { htmlFor: 'reset-password', text: 'New password' }), Object.assign(pass, { id: 'reset-password' }), hint),
    alert.el,
    h('button', { type: 'submit', class: 'primary', text: 'Set password' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!pass.value) {
      alert.show('Enter a new password.');
      pass.focus();
      return;
    }
    busy(form, async () => {
      alert.clear();
      try {
        await api.confirmReset(token, pass.value);
        sessionStorage.removeItem(RESET_KEY);
        // The server has signed every session of the account out.
        if (session.user()) await session.end('signed-out');
        const done = h('p', { role: 'status', tabindex: '-1', class: 'done' },
          'Your password is set, and every device was signed out. Sign in with the new password.');
        form.replaceWith(done);
        done.focus();
      } catch (err) {
        alert.show(describe(err, { validation_failed: err.fields?.some((f) => f.field === 'token') ? 'This link is invalid or has expired. Ask for a new one.' : undefined }));
      }
    });
  });
  el.append(form, toSignIn);
  return { el, title: 'Set a new password' };
}

/** verifyView is /verify-email?token=…: it confirms the address as soon as it opens. */
export function verifyView({ navigate }) {
  const token = new URLSearchParams(location.search).get('token');
  const status = h('p', { role: 'status', text: token ? 'Confirming your email address…' : '' });
  const alert = alertBox();
  const next = h('p', { class: 'alt' }, linkButton('Continue', () => navigate('/')));
  const el = h('section', { class: 'card' }, heading('Confirm your email'), status, alert.el, next);
  if (!token) {
    alert.show('This link is incomplete. Open it again from the email.');
    return { el, title: 'Confirm your email' };
  }
  api.verifyEmail(token).then(
    async ({ data }) => {
      status.textContent = `Your email address ${data.email} is confirmed.`;
      if (session.user()?.id === data.id) await session.setUser(data);
    },
    (err) => {
      status.textContent = '';
      alert.show(describe(err, {
        invalid_token: 'This link is invalid, used or expired. Sign in and send a new one from your account page.',
      }));
    });
  return { el, title: 'Confirm your email' };
}
