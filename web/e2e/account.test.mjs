// The account page: name, password, sessions and Revoke, deleting the account.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PASSWORD, alertText, api, context, eventually, launch, login, register, signIn, signedIn } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function openAccount(name = 'Ann') {
  const ctx = await context(browser);
  const acct = await register(name);
  const page = await signedIn(ctx, acct.email, name);
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
  return { ctx, page, ...acct };
}

test('rename: the new name is saved and heads the task list', async () => {
  const { ctx, page, access_token: token } = await openAccount('Ann');
  assert.equal(await page.title(), 'Account – Todo');
  const name = page.getByRole('textbox', { name: 'Name' });
  assert.equal(await name.inputValue(), 'Ann');
  await name.fill('   ');
  await page.getByRole('button', { name: 'Save name' }).click();
  assert.equal(await alertText(page), 'Enter a name of 1 to 100 characters.');
  await name.fill('Ann Smith');
  await page.getByRole('button', { name: 'Save name' }).click();
  await page.getByRole('status').filter({ hasText: 'Name saved.' }).waitFor();
  assert.equal((await api('GET', '/users/me', { token })).body.name, 'Ann Smith');
  // The page is an address of its own: a reload stays on it.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
  await page.getByRole('link', { name: 'Tasks' }).click();
  await page.getByRole('heading', { level: 1, name: 'Ann Smith' }).waitFor();
  await page.goBack();
  await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
  await ctx.done();
});

test('change password: a wrong current one is refused; the right one signs out the other sessions', async () => {
  const { ctx, page, email } = await openAccount();
  const other = await login(email);
  await page.getByRole('textbox', { name: 'Current password' }).fill('not my password');
  await page.getByRole('textbox', { name: 'New password' }).fill('a brand new password');
  await page.getByRole('button', { name: 'Change password' }).click();
  assert.equal(await alertText(page), 'The current password is not right.');

  await page.getByRole('textbox', { name: 'Current password' }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('status').filter({ hasText: 'Password changed. Every other device was signed out.' }).waitFor();
  assert.equal((await api('GET', '/users/me', { token: other.access_token })).status, 401, 'the other session is revoked');

  // This page's session lives on; a new sign-in takes the new password.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, email, PASSWORD);
  assert.equal(await alertText(page), 'The email or password is not right.');
  await signIn(page, email, 'a brand new password');
  await page.getByRole('heading', { level: 1, name: 'Ann' }).waitFor();
  await ctx.done();
});

test('sessions: every live one is listed; Revoke signs another device out', async () => {
  const { ctx, page, email } = await openAccount();
  const other = await login(email);
  await page.reload();
  const sessions = page.getByRole('list', { name: 'Sessions' });
  await eventually(async () => assert.equal(await sessions.getByRole('listitem').count(), 3));
  await sessions.getByRole('listitem').filter({ hasText: '(this device)' }).waitFor();
  // Revoke is offered for the other sessions only (the one from register and the one from login).
  const revoke = sessions.getByRole('button', { name: 'Revoke', exact: true });
  assert.equal(await revoke.count(), 2);
  const row = sessions.getByRole('listitem').filter({ hasText: 'e2e-other-device' });
  await row.getByRole('button', { name: 'Revoke', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Signed out e2e-other-device.' }).waitFor();
  assert.equal(await sessions.getByRole('listitem').count(), 2);
  assert.equal((await api('GET', '/users/me', { token: other.access_token })).status, 401);
  assert.equal((await api('POST', '/auth/refresh', { body: { refresh_token: other.refresh_token } })).status, 401);
  await ctx.done();
});

test('delete account: asks for the password, then everything is gone', async () => {
  const { ctx, page, email, access_token: token } = await openAccount();
  await api('POST', '/tasks', { token, body: { title: 'doomed' } });
  await page.getByRole('button', { name: 'Delete account', exact: true }).click();
  const pass = page.getByRole('textbox', { name: 'Password', exact: true });
  assert.equal(await pass.evaluate((el) => el === document.activeElement), true);
  // Cancel, or Escape, puts things back.
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Delete account', exact: true }).click();
  await page.keyboard.press('Escape');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Delete account');
  await page.getByRole('button', { name: 'Delete account', exact: true }).click();
  await pass.fill('wrong password');
  await page.getByRole('button', { name: 'Delete account forever' }).click();
  assert.equal(await alertText(page), 'The password is not right.');
  await pass.fill(PASSWORD);
  await page.getByRole('button', { name: 'Delete account forever' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Your account and its tasks are deleted.' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal((await api('POST', '/auth/login', { body: { email, password: PASSWORD } })).status, 401);
  assert.equal((await api('GET', '/tasks', { token })).status, 401);
  await ctx.done();
});
