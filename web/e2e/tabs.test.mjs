// Two tabs of one browser share the session. Refresh tokens rotate and the
// server revokes the whole session when a spent one comes back, so two tabs
// renewing at once must take turns: one spends the token, the other uses the
// pair it stored. Each test counts the POST /auth/refresh both tabs send.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, context, eventually, launch, register, seed, signedIn, storedSession } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Without the Web Locks API (as on a plain-HTTP origin) the page falls back
// to a lease in IndexedDB.
const NO_WEB_LOCKS = () => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });

async function twoTabs(withoutLocks) {
  const ctx = await context(browser);
  if (withoutLocks) await ctx.addInitScript(NO_WEB_LOCKS);
  // A slow refresh: the other tab acts while this one's is on its way.
  await ctx.route('**/api/v1/auth/refresh', async (route) => {
    await new Promise((r) => setTimeout(r, 400));
    await route.continue();
  });
  const { email, access_token: token } = await register('Tab');
  await seed(token, ['shared task']);
  const one = await signedIn(ctx, email, 'Tab');
  const two = await ctx.newPage();
  await two.goto('/');
  await two.getByRole('heading', { level: 1, name: 'Tab' }).waitFor();
  assert.equal(await one.evaluate(() => typeof navigator.locks), withoutLocks ? 'undefined' : 'object');
  const refreshes = [];
  for (const p of [one, two]) p.on('request', (r) => { if (r.url().endsWith('/auth/refresh')) refreshes.push(r); });
  return { ctx, one, two, refreshes, token };
}

async function stillSignedIn(pages, token) {
  for (const p of pages) {
    await p.getByRole('heading', { level: 1, name: 'Tab' }).waitFor();
    await p.getByRole('checkbox', { name: 'shared task' }).waitFor();
  }
  // The session the tabs share is alive on the server: its pair works.
  const s = await storedSession(pages[0]);
  assert.equal((await api('GET', '/users/me', { token: s.access_token })).status, 200);
  const sessions = await api('GET', '/users/me/sessions', { token });
  assert.equal(sessions.body.items.length, 2, 'the API session and the tabs\' one');
}

for (const withoutLocks of [false, true]) {
  const how = withoutLocks ? 'an IndexedDB lease' : 'Web Locks';
  test(`two tabs reloading at once with an expired token renew it once (${how})`, async () => {
    const { ctx, one, two, refreshes, token } = await twoTabs(withoutLocks);
    for (let round = 1; round <= 2; round++) {
      await storedSession(one, { expires_at: 0 });
      await Promise.all([one.reload(), two.reload()]);
      await stillSignedIn([one, two], token);
      await eventually(async () => assert.equal(refreshes.length, round, `POST /auth/refresh after round ${round}`));
    }
    await ctx.done();
  });

  test(`two tabs acting at once with an expired token renew it once (${how})`, async () => {
    const { ctx, one, two, refreshes, token } = await twoTabs(withoutLocks);
    await storedSession(one, { expires_at: 0 }, { announce: true });
    // Both tabs now hold the expired token; each click needs a fresh one.
    await Promise.all([
      one.getByRole('button', { name: 'Pending' }).click(),
      two.getByRole('button', { name: 'Completed' }).click(),
    ]);
    await one.getByRole('checkbox', { name: 'shared task' }).waitFor();
    await two.getByText('Nothing completed yet.').waitFor();
    await eventually(async () => assert.equal(refreshes.length, 1));
    await two.getByRole('button', { name: 'All' }).click();
    await stillSignedIn([one, two], token);
    await ctx.done();
  });
}

test('signing out in one tab signs out the other; signing in comes back to both', async () => {
  const ctx = await context(browser);
  const { email } = await register('Tab');
  const one = await signedIn(ctx, email, 'Tab');
  const two = await ctx.newPage();
  await two.goto('/');
  await two.getByRole('heading', { level: 1, name: 'Tab' }).waitFor();

  await one.getByRole('button', { name: 'Sign out' }).click();
  await two.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();

  await two.getByRole('textbox', { name: 'Email' }).fill(email);
  await two.getByRole('textbox', { name: 'Password', exact: true }).fill('correct horse battery');
  await two.getByRole('button', { name: 'Sign in', exact: true }).click();
  await one.getByRole('heading', { level: 1, name: 'Tab' }).waitFor();

  // A rename in one tab shows in the other.
  await one.getByRole('link', { name: 'Account' }).click();
  await one.getByRole('textbox', { name: 'Name' }).fill('Tabitha');
  await one.getByRole('button', { name: 'Save name' }).click();
  await two.getByRole('heading', { level: 1, name: 'Tabitha' }).waitFor();
  await ctx.done();
});
