// Errors worded for people. The server's problem code decides the words;
// the raw body is never shown.

const FIELD = {
  email: 'Enter a valid email address, like name@example.com.',
  password: 'Use a password of 8 to 72 characters.',
  new_password: 'Use a new password of 8 to 72 characters.',
  current_password: 'Enter your current password.',
  name: 'Enter a name of 1 to 100 characters.',
  title: 'A task needs a title of 1 to 200 characters.',
  description: 'The description can be at most 1000 characters.',
  token: 'This link is incomplete. Open it again from the email.',
};

const CODE = {
  network: 'Cannot reach the server. Check your connection and try again.',
  invalid_credentials: 'The email or password is not right.',
  email_taken: 'An account with this email already exists. Sign in instead.',
  account_disabled: 'This account is disabled.',
  wrong_password: 'The password is not right.',
  invalid_token: 'This link is invalid or has expired. Ask for a new one.',
  external_account: 'Your password is managed by the service you sign in with.',
  not_found: 'That task no longer exists.',
  precondition_failed: 'This task was changed somewhere else.',
  payload_too_large: 'That is too long to save.',
  unavailable: 'The server is busy or down. Try again in a moment.',
  internal: 'Something went wrong on the server. Try again in a moment.',
  idempotency_in_progress: 'Still saving the previous try. Wait a moment.',
  unauthorized: 'Your session has ended. Sign in again.',
};

function seconds(n) {
  return n === 1 ? '1 second' : `${n} seconds`;
}

/** describe turns an error from api.js (or anything thrown) into a sentence. */
export function describe(err, overrides = {}) {
  const code = err?.code;
  if (code && overrides[code]) return overrides[code];
  if (code === 'rate_limited') {
    return err.retryAfter
      ? `Too many attempts. Try again in ${seconds(err.retryAfter)}.`
      : 'Too many attempts. Try again in a minute.';
  }
  if (code === 'validation_failed') {
    const lines = [...new Set(err.fields.map((f) => FIELD[f.field]).filter(Boolean))];
    return lines.length ? lines.join(' ') : 'Check what you entered and try again.';
  }
  if (code && CODE[code]) return CODE[code];
  if (err?.name === 'SignedOut' || err?.reason) return CODE.unauthorized;
  if (err?.status >= 500) return CODE.internal;
  return 'Something went wrong. Try again.';
}
