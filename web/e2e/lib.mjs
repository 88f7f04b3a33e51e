// Shared set-up of the browser tests: Debian's Chromium driven by
// playwright-core (never a downloaded browser), pages that fail the test on
// any script error, CSP or Trusted Types violation or request to another
// host, and helpers that talk to the API directly to seed data or to change
// it behind the page's back.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const BASE = process.env.TODO_URL;
if (!BASE) throw new Error('TODO_URL is not set: run these tests through `go test ./cmd/todo -run TestWebClient`');
export const PASSWORD = 'correct horse battery';

const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * launch starts Chromium with a fresh, temporary profile (playwright-core
 * makes one per launch and deletes it on close).
 */
export function launch() {
  return chromium.launch({ executablePath: EXECUTABLE, args: ARGS, headless: true, timeout: 60_000 });
}

/**
 * context returns a new browser context (its own storage: a new browser
 * user) whose pages are watched. Call done() at the end of the test: it
 * fails on anything the pages did wrong and closes the context.
 */
export async function context(browser, options = {}) {
  const ctx = await browser.newContext({ baseURL: BASE, viewport: { width: 1000, height: 760 }, ...options });
  // Generous: a shared, busy machine can be slow; a failure takes this long.
  ctx.setDefaultTimeout(20_000);
  const problems = [];
  const origin = new URL(BASE).origin;
  const watch = (page) => {
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // A refused request is logged as "Failed to load resource"; the test
      // itself asserts what the page shows for it.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console error: ${msg.text()}`);
    });
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.protocol !== 'data:' && url.origin !== origin) problems.push(`request to another host: ${req.url()}`);
    });
  };
  ctx.on('page', watch);
  ctx.done = async () => {
    await ctx.close();
    assert.deepEqual(problems, [], 'the pages logged errors or reached another host');
  };
  ctx.problems = problems;
  return ctx;
}

/** uniqueEmail returns an address no other test uses. */
export function uniqueEmail(tag = 'u') {
  return `${tag}-${randomBytes(6).toString('hex')}@example.com`;
}

/** api calls the server directly, as another client of the same account would. */
export async function api(method, path, { token, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(`${BASE}/api/v1${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** register makes an account through the API and returns its token pair. */
export async function register(name = 'Ann', email = uniqueEmail()) {
  const r = await api('POST', '/auth/register', { body: { name, email, password: PASSWORD } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { ...r.body, email };
}

/** login opens another session of the account through the API. */
export async function login(email, password = PASSWORD) {
  const r = await api('POST', '/auth/login', { body: { email, password }, headers: { 'User-Agent': 'e2e-other-device' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** seed creates tasks through the API, oldest first, and returns them. */
export async function seed(token, titles) {
  const out = [];
  for (const title of titles) {
    const r = await api('POST', '/tasks', { token, body: { title } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    out.push(r.body);
  }
  return out;
}

/** tasksOf lists every task of the account through the API. */
export async function tasksOf(token, status = 'all') {
  const r = await api('GET', `/tasks?status=${status}&limit=100`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.items;
}

/** signIn fills the sign-in form of a page showing it, by role and name. */
export async function signIn(page, email, password = PASSWORD) {
  await page.getByRole('textbox', { name: 'Email' }).fill(email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** signedIn opens / in a new page of ctx and signs in as email. */
export async function signedIn(ctx, email, name) {
  const page = await ctx.newPage();
  await page.goto('/');
  await signIn(page, email);
  await page.getByRole('heading', { level: 1, name }).waitFor();
  return page;
}

/**
 * storedSession reads (or with change, rewrites) the session the page keeps
 * in IndexedDB, as another tab of the same browser would see it. With
 * announce, it then tells the open tabs, as the page does after a change.
 */
export async function storedSession(page, change = null, { announce = false } = {}) {
  const value = await page.evaluate((patch) => new Promise((resolve, reject) => {
    const req = indexedDB.open('todo', 1);
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const t = req.result.transaction('kv', 'readwrite');
      const store = t.objectStore('kv');
      const get = store.get('session');
      let value;
      get.onsuccess = () => {
        value = get.result;
        if (patch && value) store.put({ ...value, ...patch }, 'session');
      };
      t.oncomplete = () => {
        req.result.close();
        resolve(value ?? null);
      };
      t.onerror = () => reject(t.error);
    };
  }), change);
  if (announce) {
    await page.evaluate(() => new BroadcastChannel('todo.session').postMessage('changed'));
    await page.waitForTimeout(200);
  }
  return value;
}

/**
 * startWithTasks makes an account with the given tasks (oldest first)
 * through the API and signs it in on a new context's page, showing the list.
 */
export async function startWithTasks(browser, name = 'Ann', seedTitles = []) {
  const ctx = await context(browser);
  const acct = await register(name);
  const seeded = await seed(acct.access_token, seedTitles);
  const page = await signedIn(ctx, acct.email, name);
  await taskList(page).waitFor();
  if (seedTitles.length > 0) {
    // The list is there before its first page: wait for the newest task, so
    // that a test changing tasks behind the page's back does so after the
    // page has read them.
    await taskList(page).getByRole('checkbox', { name: seedTitles.at(-1), exact: true }).first().waitFor();
  }
  return { ctx, page, token: acct.access_token, seeded };
}

/** taskList is the list named Tasks. */
export const taskList = (page) => page.getByRole('list', { name: 'Tasks' });

/**
 * titles returns the labels of the visible checkboxes in the Tasks list, in order. The list is read
 * in one evaluation: handles to its checkboxes taken first could name a row the page has redrawn
 * since (a saved task's row is rebuilt), whose old checkbox has no label any more.
 */
export async function titles(page) {
  return taskList(page).evaluate((list) => [...list.querySelectorAll('input[type=checkbox]')]
    .filter((e) => e.checkVisibility() && !e.closest('[aria-hidden="true"]'))
    .map((e) => e.labels[0].textContent));
}

/** eventually polls fn until it returns without throwing, or rethrows after timeout ms. */
export async function eventually(fn, timeout = 20_000) {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** alertText waits for a visible role=alert in scope and returns its text. */
export async function alertText(scope) {
  const el = scope.getByRole('alert').filter({ hasText: /\S/ });
  await el.first().waitFor();
  const text = (await el.first().textContent()).trim();
  assert.doesNotMatch(text, /[{}]|"code"|problem/, `the alert shows a raw body: ${text}`);
  return text;
}

/**
 * mailToken waits for the newest mail to `to` that links to path
 * (/verify-email or /reset-password) and returns the link's token. The mails
 * are the server's log records of them (no MAIL_SMTP_URL), in the file
 * TODO_MAIL_LOG names.
 */
export async function mailToken(to, path, { after = 0 } = {}) {
  const file = process.env.TODO_MAIL_LOG;
  if (!file) throw new Error('TODO_MAIL_LOG is not set: it names the file of the server\'s mail log lines');
  const link = new RegExp(`${path}\\?token=([A-Za-z0-9_-]+)`);
  return eventually(() => {
    const mails = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
      .filter((m) => m.to === to && link.test(m.body));
    assert.ok(mails.length > after, `${mails.length} mails to ${to} link to ${path}; waiting for more than ${after}`);
    return { token: mails.at(-1).body.match(link)[1], count: mails.length };
  });
}
