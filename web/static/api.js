// The REST contract under /api/v1, as the page uses it. Errors are thrown as
// ApiError carrying the problem's code; messages.js words them for people.

import * as session from './session.js';

const BASE = '/api/v1';

/** ApiError is a problem+json answer, or status 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(status, problem = {}, headers = null) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? 'network' : 'unknown');
    this.fields = Array.isArray(problem.errors) ? problem.errors : [];
    const retry = Number(headers?.get('Retry-After'));
    this.retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  }
}

export const { SignedOut } = session;

async function send(method, path, { body, headers = {}, token, keepalive } = {}) {
  const init = { method, headers: { ...headers }, cache: 'no-store', keepalive };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0);
  }
}

async function result(res) {
  let data = null;
  if (res.status !== 204 && res.status !== 304) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) throw new ApiError(res.status, data ?? {}, res.headers);
  return { status: res.status, headers: res.headers, data };
}

/** open calls an endpoint that needs no access token. */
export async function open(method, path, body) {
  return result(await send(method, path, { body }));
}

/**
 * call calls an endpoint as the signed-in user. A 401 renews the access
 * token once (another tab may already have) and retries; a second 401 ends
 * the session. With keepalive (a request that must outlive the page) the
 * pair is never renewed.
 */
export async function call(method, path, opts = {}) {
  let pair = opts.keepalive ? session.stored() : await session.pair();
  let res = await send(method, path, { ...opts, token: pair.access_token });
  if (res.status === 401 && opts.keepalive) throw new ApiError(401, { code: 'unauthorized' });
  if (res.status === 401) {
    pair = await session.renew(pair);
    res = await send(method, path, { ...opts, token: pair.access_token });
    if (res.status === 401) {
      await session.end('expired');
      throw new session.SignedOut('expired');
    }
  }
  return result(res);
}

// Accounts.

export async function signIn(email, password) {
  const { data } = await open('POST', '/auth/login', { email, password });
  await session.begin(data);
}

export async function register(name, email, password) {
  const { data } = await open('POST', '/auth/register', { name, email, password });
  await session.begin(data);
}

/** signOut ends the session on the server (best effort) and in every tab. */
export async function signOut() {
  await session.finish(async (refreshToken) => {
    if (!refreshToken) return;
    try {
      await open('POST', '/auth/logout', { refresh_token: refreshToken });
    } catch {
      // Offline: the tokens are forgotten here all the same.
    }
  });
}

export const requestReset = (email) => open('POST', '/auth/password-reset/request', { email });
export const confirmReset = (token, password) =>
  open('POST', '/auth/password-reset/confirm', { token, new_password: password });
export const verifyEmail = (token) => open('POST', '/auth/verify-email', { token });
export const requestVerification = () => call('POST', '/auth/verify-email/request');

export async function me() {
  const { data } = await call('GET', '/users/me');
  await session.setUser(data);
  return data;
}

export async function rename(name) {
  const { data } = await call('PATCH', '/users/me', { body: { name } });
  await session.setUser(data);
  return data;
}

export const changePassword = (current, next) =>
  call('PUT', '/users/me/password', { body: { current_password: current, new_password: next } });

export async function deleteAccount(password) {
  await call('DELETE', '/users/me', { body: { password } });
  await session.end('deleted');
}

export const sessions = async () => (await call('GET', '/users/me/sessions')).data.items;
export const revokeSession = (id) => call('DELETE', `/users/me/sessions/${encodeURIComponent(id)}`);

// Tasks.

/** listTasks returns one page: {items, next_cursor}. */
export async function listTasks(status, cursor, limit = 25) {
  const q = new URLSearchParams({ status, limit: String(limit) });
  if (cursor) q.set('cursor', cursor);
  return (await call('GET', `/tasks?${q}`)).data;
}

export const stats = async () => (await call('GET', '/tasks/stats')).data;

/** getTask returns {task, etag}. */
export async function getTask(id) {
  const { data, headers } = await call('GET', `/tasks/${id}`);
  return { task: data, etag: headers.get('ETag') };
}

/** createTask sends an Idempotency-Key, so a retry after a lost answer creates nothing twice. */
export async function createTask(title, key) {
  const { data, headers } = await call('POST', '/tasks', { body: { title }, headers: { 'Idempotency-Key': key } });
  return { task: data, etag: headers.get('ETag') };
}

/** updateTask PATCHes fields; with an etag the server refuses (412) if the task changed since. */
export async function updateTask(id, fields, etag) {
  const headers = etag ? { 'If-Match': etag } : {};
  const { data, headers: h } = await call('PATCH', `/tasks/${id}`, { body: fields, headers });
  return { task: data, etag: h.get('ETag') };
}

export const deleteTask = (id, opts = {}) => call('DELETE', `/tasks/${id}`, opts);

/** newKey returns a random Idempotency-Key. */
export function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
