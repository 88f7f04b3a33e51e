// What the server's data does behind the page's back: edits that conflict
// (ETag and If-Match), and pages of tasks followed by cursor as the list
// scrolls. These run on PostgreSQL too.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { alertText, api, eventually, launch, startWithTasks, tasksOf, titles } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a change made elsewhere during an edit is shown, not overwritten (412)', async () => {
  const { ctx, page, token, seeded } = await startWithTasks(browser, 'Ann', ['Draft report']);
  const [task] = seeded;
  // Let the page fetch the version it edits, then change the task behind its back.
  const fetched = page.waitForResponse((r) => r.url().endsWith(`/tasks/${task.id}`) && r.request().method() === 'GET');
  await page.getByRole('button', { name: 'Edit Draft report' }).click();
  const box = page.getByRole('textbox', { name: 'Title', exact: true });
  await box.waitFor();
  await fetched;
  const r = await api('PATCH', `/tasks/${task.id}`, { token, body: { title: 'Final report' } });
  assert.equal(r.status, 200);

  await box.fill('My report');
  const patch = page.waitForResponse((res) => res.url().endsWith(`/tasks/${task.id}`) && res.request().method() === 'PATCH');
  await box.press('Enter');
  assert.equal((await patch).status(), 412);
  assert.equal(await alertText(page),
    'This task was changed somewhere else, so your edit (“My report”) was not saved. It now reads “Final report”.');
  await page.getByRole('checkbox', { name: 'Final report' }).waitFor();
  assert.equal((await tasksOf(token))[0].title, 'Final report', 'the newer version was kept');

  // Editing again starts from the newer version and saves.
  await page.getByRole('button', { name: 'Edit Final report' }).click();
  await box.fill('Final report v2');
  await box.press('Enter');
  await eventually(async () => assert.equal((await tasksOf(token))[0].title, 'Final report v2'));
  await ctx.done();
});

test('opening an edit after a change made elsewhere shows the newer title', async () => {
  const { ctx, page, token, seeded } = await startWithTasks(browser, 'Ann', ['Old title']);
  assert.equal((await api('PATCH', `/tasks/${seeded[0].id}`, { token, body: { title: 'New title' } })).status, 200);
  await page.getByRole('button', { name: 'Edit Old title' }).click();
  const box = page.getByRole('textbox', { name: 'Title', exact: true });
  await eventually(async () => assert.equal(await box.inputValue(), 'New title'));
  assert.match(await alertText(page), /changed somewhere else; the box shows its newest title, “New title”/);
  await box.press('Escape');
  await page.getByRole('checkbox', { name: 'New title' }).waitFor();
  await ctx.done();
});

test('more tasks load as the list scrolls to its end, in the API\'s order', async () => {
  const many = Array.from({ length: 60 }, (_, i) => `task ${String(i + 1).padStart(2, '0')}`);
  const { ctx, page, token } = await startWithTasks(browser, 'Ann', many);
  const expected = many.slice().reverse();
  await eventually(async () => assert.equal((await titles(page)).length, 25, 'one page of 25 at first'));
  // Scroll to the end until nothing more comes.
  await eventually(async () => {
    await page.getByRole('checkbox').last().scrollIntoViewIfNeeded();
    await page.mouse.wheel(0, 4000);
    assert.equal((await titles(page)).length, 60);
  });
  assert.deepEqual(await titles(page), expected, 'every task once, newest first');
  // The same with a filter: 20 completed, ordered by completion.
  for (const t of (await tasksOf(token)).slice(0, 20)) {
    await api('PATCH', `/tasks/${t.id}`, { token, body: { completed: true } });
  }
  await page.getByRole('button', { name: 'Completed', exact: true }).click();
  await eventually(async () => assert.equal((await titles(page)).length, 20));
  const completed = [];
  for (let cursor = null; ;) {
    const r = await api('GET', `/tasks?status=completed&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token });
    completed.push(...r.body.items.map((t) => t.title));
    cursor = r.body.next_cursor;
    if (!cursor) break;
  }
  assert.deepEqual(await titles(page), completed);
  await ctx.done();
});
