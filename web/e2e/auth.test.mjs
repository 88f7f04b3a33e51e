// Signing up, in and out; errors; keyboard-only use; staying signed in.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PASSWORD, alertText, api, context, eventually, launch, login, register, signIn, storedSession, uniqueEmail,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('sign up, sign out and sign in again', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  const email = uniqueEmail();
  await page.goto('/');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Create account' }).waitFor();
  await page.getByRole('textbox', { name: 'Name' }).fill('Zoë Example');
  await page.getByRole('textbox', { name: 'Email' }).fill(email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Zoë Example' }).waitFor();
  assert.equal(await page.title(), 'Tasks – Todo');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.equal(await storedSession(page), null, 'the tokens are forgotten');

  // The sign-up form's Sign in goes back; so does the sign-in form's own.
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signIn(page, email);
  await page.getByRole('heading', { level: 1, name: 'Zoë Example' }).waitFor();
  await ctx.done();
});

test('errors are sentences in role=alert, never a raw body', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  const { email } = await register('Ann');
  await page.goto('/');

  await signIn(page, email, 'not the password');
  assert.equal(await alertText(page), 'The email or password is not right.');

  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('textbox', { name: 'Name' }).fill('Ann Again');
  await page.getByRole('textbox', { name: 'Email' }).fill(email.toUpperCase());
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  assert.equal(await alertText(page), 'An account with this email already exists. Sign in instead.');

  await page.getByRole('textbox', { name: 'Email' }).fill(uniqueEmail());
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await eventually(async () => assert.equal(await alertText(page), 'Use a password of 8 to 72 characters.'));

  await page.getByRole('textbox', { name: 'Email' }).fill('not-an-address');
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await eventually(async () => assert.equal(await alertText(page), 'Enter a valid email address, like name@example.com.'));
  await ctx.done();
});

test('too many sign-in attempts say when to try again', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  const { email } = await register('Rita');
  // Spend most of the per-email allowance (AUTH_RATE_PER_EMAIL, 20 a minute)
  // through the API; the page's own wrong tries spend the rest, however
  // much has come back meanwhile (one every 3 s).
  for (let i = 0; i < 18; i++) await api('POST', '/auth/login', { body: { email, password: 'wrong password' } });
  await page.goto('/');
  const seen = new Set();
  for (let i = 0; i < 40; i++) {
    const answered = page.waitForResponse((r) => r.url().endsWith('/auth/login'));
    await signIn(page, email, `wrong password ${i}`);
    await answered;
    const text = await alertText(page);
    seen.add(text.replace(/\d+ seconds?/, 'N seconds'));
    if (text.startsWith('Too many')) break;
  }
  assert.equal([...seen].at(-1), 'Too many attempts. Try again in N seconds.');
  for (const text of [...seen].slice(0, -1)) assert.equal(text, 'The email or password is not right.');
  await ctx.done();
});

test('keyboard only: Tab to the fields, type, Enter signs in; focus is visible', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  const { email } = await register('Kay');
  await page.goto('/');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();

  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return { label: el.labels?.[0]?.textContent ?? el.textContent, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
  });
  await page.keyboard.press('Tab');
  let f = await focused();
  assert.equal(f.label, 'Email');
  assert.ok(f.outline !== 'none' && f.width >= 2, `focus ring on Email: ${JSON.stringify(f)}`);
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  assert.equal((await focused()).label, 'Password');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Tab');
  f = await focused();
  assert.equal(f.label, 'Sign in');
  assert.ok(f.outline !== 'none' && f.width >= 2, `focus ring on the button: ${JSON.stringify(f)}`);
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Kay' }).waitFor();
  // The new view's heading has focus, so a screen reader says where it is.
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Kay');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.labels?.[0]?.textContent), 'New task');
  await ctx.done();
});

test('a reload keeps the session; an expired access token is renewed, once', async () => {
  const ctx = await context(browser);
  const { email } = await register('Lee');
  const page = await ctx.newPage();
  await page.goto('/');
  await signIn(page, email);
  await page.getByRole('heading', { level: 1, name: 'Lee' }).waitFor();

  // A plain reload: the stored access token is still good.
  const refreshes = [];
  page.on('request', (r) => { if (r.url().endsWith('/auth/refresh')) refreshes.push(r); });
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Lee' }).waitFor();
  assert.equal(refreshes.length, 0);

  // With the access token expired, the reload renews the pair once.
  const before = await storedSession(page, { expires_at: 0 });
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Lee' }).waitFor();
  await page.getByRole('list', { name: 'Tasks' }).waitFor();
  await eventually(async () => assert.equal(refreshes.length, 1));
  // The request is seen before its answer is stored: wait for the new pair.
  await eventually(async () => {
    const afterReload = await storedSession(page);
    assert.notEqual(afterReload?.refresh_token, before.refresh_token, 'the refresh token rotated');
  });
  assert.equal(refreshes.length, 1, 'renewed once');
  // The old refresh token is spent: presenting it again is a 401 (and would end the session).
  const reuse = await api('POST', '/auth/refresh', { body: { refresh_token: before.refresh_token } });
  assert.equal(reuse.status, 401);
  await ctx.done();
});

test('an access token the server refuses is renewed and the request retried', async () => {
  const ctx = await context(browser);
  const { email } = await register('Max');
  const page = await ctx.newPage();
  await page.goto('/');
  await signIn(page, email);
  await page.getByRole('heading', { level: 1, name: 'Max' }).waitFor();
  // Looks valid to the page (not expired), but its signature is wrong.
  const s = await storedSession(page);
  await storedSession(page, { access_token: `${s.access_token.slice(0, -4)}AAAA` });
  await page.reload();
  await page.getByRole('textbox', { name: 'New task' }).fill('after a 401');
  await page.keyboard.press('Enter');
  await page.getByRole('checkbox', { name: 'after a 401' }).waitFor();
  await eventually(async () => assert.notEqual((await storedSession(page)).refresh_token, s.refresh_token));
  await ctx.done();
});

test('a session revoked elsewhere ends here with a message', async () => {
  const ctx = await context(browser);
  const { email } = await register('Ned');
  const page = await ctx.newPage();
  await page.goto('/');
  await signIn(page, email);
  await page.getByRole('heading', { level: 1, name: 'Ned' }).waitFor();
  await page.getByRole('list', { name: 'Tasks' }).waitFor();

  const other = await login(email);
  const list = await api('GET', '/users/me/sessions', { token: other.access_token });
  const mine = list.body.items.find((x) => !x.current);
  assert.equal((await api('DELETE', `/users/me/sessions/${mine.id}`, { token: other.access_token })).status, 204);

  // The next request the page makes is refused and ends the session: the
  // add below, or, on a busy machine, one of the page's own first requests
  // still on its way (then the add box is already gone).
  const signInHeading = page.getByRole('heading', { level: 1, name: 'Sign in' });
  try {
    await page.getByRole('textbox', { name: 'New task' }).fill('too late', { timeout: 5000 });
    await page.keyboard.press('Enter');
  } catch (err) {
    if (!(await signInHeading.isVisible())) throw err;
  }
  await signInHeading.waitFor();
  assert.equal(await alertText(page), 'Your session has ended. Sign in again.');
  assert.equal(await storedSession(page), null);
  await ctx.done();
});
