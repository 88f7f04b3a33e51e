// The signed-in session, shared by every tab of the origin.
//
// The token pair lives in IndexedDB, not localStorage: a transaction that
// has committed is visible to every tab that reads after it, whereas a
// localStorage write reaches other tabs' copies some time later. That
// matters because refresh tokens rotate and the server revokes the whole
// session when a spent one is presented again. Refreshing therefore runs in
// one tab at a time, under a lock (the Web Locks API, or a lease kept in
// IndexedDB where that API is missing, as on plain-HTTP origins), and reads
// the pair afresh once it holds the lock: a tab that waited finds the pair
// the other tab stored and uses it instead of spending the old token again.
// A BroadcastChannel tells the other tabs when the pair or the user changes.

const DB = 'todo';
const STORE = 'kv';
const KEY = 'session';
const LEASE = 'lease';
const SKEW_MS = 15_000; // renew this long before the access token expires (at most a quarter of its life)
const LEASE_MS = 40_000; // longer than a refresh may take (REFRESH_TIMEOUT_MS)
const REFRESH_TIMEOUT_MS = 30_000;

/** SignedOut is thrown when there is no session, or it has ended. */
export class SignedOut extends Error {
  constructor(reason) {
    super(`signed out: ${reason}`);
    this.reason = reason;
  }
}

let dbPromise = null;
const memory = new Map(); // where IndexedDB cannot be opened: this tab only

function open() {
  dbPromise ||= new Promise((resolve) => {
    let req;
    try {
      req = indexedDB.open(DB, 1);
    } catch {
      resolve(null);
      return;
    }
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => {
      const db = req.result;
      db.onversionchange = () => db.close();
      resolve(db);
    };
    req.onerror = () => resolve(null);
  });
  return dbPromise;
}

async function read(key) {
  const db = await open();
  if (!db) return memory.get(key);
  return new Promise((resolve, reject) => {
    const r = db.transaction(STORE).objectStore(STORE).get(key);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/**
 * update runs f on the key's value in one read-write transaction and
 * resolves once it has committed. f returns [next, result]: next is stored
 * (undefined deletes the key) and result is what update resolves with.
 */
async function update(key, f) {
  const db = await open();
  if (!db) {
    const [next, result] = f(memory.get(key));
    if (next === undefined) memory.delete(key);
    else memory.set(key, next);
    return result;
  }
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, 'readwrite');
    const store = t.objectStore(STORE);
    let result;
    const r = store.get(key);
    r.onsuccess = () => {
      const [next, out] = f(r.result);
      result = out;
      if (next === undefined) store.delete(key);
      else store.put(next, key);
    };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

const write = (key, value) => update(key, () => [value, undefined]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function randomID() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** exclusive runs fn while no other tab of the origin runs its own. */
function exclusive(fn) {
  if (navigator.locks?.request) return navigator.locks.request('todo.session', () => fn());
  return leased(fn);
}

// leased is the lock without the Web Locks API: a lease taken by a
// compare-and-set in one IndexedDB transaction, which tabs cannot interleave.
// A tab that closes while holding it blocks the others until it expires.
async function leased(fn) {
  const me = randomID();
  const take = (cur) => {
    const free = !cur || cur.until < Date.now() || cur.owner === me;
    return free ? [{ owner: me, until: Date.now() + LEASE_MS }, true] : [cur, false];
  };
  for (let wait = 10; !(await update(LEASE, take)); wait = Math.min(wait * 2, 200)) {
    await sleep(wait + Math.random() * wait);
  }
  try {
    return await fn();
  } finally {
    await update(LEASE, (cur) => [cur?.owner === me ? undefined : cur, undefined]).catch(() => {});
  }
}

let current = null;
const watchers = new Set();
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('todo.session') : null;

function valid(s) {
  return s && typeof s.access_token === 'string' && typeof s.refresh_token === 'string' &&
    typeof s.expires_at === 'number' && s.user && typeof s.user.id === 'string' ? s : null;
}

function fromPair(pair) {
  const life = pair.expires_in * 1000;
  return {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + life,
    skew: Math.min(SKEW_MS, life / 4),
    user: pair.user,
  };
}

const fresh = (s) => s.expires_at - (s.skew ?? SKEW_MS) > Date.now();

function emit(reason) {
  for (const w of watchers) w(current, reason);
}

function announce() {
  channel?.postMessage('changed');
}

if (channel) {
  channel.onmessage = async () => {
    const before = current;
    current = valid(await read(KEY).catch(() => null));
    if (before?.user?.id !== current?.user?.id) emit(current ? 'signed-in' : 'signed-out');
    else if (current && JSON.stringify(before.user) !== JSON.stringify(current.user)) emit('user');
  };
}

/**
 * onChange calls fn(session, reason) when this or another tab signs in or
 * out ('signed-in', 'signed-out', 'expired') or the user record changes ('user').
 */
export function onChange(fn) {
  watchers.add(fn);
}

/** restore reads the stored session, if any. */
export async function restore() {
  current = valid(await read(KEY).catch(() => null));
  return current;
}

/** user is the signed-in user, or null. */
export function user() {
  return current?.user ?? null;
}

/** begin stores the token pair of a login or registration. */
export async function begin(pair) {
  current = fromPair(pair);
  await write(KEY, current);
  announce();
  emit('signed-in');
}

/**
 * setUser stores a changed user record, keeping whatever tokens are newest.
 * Answers can arrive out of order (a GET /users/me sent before a rename or a
 * verification may come back after it): a record older than the stored one,
 * by updated_at, is ignored.
 */
export async function setUser(u) {
  current = await update(KEY, (s) => {
    if (!valid(s)) return [s, null];
    // The contract's timestamps have a fixed form, so they sort as strings.
    const older = s.user.updated_at && u.updated_at && u.updated_at < s.user.updated_at;
    const next = older ? s : { ...s, user: u };
    return [next, next];
  });
  announce();
  emit(current ? 'user' : 'signed-out');
}

/** end forgets the session in every tab. */
export async function end(reason) {
  current = null;
  await write(KEY, undefined).catch(() => {});
  announce();
  emit(reason);
}

/**
 * pair returns the token pair to send, renewed first when its access token
 * is about to expire.
 */
export async function pair() {
  if (!current) throw new SignedOut('signed-out');
  if (fresh(current)) return current;
  return renew(current);
}

/**
 * stored returns the pair as it is, never renewing it: for requests sent as
 * the page goes away, when a refresh whose answer never arrived would leave
 * only a spent refresh token behind (and the server ends a session whose
 * spent token comes back).
 */
export function stored() {
  if (!current) throw new SignedOut('signed-out');
  return current;
}

let renewing = null;

/**
 * renew returns a pair newer than stale: the one another tab has just
 * stored, or one this tab gets by spending the refresh token. Pairs are told
 * apart by their refresh tokens, which are random; two access tokens of one
 * session issued within the same second can be identical. Calls in one tab
 * share one renewal; tabs take turns.
 */
export function renew(stale) {
  renewing ||= exclusive(() => renewLocked(stale)).finally(() => {
    renewing = null;
  });
  return renewing;
}

async function renewLocked(stale) {
  const s = valid(await read(KEY));
  if (!s) {
    if (current) {
      current = null;
      emit('expired');
    }
    throw new SignedOut('expired');
  }
  if (s.refresh_token !== stale.refresh_token && fresh(s)) {
    current = s;
    return s;
  }
  let res;
  try {
    res = await fetch('/api/v1/auth/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: s.refresh_token }),
      cache: 'no-store',
      signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS),
    });
  } catch (err) {
    // Offline, or no answer: the stored pair may still be good, keep it.
    throw Object.assign(new Error('network'), { status: 0, code: 'network', cause: err });
  }
  if (res.status === 401) {
    // Expired, revoked or signed out elsewhere: the session is over.
    await end('expired');
    throw new SignedOut('expired');
  }
  if (!res.ok) {
    let problem = {};
    try {
      problem = await res.json();
    } catch {
      // not a problem body
    }
    throw Object.assign(new Error('refresh'), { status: res.status, code: problem.code || 'unknown', fields: [] });
  }
  current = fromPair(await res.json());
  await write(KEY, current);
  announce();
  return current;
}

/**
 * finish ends the session in every tab: under the lock, so that no renewal
 * runs meanwhile, it passes the newest stored refresh token to fn (which
 * logs it out on the server) and forgets the pair.
 */
export async function finish(fn) {
  await exclusive(async () => {
    const s = valid(await read(KEY).catch(() => null));
    await fn(s?.refresh_token ?? null);
    current = null;
    await write(KEY, undefined).catch(() => {});
  });
  announce();
  emit('signed-out');
}
