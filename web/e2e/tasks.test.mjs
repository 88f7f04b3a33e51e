// The task list: add, toggle, filters, inline edit, delete and Undo, and
// optimistic changes rolled back on failure. Conflicts and paging are in
// conflicts.test.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { alertText, eventually, launch, startWithTasks, tasksOf, titles } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const newTask = (page) => page.getByRole('textbox', { name: 'New task' });
const pressed = (page, name) => page.getByRole('button', { name, exact: true }).getAttribute('aria-pressed');

test('add with Enter and with the Add button; newest first; the box is cleared', async () => {
  const { ctx, page, token } = await startWithTasks(browser);
  await page.getByText('No tasks yet. Add one above.').waitFor();
  await newTask(page).fill('Buy milk');
  await newTask(page).press('Enter');
  await newTask(page).fill('  Call mom  ');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('checkbox', { name: 'Call mom' }).waitFor();
  assert.equal(await newTask(page).inputValue(), '');
  assert.deepEqual(await titles(page), ['Call mom', 'Buy milk']);
  await eventually(async () => assert.deepEqual((await tasksOf(token)).map((t) => t.title), ['Call mom', 'Buy milk']));
  // Each row names its buttons after the task.
  await page.getByRole('button', { name: 'Edit Buy milk' }).waitFor();
  await page.getByRole('button', { name: 'Delete Buy milk' }).waitFor();
  // An empty title is refused here, without a request.
  await newTask(page).fill('   ');
  await newTask(page).press('Enter');
  assert.equal(await alertText(page), 'Type a task first.');
  await page.reload();
  await eventually(async () => assert.deepEqual(await titles(page), ['Call mom', 'Buy milk']));

  // A title is text, whatever it looks like.
  const markup = '<img src=x onerror="window.pwned=1"> & “quotes”';
  await newTask(page).fill(markup);
  await newTask(page).press('Enter');
  await page.getByRole('checkbox', { name: markup, exact: true }).waitFor();
  await page.getByRole('button', { name: `Edit ${markup}`, exact: true }).waitFor();
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await ctx.done();
});

test('toggle and the three filters', async () => {
  const { ctx, page, token } = await startWithTasks(browser, 'Ann', ['one', 'two', 'three']);
  assert.equal(await pressed(page, 'All'), 'true');
  // Clicked twice in a row: both PATCHes go, in order, and the last click stands.
  const one = page.getByRole('checkbox', { name: 'one' });
  await one.click();
  await one.click();
  await page.getByRole('checkbox', { name: 'two' }).check();
  await eventually(async () => assert.deepEqual((await tasksOf(token, 'completed')).map((t) => t.title), ['two']));
  assert.equal(await one.isChecked(), false);
  assert.equal(await page.getByRole('checkbox', { name: 'two' }).isChecked(), true);

  await page.getByRole('button', { name: 'Pending', exact: true }).click();
  assert.equal(await pressed(page, 'Pending'), 'true');
  assert.equal(await pressed(page, 'All'), 'false');
  await eventually(async () => assert.deepEqual(await titles(page), ['three', 'one']));

  await page.getByRole('button', { name: 'Completed', exact: true }).click();
  assert.equal(await pressed(page, 'Completed'), 'true');
  await eventually(async () => assert.deepEqual(await titles(page), ['two']));
  // Unchecking in Completed takes it off this list, and the server agrees.
  await page.getByRole('checkbox', { name: 'two' }).click();
  await page.getByText('Nothing completed yet.').waitFor();
  await eventually(async () => assert.equal((await tasksOf(token, 'completed')).length, 0));

  // The filter survives a reload of the tab.
  await page.reload();
  assert.equal(await pressed(page, 'Completed'), 'true');
  await page.getByRole('button', { name: 'All', exact: true }).click();
  await eventually(async () => assert.deepEqual(await titles(page), ['three', 'two', 'one']));
  await ctx.done();
});

test('inline edit: Enter saves, Escape cancels, by keyboard', async () => {
  const { ctx, page, token } = await startWithTasks(browser, 'Ann', ['Buy milk']);
  await page.getByRole('button', { name: 'Edit Buy milk' }).focus();
  await page.keyboard.press('Enter');
  const box = page.getByRole('textbox', { name: 'Title', exact: true });
  await box.waitFor();
  assert.equal(await box.evaluate((el) => el === document.activeElement), true, 'the title box has focus');
  await page.keyboard.type('Buy oat milk');
  await page.keyboard.press('Escape');
  await page.getByRole('checkbox', { name: 'Buy milk' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Edit Buy milk', 'focus back on Edit');
  assert.equal((await tasksOf(token))[0].title, 'Buy milk');

  await page.keyboard.press('Enter');
  await box.fill('Buy oat milk');
  await page.keyboard.press('Enter');
  await page.getByRole('checkbox', { name: 'Buy oat milk' }).waitFor();
  await eventually(async () => assert.equal((await tasksOf(token))[0].title, 'Buy oat milk'));
  await page.reload();
  await page.getByRole('checkbox', { name: 'Buy oat milk' }).waitFor();
  await ctx.done();
});

test('delete offers Undo; Undo keeps the task; without it the task is deleted', async () => {
  const { ctx, page, token } = await startWithTasks(browser, 'Ann', ['first', 'second', 'third']);
  await page.getByRole('button', { name: 'Delete second' }).click();
  assert.deepEqual(await titles(page), ['third', 'first']);
  const status = page.getByRole('status').filter({ hasText: 'Deleted “second”.' });
  await status.waitFor();
  // Undo has focus, so Enter is all a keyboard user needs.
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Undo');
  await page.keyboard.press('Enter');
  assert.deepEqual(await titles(page), ['third', 'second', 'first'], 'back in its place');
  await page.getByRole('status').filter({ hasText: 'Restored “second”.' }).waitFor();

  // Nothing was deleted, even after the Undo window.
  await page.getByRole('button', { name: 'Delete first' }).click();
  const deleted = page.waitForRequest((r) => r.method() === 'DELETE', { timeout: 12_000 });
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Undo' }).waitFor();
  await deleted;
  const waited = Date.now() - t0;
  assert.ok(waited > 6000, `the DELETE waited for the Undo window (${waited} ms)`);
  await page.getByRole('button', { name: 'Undo' }).waitFor({ state: 'detached' });
  await eventually(async () => assert.deepEqual((await tasksOf(token)).map((t) => t.title), ['third', 'second']));

  // A second delete ends the first one's window at once; sign-out sends the last.
  await page.getByRole('button', { name: 'Delete second' }).click();
  await page.getByRole('button', { name: 'Delete third' }).click();
  await eventually(async () => assert.deepEqual((await tasksOf(token)).map((t) => t.title), ['third']));
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await eventually(async () => assert.deepEqual(await tasksOf(token), []));
  await ctx.done();
});

test('closing the page sends a delete still waiting for Undo', async () => {
  const { ctx, page, token } = await startWithTasks(browser, 'Ann', ['keep', 'drop']);
  await page.getByRole('button', { name: 'Delete drop' }).click();
  await page.getByRole('button', { name: 'Undo' }).waitFor();
  await page.close();
  await eventually(async () => assert.deepEqual((await tasksOf(token)).map((t) => t.title), ['keep']));
  await ctx.done();
});

test('a change the server refuses is rolled back with a message', async () => {
  const { ctx, page, token } = await startWithTasks(browser, 'Ann', ['steady']);
  // The next PATCH fails as if the database were down.
  await page.route('**/api/v1/tasks/*', (route) => (route.request().method() === 'PATCH'
    ? route.fulfill({ status: 503, contentType: 'application/problem+json', headers: { 'Retry-After': '2' }, body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'unavailable' }) })
    : route.continue()));
  await page.getByRole('checkbox', { name: 'steady' }).click();
  assert.equal(await alertText(page), '“steady” was not changed. The server is busy or down. Try again in a moment.');
  assert.equal(await page.getByRole('checkbox', { name: 'steady' }).isChecked(), false);
  assert.equal((await tasksOf(token))[0].completed, false);

  // An add the server refuses leaves the text in the box and no row.
  await page.route('**/api/v1/tasks', (route) => (route.request().method() === 'POST'
    ? route.fulfill({ status: 422, contentType: 'application/problem+json', body: JSON.stringify({ type: 'about:blank', title: 'Unprocessable Content', status: 422, code: 'validation_failed', errors: [{ field: 'title', message: 'too long' }] }) })
    : route.continue()));
  await newTask(page).fill('refused');
  await newTask(page).press('Enter');
  assert.equal(await alertText(page), '“refused” was not added. A task needs a title of 1 to 200 characters.');
  assert.deepEqual(await titles(page), ['steady']);
  assert.equal(await newTask(page).inputValue(), 'refused');

  // Offline: the same, in words about the connection.
  await page.unroute('**/api/v1/tasks');
  await ctx.setOffline(true);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await eventually(async () => assert.equal(await alertText(page), '“refused” was not added. Cannot reach the server. Check your connection and try again.'));
  await ctx.setOffline(false);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('checkbox', { name: 'refused' }).waitFor();
  await eventually(async () => assert.equal((await tasksOf(token)).length, 2));
  await ctx.done();
});
