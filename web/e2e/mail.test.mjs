// The journeys that go through a mail: a password reset and the email
// verification, from the link in the mail (read from the server's log of
// the mails it would send; see mailToken in lib.mjs) to the page it opens.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PASSWORD, alertText, api, context, launch, login, mailToken, register, signIn, signedIn, uniqueEmail,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('forgot password: the mailed link sets a new one and signs every device out', async () => {
  const ctx = await context(browser);
  const { email } = await register('Rosa');
  const other = await login(email);
  const page = await ctx.newPage();
  await page.goto('/');
  await page.getByRole('button', { name: 'Forgot password?' }).click();
  await page.getByRole('textbox', { name: 'Email' }).fill(email);
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await page.getByRole('status').filter({ hasText: 'If an account uses that address, a link to set a new password is on its way.' }).waitFor();

  const { token } = await mailToken(email, '/reset-password');
  await page.goto(`/reset-password?token=${token}`);
  await page.getByRole('textbox', { name: 'New password' }).fill('a fresh password');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByRole('status').filter({ hasText: 'Your password is set, and every device was signed out.' }).waitFor();
  assert.equal((await api('GET', '/users/me', { token: other.access_token })).status, 401, 'the other session is revoked');

  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signIn(page, email, PASSWORD);
  assert.equal(await alertText(page), 'The email or password is not right.');
  await signIn(page, email, 'a fresh password');
  await page.getByRole('heading', { level: 1, name: 'Rosa' }).waitFor();

  // The link works once.
  const again = await ctx.newPage();
  await again.goto(`/reset-password?token=${token}`);
  await again.getByRole('textbox', { name: 'New password' }).fill('yet another password');
  await again.getByRole('button', { name: 'Set password' }).click();
  assert.equal(await alertText(again), 'This link is invalid or has expired. Ask for a new one.');
  await ctx.done();
});

test('a reset request for an address without an account reads the same', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await page.goto('/');
  await page.getByRole('button', { name: 'Forgot password?' }).click();
  await page.getByRole('textbox', { name: 'Email' }).fill(uniqueEmail('nobody'));
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await page.getByRole('status').filter({ hasText: 'If an account uses that address, a link to set a new password is on its way.' }).waitFor();
  // And a made-up token is refused in words.
  await page.goto('/reset-password?token=made-up-token');
  await page.getByRole('textbox', { name: 'New password' }).fill('a fresh password');
  await page.getByRole('button', { name: 'Set password' }).click();
  assert.equal(await alertText(page), 'This link is invalid or has expired. Ask for a new one.');
  await ctx.done();
});

test('verify email: the link from sign-up confirms the address; the account page can send another', async () => {
  const ctx = await context(browser);
  const email = uniqueEmail();
  const page = await ctx.newPage();
  await page.goto('/');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('textbox', { name: 'Name' }).fill('Vera');
  await page.getByRole('textbox', { name: 'Email' }).fill(email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Vera' }).waitFor();
  const first = await mailToken(email, '/verify-email');

  // Another from the account page.
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByText('not verified').waitFor();
  await page.getByRole('button', { name: 'Send verification email' }).click();
  await page.getByRole('status').filter({ hasText: `A confirmation link is on its way to ${email}.` }).waitFor();
  const second = await mailToken(email, '/verify-email', { after: first.count });

  // The page also reloads the user as it opens; that answer, read before the
  // verification, arrives after it here, and must not undo it.
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  await page.route('**/api/v1/users/me', async (route) => {
    const res = await route.fetch(); // read now, before the verification
    await sleep(1500);
    await route.fulfill({ response: res });
  });
  await page.route('**/api/v1/auth/verify-email', async (route) => {
    await sleep(500);
    await route.continue();
  });
  const stale = page.waitForResponse('**/api/v1/users/me');
  await page.goto(`/verify-email?token=${second.token}`);
  await page.getByRole('status').filter({ hasText: `Your email address ${email} is confirmed.` }).waitFor();
  assert.equal((await (await stale).json()).email_verified, false, 'the GET was answered before the verification');
  await page.unrouteAll();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { level: 1, name: 'Vera' }).waitFor();
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByText('verified', { exact: true }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Send verification email' }).count(), 0);

  // A spent link says so.
  await page.goto(`/verify-email?token=${second.token}`);
  assert.equal(await alertText(page), 'This link is invalid, used or expired. Sign in and send a new one from your account page.');
  await ctx.done();
});

test('a verification link opened signed out, in another browser, confirms too', async () => {
  const ctx = await context(browser);
  const { email, access_token: token } = await register('Otto');
  const { token: link } = await mailToken(email, '/verify-email');
  const page = await ctx.newPage();
  await page.goto(`/verify-email?token=${link}`);
  await page.getByRole('status').filter({ hasText: `Your email address ${email} is confirmed.` }).waitFor();
  assert.equal((await api('GET', '/users/me', { token })).body.email_verified, true);
  // Signed in afterwards, the account page says verified.
  const signed = await signedIn(ctx, email, 'Otto');
  await signed.getByRole('link', { name: 'Account' }).click();
  await signed.getByText('verified', { exact: true }).waitFor();
  await ctx.done();
});
