// supabase-js 2.84.0, the version TorexTalkWeb pins, against a running TalkApp's
// Supabase-compatible routes (/auth/v1): sign up, sign in, refresh, read the user, sign
// out, and the errors the frontend meets. Exits non-zero on the first mismatch.
//
//   node test.mjs http://127.0.0.1:8080 [anon key]
//
// The Rust test `supabase::supabase_js_*` (talkapp/tests/it/supabase.rs) starts a backend
// and runs this; `npm ci` in this folder first (.ci/run does).

import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const baseUrl = process.argv[2];
const anonKey = process.argv[3] || 'any-anon-key';
if (!baseUrl || !/^https?:\/\//.test(baseUrl)) {
  console.error('usage: node test.mjs <TalkApp base URL, e.g. http://127.0.0.1:8080> [anon key]');
  process.exit(2);
}

const PASSWORD = 'correct horse battery';
const email = `supabase-js-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.com`;

// The browser's localStorage, shared by every client as the frontend's clients share it
// (it creates several with the same URL, hence the same storage key).
function sharedStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, value),
    removeItem: (key) => items.delete(key),
  };
}
const storage = sharedStorage();
const clients = [];
function client() {
  const created = createClient(baseUrl, anonKey, { auth: { storage } });
  clients.push(created);
  return created;
}

let step = 'start';
function check(name) {
  step = name;
}
function passed() {
  console.log(`ok - ${step}`);
}

async function talkappMe(accessToken) {
  const response = await fetch(`${baseUrl}/auth/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: await response.json() };
}

function assertSession(session, what) {
  assert.ok(session, `${what}: a session`);
  assert.equal(typeof session.access_token, 'string', `${what}: access_token`);
  assert.equal(typeof session.refresh_token, 'string', `${what}: refresh_token`);
  assert.equal(session.token_type, 'bearer', `${what}: token_type`);
  assert.ok(session.expires_in > 90, `${what}: expires_in > 90 s, or supabase-js refreshes in a loop`);
  assert.ok(session.expires_at > Date.now() / 1000, `${what}: expires_at in the future`);
  assert.ok(session.user, `${what}: every session carries its user (the frontend logs out otherwise)`);
  assert.equal(session.user.email, email, `${what}: user.email`);
  assert.equal(session.user.aud, 'authenticated', `${what}: user.aud`);
  assert.equal(session.user.role, 'authenticated', `${what}: user.role`);
  assert.equal(session.user.app_metadata.provider, 'email', `${what}: app_metadata.provider`);
  assert.deepEqual(session.user.app_metadata.providers, ['email'], `${what}: app_metadata.providers`);
  assert.equal(typeof session.user.user_metadata, 'object', `${what}: user_metadata`);
  assert.equal(typeof session.user.created_at, 'string', `${what}: created_at`);
}

async function main() {
  const auth = client();
  const events = [];
  auth.auth.onAuthStateChange((event, session) => events.push({ event, session }));

  check('signUp answers a session with the new, confirmed user');
  const signedUp = await auth.auth.signUp({ email, password: PASSWORD });
  assert.equal(signedUp.error, null, `signUp error: ${signedUp.error?.message}`);
  assertSession(signedUp.data.session, 'signUp');
  assert.equal(signedUp.data.user.email, email);
  assert.ok(signedUp.data.user.email_confirmed_at, 'confirmed at once');
  const userId = signedUp.data.user.id;
  passed();

  check('the access token is accepted by the rest of TalkApp');
  const me = await talkappMe(signedUp.data.session.access_token);
  assert.equal(me.status, 200);
  assert.equal(me.body.id, userId);
  passed();

  check('signing up the same email again is user_already_exists (422)');
  const again = await client().auth.signUp({ email, password: PASSWORD });
  assert.ok(again.error, 'an error');
  assert.equal(again.error.status, 422);
  assert.equal(again.error.code, 'user_already_exists');
  assert.equal(again.data.session, null);
  passed();

  check('a short password is an AuthWeakPasswordError with reason length');
  const weak = await client().auth.signUp({ email: `weak-${email}`, password: 'short' });
  assert.ok(weak.error, 'an error');
  assert.equal(weak.error.name, 'AuthWeakPasswordError');
  assert.equal(weak.error.status, 422);
  assert.deepEqual(weak.error.reasons, ['length']);
  passed();

  check('signOut after signUp ends the session');
  assert.equal((await auth.auth.signOut()).error, null);
  assert.equal((await auth.auth.getSession()).data.session, null);
  passed();

  check('a wrong password is invalid_credentials (400)');
  const wrong = await auth.auth.signInWithPassword({ email, password: 'not the password' });
  assert.ok(wrong.error, 'an error');
  assert.equal(wrong.error.name, 'AuthApiError');
  assert.equal(wrong.error.status, 400);
  assert.equal(wrong.error.code, 'invalid_credentials');
  assert.equal(wrong.error.message, 'Invalid login credentials');
  passed();

  check('signInWithPassword answers a session with the user');
  const signedIn = await auth.auth.signInWithPassword({ email, password: PASSWORD });
  assert.equal(signedIn.error, null, `signIn error: ${signedIn.error?.message}`);
  assertSession(signedIn.data.session, 'signInWithPassword');
  assert.equal(signedIn.data.user.id, userId);
  assert.ok(signedIn.data.user.last_sign_in_at, 'last_sign_in_at');
  const firstRefreshToken = signedIn.data.session.refresh_token;
  passed();

  check('refreshSession rotates the refresh token and keeps the user');
  const refreshed = await auth.auth.refreshSession();
  assert.equal(refreshed.error, null, `refresh error: ${refreshed.error?.message}`);
  assertSession(refreshed.data.session, 'refreshSession');
  assert.notEqual(refreshed.data.session.refresh_token, firstRefreshToken);
  assert.equal(refreshed.data.user.id, userId);
  const successor = refreshed.data.session.refresh_token;
  const meAfterRefresh = await talkappMe(refreshed.data.session.access_token);
  assert.equal(meAfterRefresh.status, 200);
  passed();

  check('another client presenting the just-spent token gets the same successor');
  const other = client();
  const replayed = await other.auth.refreshSession({ refresh_token: firstRefreshToken });
  assert.equal(replayed.error, null, `replayed refresh error: ${replayed.error?.message}`);
  assertSession(replayed.data.session, 'replayed refresh');
  assert.equal(replayed.data.session.refresh_token, successor);
  passed();

  check('getUser reads the signed-in user');
  const current = await auth.auth.getUser();
  assert.equal(current.error, null, `getUser error: ${current.error?.message}`);
  assert.equal(current.data.user.id, userId);
  assert.equal(current.data.user.email, email);
  passed();

  check('signInWithOAuth comes back with an error in the fragment');
  const oauth = await client().auth.signInWithOAuth({
    provider: 'google',
    options: { redirectTo: `${baseUrl}/`, skipBrowserRedirect: true },
  });
  assert.equal(oauth.error, null);
  const authorize = await fetch(oauth.data.url, { redirect: 'manual' });
  assert.equal(authorize.status, 302);
  const location = new URL(authorize.headers.get('location'));
  assert.equal(location.origin, new URL(baseUrl).origin);
  const fragment = new URLSearchParams(location.hash.substring(1));
  assert.equal(fragment.get('error'), 'invalid_request');
  assert.ok(fragment.get('error_description'), 'error_description');
  passed();

  check('signOut answers 204 and ends the session at TalkApp');
  const lastAccessToken = (await auth.auth.getSession()).data.session.access_token;
  const lastRefreshToken = (await auth.auth.getSession()).data.session.refresh_token;
  const signedOut = await auth.auth.signOut();
  assert.equal(signedOut.error, null, `signOut error: ${signedOut.error?.message}`);
  assert.equal((await auth.auth.getSession()).data.session, null);
  assert.equal((await talkappMe(lastAccessToken)).status, 401);
  const afterLogout = await client().auth.refreshSession({ refresh_token: lastRefreshToken });
  assert.ok(afterLogout.error, 'a refresh after logout fails');
  assert.equal(afterLogout.error.status, 400);
  passed();

  check('the auth events carried a user in every session');
  const names = events.map(({ event }) => event);
  for (const expected of ['SIGNED_IN', 'TOKEN_REFRESHED', 'SIGNED_OUT']) {
    assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
  }
  for (const { event, session } of events) {
    if (session) {
      assert.ok(session.user, `${event} carries a user`);
    }
  }
  passed();
}

try {
  await main();
  console.log('all supabase-js checks passed');
  for (const created of clients) {
    created.auth.stopAutoRefresh();
  }
  process.exit(0);
} catch (error) {
  console.error(`not ok - ${step}`);
  console.error(error);
  process.exit(1);
}
