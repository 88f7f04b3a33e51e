// The page itself: its headers as the browser gets them, the pages a mail
// links to, and WCAG 2.2 AA checks (axe-core) on every main screen.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { BASE, alertText, context, launch, register, seed, signedIn, taskList } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the page loads only from this server, under its own strict CSP', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  const responses = [];
  page.on('response', (r) => responses.push(r));
  const res = await page.goto('/');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  const csp = res.headers()['content-security-policy'];
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"]) {
    assert.ok(csp.includes(d), `CSP ${csp} lacks ${d}`);
  }
  assert.equal(res.headers()['cache-control'], 'no-cache');
  const assets = responses.filter((r) => new URL(r.url()).pathname.startsWith('/assets/'));
  assert.ok(assets.length >= 9, `the page loaded ${assets.length} assets`);
  for (const r of assets) {
    assert.equal(new URL(r.url()).origin, new URL(BASE).origin);
    assert.equal(r.status(), 200, r.url());
    assert.equal(r.headers()['cache-control'], 'public, max-age=31536000, immutable', r.url());
    assert.equal(r.headers()['content-encoding'], r.url().endsWith('.svg') && !r.headers()['content-encoding'] ? undefined : 'gzip', r.url());
  }
  // No inline script can run: Trusted Types refuse a string for innerHTML.
  const refused = await page.evaluate(() => {
    try {
      document.body.innerHTML = '<b>x</b>';
      return false;
    } catch (e) {
      return e instanceof TypeError;
    }
  });
  assert.equal(refused, true, 'innerHTML with a string must throw');
  ctx.problems.length = 0; // the refusal above is logged, on purpose
  await ctx.done();
});

test('/reset-password shows New password and Set password; the token leaves the address bar', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await page.goto('/reset-password?token=abc_DEF-123');
  await page.getByRole('heading', { level: 1, name: 'Set a new password' }).waitFor();
  await page.getByRole('textbox', { name: 'New password' }).waitFor();
  await page.getByRole('button', { name: 'Set password' }).waitFor();
  assert.equal(new URL(page.url()).search, '', 'the token is out of the URL and the history');
  await page.reload();
  await page.getByRole('button', { name: 'Set password' }).waitFor();
  // Without a token there is nothing to set.
  const fresh = await ctx.newPage();
  await fresh.goto('/reset-password');
  assert.equal(await alertText(fresh), 'This link is incomplete. Open it again from the email, or ask for a new one.');
  await ctx.done();
});

test('/verify-email without a token says the link is incomplete', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await page.goto('/verify-email');
  await page.getByRole('heading', { level: 1, name: 'Confirm your email' }).waitFor();
  assert.equal(await alertText(page), 'This link is incomplete. Open it again from the email.');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await ctx.done();
});

test('the forgot-password form is reached from sign-in', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await page.goto('/');
  await page.getByRole('button', { name: 'Forgot password?' }).click();
  await page.getByRole('heading', { level: 1, name: 'Reset password' }).waitFor();
  await page.getByRole('textbox', { name: 'Email' }).waitFor();
  await page.getByRole('button', { name: 'Send reset link' }).click();
  assert.equal(await alertText(page), 'Enter your email.');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await ctx.done();
});

// axe-core is injected as a script, which the page's CSP forbids; these
// contexts bypass CSP for that, and only these.
async function axe(page, screen) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    resultTypes: ['violations'],
  }));
  const found = result.violations.map((v) => `${screen}: ${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(' ')).join('\n  ')}`);
  assert.deepEqual(found, [], `WCAG violations on ${screen}`);
}

test('WCAG 2.2 AA (axe-core): every main screen', async () => {
  const ctx = await context(browser, { bypassCSP: true });
  const page = await ctx.newPage();
  await page.goto('/');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await axe(page, 'sign in');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await alertText(page);
  await axe(page, 'sign in with an error');
  await page.getByRole('button', { name: 'Create account' }).click();
  await axe(page, 'create account');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Forgot password?' }).click();
  await axe(page, 'forgot password');

  const acct = await register('Axe');
  await seed(acct.access_token, ['pending one', 'done one', 'a task with a rather long title that wraps onto the next line of the list']);
  const tasks = await signedIn(ctx, acct.email, 'Axe');
  await taskList(tasks).getByRole('checkbox', { name: 'done one' }).click();
  await axe(tasks, 'tasks');
  await tasks.getByRole('button', { name: 'Edit pending one' }).click();
  await tasks.getByRole('textbox', { name: 'Title', exact: true }).waitFor();
  await axe(tasks, 'editing a task');
  await tasks.keyboard.press('Escape');
  await tasks.getByRole('button', { name: 'Delete pending one' }).click();
  await tasks.getByRole('button', { name: 'Undo' }).waitFor();
  await axe(tasks, 'undo');
  await tasks.getByRole('button', { name: 'Undo' }).click();
  await tasks.getByRole('link', { name: 'Account' }).click();
  await tasks.getByRole('list', { name: 'Sessions' }).getByRole('listitem').first().waitFor();
  await tasks.getByRole('button', { name: 'Delete account', exact: true }).click();
  await axe(tasks, 'account');

  const reset = await ctx.newPage();
  await reset.goto('/reset-password?token=abc');
  await reset.getByRole('button', { name: 'Set password' }).waitFor();
  await axe(reset, 'reset password');
  await reset.goto('/verify-email');
  await alertText(reset);
  await axe(reset, 'verify email');
  await ctx.done();
});
