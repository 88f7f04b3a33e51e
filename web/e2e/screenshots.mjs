// Screenshots of the web client's main screens for the docs:
//   node web/e2e/screenshots.mjs bin/todo docs/screenshots   (make screenshots)
// It serves the given binary on a free port with a temporary SQLite file,
// makes an account with a few tasks through the API, and photographs the
// signed-out page, the task list, an edit in progress and the account page.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const [binary, outDir] = process.argv.slice(2);
if (!binary || !outDir) {
  console.error('usage: node screenshots.mjs BINARY OUT_DIR');
  process.exit(2);
}
const data = mkdtempSync(join(tmpdir(), 'todo-shots-'));
const server = spawn(resolve(binary), ['serve'], {
  env: { ...process.env, HTTP_ADDR: '127.0.0.1:0', METRICS_ADDR: '127.0.0.1:0', DATA_DIR: data, AUTH_BCRYPT_COST: '4', LOG_FORMAT: 'json' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const addr = await new Promise((res, rej) => {
  server.on('exit', (code) => rej(new Error(`todo serve exited (${code})`)));
  createInterface({ input: server.stdout }).on('line', (line) => {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === 'listening') res(rec.addr);
    } catch {
      // not a log record
    }
  });
});
process.env.TODO_URL = `http://${addr}`;
const { PASSWORD, launch, context, seed, signedIn, api, taskList } = await import('./lib.mjs');

try {
  mkdirSync(outDir, { recursive: true });
  const browser = await launch();
  const ctx = await context(browser, { viewport: { width: 900, height: 640 } });
  const shot = (page, name) => page.screenshot({ path: join(outDir, `${name}.png`) });

  const signedOut = await ctx.newPage();
  await signedOut.goto('/');
  await signedOut.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await shot(signedOut, 'signed-out');

  // The first session, as if made on a phone.
  const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
  const reg = await api('POST', '/auth/register', { body: { name: 'Ada Lovelace', email: 'ada@example.com', password: PASSWORD }, headers: { 'User-Agent': iphone } });
  const acct = { ...reg.body, email: 'ada@example.com' };
  const tasks = await seed(acct.access_token, [
    'Renew passport', 'Book train to Edinburgh', 'Buy oat milk', 'Send slides to Grace', 'Water the plants', 'Call the bank about the card',
  ]);
  for (const t of [tasks[1], tasks[4]]) await api('PATCH', `/tasks/${t.id}`, { token: acct.access_token, body: { completed: true } });
  const page = await signedIn(ctx, acct.email, 'Ada Lovelace');
  await taskList(page).getByRole('checkbox', { name: 'Renew passport' }).waitFor();
  await page.waitForTimeout(400); // the counts line
  await shot(page, 'tasks');

  await page.getByRole('button', { name: 'Edit Buy oat milk' }).click();
  await page.getByRole('textbox', { name: 'Title', exact: true }).fill('Buy oat milk and coffee');
  await shot(page, 'edit');
  await page.keyboard.press('Escape');

  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('list', { name: 'Sessions' }).getByRole('listitem').first().waitFor();
  await page.screenshot({ path: join(outDir, 'account.png'), fullPage: true });

  await ctx.done();
  await browser.close();
  console.log(`wrote ${outDir}/{signed-out,tasks,edit,account}.png`);
} finally {
  server.kill('SIGTERM');
  rmSync(data, { recursive: true, force: true });
}
