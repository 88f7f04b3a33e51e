// The task list: add, filter, toggle, inline edit, delete with Undo, and
// more pages loaded as the list scrolls to its end.
//
// Changes show at once and roll back if the server refuses them. A delete
// is held back for UNDO_MS: Undo only puts the task back on the page, so it
// keeps its id, its place and its dates; the DELETE goes out when the
// window closes, when another delete replaces it, on sign-out, or (with
// keepalive) when the page is closed.

import * as api from './api.js';
import { h, replace, alertBox, id as newID } from './dom.js';
import { describe } from './messages.js';

const UNDO_MS = 8000;
const PAGE = 25;
const FILTERS = [['all', 'All'], ['pending', 'Pending'], ['completed', 'Completed']];
const FILTER_KEY = 'todo.filter';

// Deletes waiting for their Undo window, by task id, across views.
const pending = new Map();

/** flushPending sends every delete still waiting for its Undo window. */
export async function flushPending(opts = {}) {
  const waits = [...pending.keys()].map((id) => commitDelete(id, opts));
  await Promise.allSettled(waits);
}

async function commitDelete(id, opts = {}) {
  const p = pending.get(id);
  if (!p) return;
  pending.delete(id);
  clearTimeout(p.timer);
  p.onCommit?.();
  try {
    await api.deleteTask(id, opts);
  } catch (err) {
    if (err.code === 'not_found') return; // gone already: what was asked
    p.onFail?.(err);
  }
}

const quote = (s) => `“${s}”`;

function matches(filter, task) {
  return filter === 'all' || (filter === 'completed') === task.completed;
}

/** tasksView is the signed-in home page. */
export function tasksView({ user }) {
  let filter = sessionStorage.getItem(FILTER_KEY);
  if (!FILTERS.some(([f]) => f === filter)) filter = 'all';

  const alert = alertBox();
  const title = h('h1', { tabindex: '-1', 'data-user-name': '', text: user.name });
  const counts = h('p', { class: 'counts' });

  // Add.
  const newTask = h('input', { type: 'text', id: 'new-task', autocomplete: 'off', enterkeyhint: 'done' });
  const addForm = h('form', { class: 'add', novalidate: true },
    h('label', { htmlFor: 'new-task', text: 'New task' }),
    h('div', { class: 'row' }, newTask, h('button', { type: 'submit', class: 'primary', text: 'Add' })));
  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    add();
  });

  // Filters.
  const filterButtons = FILTERS.map(([value, label]) => h('button', {
    type: 'button',
    'aria-pressed': String(value === filter),
    text: label,
    onclick: () => setFilter(value),
  }));
  const filters = h('div', { class: 'filters', role: 'group', 'aria-label': 'Show' }, filterButtons);

  // The list and what follows it.
  const list = h('ul', { class: 'tasks', 'aria-label': 'Tasks' });
  const more = h('p', { class: 'more' });
  const toast = h('div', { class: 'toast', role: 'status' });

  const el = h('section', { class: 'tasks-view' }, title, counts, addForm, alert.el, filters, list, more, toast);

  // items: the rows on the page, in order; each {task, etag, li}.
  let items = [];
  let cursor = null;
  let done = false;
  let loading = false;
  let generation = 0;

  function status(text) {
    more.textContent = text;
  }

  function emptyText() {
    return { all: 'No tasks yet. Add one above.', pending: 'Nothing pending.', completed: 'Nothing completed yet.' }[filter];
  }

  function showEnd() {
    if (loading) return;
    status(done ? (items.length ? '' : emptyText()) : '');
  }

  async function loadMore() {
    if (loading || done) return;
    loading = true;
    const gen = generation;
    status('Loading…');
    try {
      const page = await api.listTasks(filter, cursor, PAGE);
      if (gen !== generation) return;
      const seen = new Set(items.map((i) => i.task.id));
      for (const task of page.items) {
        if (seen.has(task.id) || pending.has(task.id)) continue;
        const item = { task, etag: null };
        item.li = row(item);
        items.push(item);
        list.append(item.li);
      }
      cursor = page.next_cursor;
      done = !cursor;
    } catch (err) {
      if (gen !== generation) return;
      if (err.reason) return; // signed out: the page is about to change
      alert.show(`The tasks could not be loaded. ${describe(err)}`);
      done = true;
      status('');
      const retry = h('button', { type: 'button', class: 'ghost', text: 'Try again', onclick: () => { done = false; alert.clear(); loadMore(); } });
      replace(more, retry);
      return;
    } finally {
      if (gen === generation) loading = false;
    }
    showEnd();
    // The observer reports changes only: when the end is still in view
    // after this page, ask for the next one now.
    requestAnimationFrame(() => {
      if (!done && el.isConnected && more.getBoundingClientRect().top < innerHeight + 400) loadMore();
    });
  }

  const observer = new IntersectionObserver((entries) => {
    if (!el.isConnected) observer.disconnect(); // the view was left
    else if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: '0px 0px 400px 0px' });

  function reset() {
    generation += 1;
    items = [];
    cursor = null;
    done = false;
    loading = false;
    list.replaceChildren();
    loadMore();
  }

  function setFilter(value) {
    if (value === filter) return;
    filter = value;
    sessionStorage.setItem(FILTER_KEY, value);
    filterButtons.forEach((b, i) => b.setAttribute('aria-pressed', String(FILTERS[i][0] === value)));
    alert.clear();
    reset();
  }

  let countsTimer = 0;
  function refreshCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(async () => {
      try {
        const s = await api.stats();
        counts.textContent = s.total === 0 ? '' : `${s.pending} pending, ${s.completed} completed`;
      } catch {
        // The counts are a courtesy; the list shows the errors that matter.
      }
    }, 250);
  }

  // A row and its parts. The checkbox's accessible name is the title; the
  // buttons' names are "Edit TITLE" and "Delete TITLE" (visible: Edit, Delete).
  function row(item) {
    const li = h('li', { class: 'task' });
    fill(item, li);
    return li;
  }

  function fill(item, li = item.li) {
    const t = item.task;
    const saving = typeof t.id === 'string';
    const box = h('input', { type: 'checkbox', id: newID('task'), checked: t.completed, disabled: saving });
    box.addEventListener('change', () => toggle(item, box.checked));
    const label = h('label', { htmlFor: box.id, class: 'title', text: t.title });
    const body = h('div', { class: 'body' }, label, t.description ? h('p', { class: 'desc', text: t.description }) : null);
    const actions = h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'ghost', disabled: saving, onclick: () => startEdit(item) }, 'Edit', h('span', { class: 'vh', text: ` ${t.title}` })),
      h('button', { type: 'button', class: 'ghost danger', disabled: saving, onclick: () => remove(item) }, 'Delete', h('span', { class: 'vh', text: ` ${t.title}` })));
    li.classList.toggle('completed', t.completed);
    li.classList.toggle('saving', saving);
    replace(li, box, body, actions);
  }

  const editButton = (item) => item.li.querySelector('.actions button');

  // Focus goes to the row that takes the place of one leaving the page.
  function focusNear(index) {
    const next = items[index] ?? items[index - 1];
    (next ? next.li.querySelector('input') : newTask).focus();
  }

  function detach(item) {
    const index = items.indexOf(item);
    if (index < 0) return -1;
    const hadFocus = item.li.contains(document.activeElement);
    items.splice(index, 1);
    item.li.remove();
    if (hadFocus) focusNear(index);
    showEnd();
    return index;
  }

  function attach(item, index) {
    const at = Math.min(Math.max(index, 0), items.length);
    items.splice(at, 0, item);
    list.insertBefore(item.li, items[at + 1]?.li ?? null);
    showEnd();
  }

  // Add: the row shows at once, marked as saving; it gets its id from the
  // server, or goes away again with the text back in the box.
  async function add() {
    const text = newTask.value.trim();
    if (!text) {
      alert.show('Type a task first.');
      newTask.focus();
      return;
    }
    alert.clear();
    const key = api.newKey();
    const now = new Date().toISOString();
    const item = { task: { id: `new-${key}`, title: text, description: null, completed: false, created_at: now, updated_at: now, completed_at: null }, etag: null };
    item.li = row(item);
    const shown = matches(filter, item.task);
    if (shown) attach(item, 0);
    newTask.value = '';
    const gen = generation;
    try {
      let res;
      try {
        res = await api.createTask(text, key);
      } catch (err) {
        if (err.code !== 'network' && err.code !== 'idempotency_in_progress') throw err;
        // The answer may have been lost after the task was made: the same
        // Idempotency-Key makes the retry return it instead of a second one.
        await new Promise((r) => setTimeout(r, 1000));
        res = await api.createTask(text, key);
      }
      item.task = res.task;
      item.etag = res.etag;
      if (shown && gen === generation) fill(item);
      refreshCounts();
    } catch (err) {
      if (shown) detach(item);
      if (!newTask.value) newTask.value = text;
      alert.show(`${quote(text)} was not added. ${describe(err)}`);
    }
  }

  // Toggle: PATCH completed to the box's new state (not POST /toggle), so a
  // click means "done" or "not done" even if another device flipped it. One
  // row's PATCHes go one after another, so the last click is the state that
  // stays, on the server and here.
  function toggle(item, completed) {
    const before = item.task;
    item.task = { ...before, completed, completed_at: completed ? new Date().toISOString() : null };
    let index = -1;
    if (matches(filter, item.task)) fill(item);
    else index = detach(item);
    if (item.li.isConnected) item.li.querySelector('input').focus();
    item.queue = (item.queue ?? Promise.resolve()).then(() => sendToggle(item, before, completed, index));
  }

  async function sendToggle(item, before, completed, index) {
    try {
      const res = await api.updateTask(before.id, { completed });
      if (item.task.completed !== completed) return; // a later click is on its way
      item.task = res.task;
      item.etag = res.etag;
      if (item.li.isConnected) fill(item);
      refreshCounts();
    } catch (err) {
      if (err.code === 'not_found') {
        detach(item);
        alert.show(`${quote(before.title)} no longer exists.`);
        return;
      }
      item.task = before;
      if (index >= 0) attach(item, index);
      const focused = item.li.contains(document.activeElement);
      fill(item);
      if (focused) item.li.querySelector('input').focus();
      alert.show(`${quote(before.title)} was not changed. ${describe(err)}`);
    }
  }

  // Edit: the title becomes a textbox; the task's current version and ETag
  // are fetched meanwhile, and the save is conditional on that ETag, so a
  // change made elsewhere is shown instead of overwritten.
  function startEdit(item) {
    if (item.editing) return;
    alert.clear();
    const original = item.task.title;
    const box = h('input', { type: 'text', 'aria-label': 'Title', value: original, autocomplete: 'off' });
    const save = h('button', { type: 'button', class: 'primary', text: 'Save' });
    const cancel = h('button', { type: 'button', class: 'ghost', text: 'Cancel' });
    const form = h('div', { class: 'edit' }, box, save, cancel);
    item.editing = { box };
    replace(item.li, form);
    item.li.classList.add('editing');
    box.focus();
    box.select();

    const latest = api.getTask(item.task.id).then(
      ({ task, etag }) => {
        item.etag = etag;
        if (task.updated_at !== item.task.updated_at || task.title !== item.task.title) {
          item.task = task;
          // Untouched text follows the newer title; typed text stays.
          if (item.editing && box.value === original) {
            box.value = task.title;
            box.select();
            alert.show(`This task was changed somewhere else; the box shows its newest title, ${quote(task.title)}.`);
          }
        }
        return true;
      },
      (err) => {
        if (err.code === 'not_found') {
          item.editing = null;
          detach(item);
          alert.show(`${quote(original)} no longer exists.`);
        } else if (!err.reason) {
          alert.show(describe(err));
        }
        return false;
      });

    const close = () => {
      item.editing = null;
      item.li.classList.remove('editing');
      fill(item);
      editButton(item).focus();
    };

    const commit = async () => {
      const text = box.value.trim();
      if (!text) {
        alert.show('A task needs a title.');
        box.focus();
        return;
      }
      if (!(await latest) || !item.editing) return;
      if (text === item.task.title) {
        close();
        return;
      }
      const before = item.task;
      item.task = { ...before, title: text };
      close();
      try {
        const res = await api.updateTask(before.id, { title: text }, item.etag);
        item.task = res.task;
        item.etag = res.etag;
      } catch (err) {
        item.task = before;
        if (err.code === 'precondition_failed') {
          try {
            const fresh = await api.getTask(before.id);
            item.task = fresh.task;
            item.etag = fresh.etag;
            alert.show(`This task was changed somewhere else, so your edit (${quote(text)}) was not saved. It now reads ${quote(fresh.task.title)}.`);
          } catch (e2) {
            if (e2.code === 'not_found') {
              detach(item);
              alert.show(`${quote(before.title)} was deleted somewhere else.`);
              return;
            }
            alert.show(describe(e2));
          }
        } else if (err.code === 'not_found') {
          detach(item);
          alert.show(`${quote(before.title)} was deleted somewhere else.`);
          return;
        } else {
          alert.show(`Your edit was not saved. ${describe(err)}`);
        }
      }
      if (item.li.isConnected) {
        const focused = item.li.contains(document.activeElement);
        fill(item);
        if (focused) editButton(item).focus();
      }
    };

    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        commit();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        close();
      }
    });
    save.addEventListener('click', commit);
    cancel.addEventListener('click', close);
  }

  // Delete: the row leaves at once; Undo puts it back where it was.
  let undoFor = null;
  let undoIndex = 0;
  let toastTimer = 0;
  let hovered = false;

  function remove(item) {
    const id = item.task.id;
    // Only the newest delete is offered for Undo; an earlier one goes now.
    for (const other of pending.keys()) commitDelete(other).then(refreshCounts);
    const index = detach(item);
    undoIndex = index;
    const gen = generation;
    pending.set(id, {
      onCommit: () => {
        if (undoFor === id) hideToast();
      },
      onFail: (err) => {
        if (gen === generation && el.isConnected) attach(item, index);
        alert.show(`${quote(item.task.title)} was not deleted. ${describe(err)}`);
      },
    });
    undoFor = id;
    const undo = h('button', { type: 'button', class: 'ghost', text: 'Undo' });
    undo.addEventListener('click', () => {
      const p = pending.get(id);
      if (!p) return;
      pending.delete(id);
      clearTimeout(p.timer);
      hideToast(false);
      if (gen === generation) attach(item, index);
      else reset();
      toast.textContent = `Restored ${quote(item.task.title)}.`;
      clearTimeout(toastTimer);
      toastTimer = setTimeout(() => { if (!undoFor) toast.replaceChildren(); }, 4000);
      if (item.li.isConnected) item.li.querySelector('input').focus();
      else newTask.focus();
    });
    replace(toast, h('span', { text: `Deleted ${quote(item.task.title)}.` }), undo);
    toast.classList.add('open');
    undo.focus();
    armToast(id, UNDO_MS);
  }

  function armToast(id, ms) {
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      if (hovered) {
        armToast(id, 1000);
        return;
      }
      commitDelete(id).then(refreshCounts);
    }, ms);
    const p = pending.get(id);
    if (p) p.timer = toastTimer;
  }

  function hideToast(moveFocus = true) {
    const hadFocus = toast.contains(document.activeElement);
    undoFor = null;
    toast.classList.remove('open');
    toast.replaceChildren();
    if (hadFocus && moveFocus) focusNear(undoIndex);
  }

  toast.addEventListener('pointerenter', () => { hovered = true; });
  toast.addEventListener('pointerleave', () => { hovered = false; });

  observer.observe(more);
  reset();
  refreshCounts();
  return { el, title: 'Tasks' };
}
