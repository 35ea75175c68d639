// An example single-page app signing a user in with OpenID Connect: the
// authorization code flow with PKCE (RFC 7636, S256 through WebCrypto) and
// a nonce, pushed to the server first (PAR, RFC 9126) so the browser's URL
// carries only a reference, and an ID token validated here, in the browser
// (oidc.js), before the app believes who signed in. Every token is bound
// to the browser's DPoP key (RFC 9449, dpop.js): a token copied out of the
// page is useless without a proof by that key, which cannot be copied. The access and ID tokens live in memory
// only; the refresh token is an HttpOnly cookie the app never sees, sent by
// the browser to the token endpoint. Sign-out revokes the refresh token and
// ends the session at the issuer's end_session_endpoint (RP-Initiated
// Logout 1.0), which sends the browser back here.

import { IDTokenError, b64url, discover, jwtPart, validateIDToken } from './oidc.js';
import { fetchWithToken, post } from './dpop.js';

const issuer = location.origin;
// The app's own URL: its redirect URI and its post-logout redirect URI,
// both registered for the client.
const redirectUri = location.origin + location.pathname;
// openid profile email: an ID token with the user's name and email;
// inventory:read: the example API.
const scope = 'openid profile email inventory:read';

// The session, in memory only: a reload starts again from the cookie.
let accessToken = null;
let idToken = null; // the raw ID token: the id_token_hint at sign-out
let identity = null; // its validated claims

function $(id) { return document.getElementById(id); }

function random(n) { return b64url(crypto.getRandomValues(new Uint8Array(n))); }

async function challengeOf(verifier) {
  return b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

function clientId() {
  const fromURL = new URLSearchParams(location.search).get('client_id');
  if (fromURL) sessionStorage.setItem('client_id', fromURL);
  return sessionStorage.getItem('client_id');
}

// take removes an item from sessionStorage and returns it: every stored
// request value (state, verifier, nonce) is used once.
function take(name) {
  const v = sessionStorage.getItem(name);
  sessionStorage.removeItem(name);
  return v;
}

function show(signedIn, status) {
  $('signed-in').hidden = !signedIn;
  $('signed-out').hidden = signedIn;
  $('status').textContent = status;
}

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

// tokenRequest posts to the token endpoint with a DPoP proof: the access
// token, and the refresh token family behind the cookie, are bound to the
// browser's key (a refresh needs a proof by it too).
async function tokenRequest(params) {
  const doc = await discover(issuer);
  const { resp, body } = await post(doc.token_endpoint, params);
  if (!resp.ok) throw new Error(body.error + (body.error_description ? ': ' + body.error_description : ''));
  if (body.token_type !== 'DPoP') throw new Error('the token is not DPoP-bound');
  return body;
}

// accept takes a token response only when its ID token validates (want:
// the nonce on sign-in, the previous claims on a refresh) and UserInfo
// confirms the same subject (Core §5.3.4); nothing of it is kept
// otherwise.
async function accept(body, kind, want) {
  if (!body.id_token) throw new IDTokenError('the token response has none');
  const v = await validateIDToken(body.id_token, { issuer, clientId: clientId(), accessToken: body.access_token, ...want });
  const doc = await discover(issuer);
  const resp = await fetchWithToken(doc.userinfo_endpoint, body.access_token);
  if (!resp.ok) throw new Error('UserInfo: HTTP ' + resp.status);
  const info = await resp.json();
  if (info.sub !== v.claims.sub) throw new IDTokenError('UserInfo is about another subject');
  accessToken = body.access_token;
  idToken = body.id_token;
  identity = v.claims;
  render(v, kind, want.nonce);
}

// render shows who signed in, from the validated ID token, and what was
// checked in it.
function render(v, kind, nonce) {
  const c = v.claims;
  $('name').textContent = c.name || c.preferred_username || '(no name)';
  $('email').textContent = c.email || '(no email)';
  $('email-verified').textContent = c.email_verified ? 'verified' : 'not verified';
  $('subject').textContent = c.sub;
  $('expiry').textContent = new Date(jwtPart(accessToken.split('.')[1]).exp * 1000).toLocaleTimeString();
  const rows = [
    ['signature', v.header.alg + ', key ' + v.header.kid + ' of the issuer\'s JWKS'],
    ['iss', c.iss],
    ['aud', [].concat(c.aud).join(' ') + (c.azp ? ' (azp ' + c.azp + ')' : '')],
    ['exp', new Date(c.exp * 1000).toLocaleTimeString()],
    ['auth_time', c.auth_time ? new Date(c.auth_time * 1000).toLocaleTimeString() : '(none)'],
    ['nonce', nonce !== undefined ? 'matches the sign-in request' : 'none on a refresh'],
    ['at_hash', 'matches the access token'],
    ['sub', kind === 'refresh' && v.checks.includes('same-sub') ? 'unchanged by the refresh' : c.sub],
    ['UserInfo', 'confirms the subject'],
  ];
  const dl = $('claims');
  dl.replaceChildren();
  for (const [name, value] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  }
  // For the browser test: what was verified, how, and when.
  dl.dataset.idTokenVerified = kind;
  dl.dataset.checks = v.checks.join(' ');
  dl.dataset.alg = v.header.alg;
  dl.dataset.sub = c.sub;
  dl.dataset.nonce = c.nonce || '';
  dl.dataset.iat = String(c.iat);
  dl.dataset.verifications = String(Number(dl.dataset.verifications || 0) + 1);
}

// discard forgets the session after a failure, and revokes the refresh
// cookie so a reload cannot resume what was refused.
async function discard() {
  accessToken = idToken = identity = null;
  try { await revokeRefreshCookie(); } catch { /* signed out here either way */ }
}

async function signIn() {
  clearError();
  const doc = await discover(issuer);
  const verifier = random(32);
  const state = random(16);
  const nonce = random(16);
  sessionStorage.setItem('pkce_verifier', verifier);
  sessionStorage.setItem('oauth_state', state);
  sessionStorage.setItem('oidc_nonce', nonce);
  // The request is pushed with a DPoP proof (PAR, RFC 9449 §10.1): its
  // code can be redeemed only with this browser's key. Errors come back
  // here, as JSON, rather than on a page.
  const { resp, body } = await post(doc.pushed_authorization_request_endpoint, {
    response_type: 'code', client_id: clientId(), redirect_uri: redirectUri, scope: scope,
    state: state, nonce: nonce, code_challenge: await challengeOf(verifier), code_challenge_method: 'S256',
  });
  if (resp.status !== 201) throw new Error(body.error + (body.error_description ? ': ' + body.error_description : ''));
  const q = new URLSearchParams({ client_id: clientId(), request_uri: body.request_uri });
  location.assign(doc.authorization_endpoint + '?' + q.toString());
}

async function callback(q) {
  const state = take('oauth_state');
  const verifier = take('pkce_verifier');
  const nonce = take('oidc_nonce');
  history.replaceState(null, '', location.pathname);
  // RFC 9207: the response must come from our issuer, for our request.
  if (!state || q.get('state') !== state || q.get('iss') !== issuer) throw new Error('unexpected authorization response');
  if (q.get('error')) throw new Error(q.get('error') + ': ' + (q.get('error_description') || ''));
  const body = await tokenRequest({
    grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectUri,
    client_id: clientId(), code_verifier: verifier,
  });
  // A stored nonce that is missing is a mismatch too (validateIDToken).
  await accept(body, 'sign-in', { nonce: nonce || '' });
}

// refresh uses the HttpOnly refresh cookie; the body carries no token.
// The new ID token is validated like the first, without a nonce, and must
// name the same user (Core §12.2).
async function refresh() {
  const body = await tokenRequest({ grant_type: 'refresh_token', client_id: clientId() });
  await accept(body, 'refresh', { previous: identity });
}

async function loadItems() {
  const resp = await fetchWithToken(new URL('/v1/inventory/items', location.origin).href, accessToken);
  if (!resp.ok) throw new Error('inventory: HTTP ' + resp.status);
  const body = await resp.json();
  const list = $('items');
  list.replaceChildren();
  for (const item of body.items || []) {
    const li = document.createElement('li');
    li.textContent = item.name + ' × ' + (item.quantity || 0);
    list.append(li);
  }
}

// revokeRefreshCookie revokes the refresh token (its family and the access
// tokens issued from it) and clears its cookie (RFC 7009).
async function revokeRefreshCookie() {
  const doc = await discover(issuer);
  await fetch(doc.revocation_endpoint || '/oauth2/revoke', {
    method: 'POST', credentials: 'include',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId() }),
  });
}

// signOut revokes the refresh token, then ends the session at the
// end_session_endpoint: with the ID token as id_token_hint the issuer ends
// it at once and sends the browser back to the post-logout URI with our
// state. The form is a POST so the ID token is in no URL, history or log.
async function signOut() {
  const doc = await discover(issuer);
  await revokeRefreshCookie();
  const state = random(16);
  sessionStorage.setItem('logout_state', state);
  const params = { client_id: clientId(), post_logout_redirect_uri: redirectUri, state: state };
  if (idToken) params.id_token_hint = idToken;
  accessToken = idToken = identity = null;
  const form = document.createElement('form');
  form.method = 'POST';
  form.action = doc.end_session_endpoint;
  form.hidden = true;
  for (const [name, value] of Object.entries(params)) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();
}

// signedOut is the return from the end_session_endpoint: it must carry the
// state of our logout request.
function signedOut(q) {
  const state = take('logout_state');
  history.replaceState(null, '', location.pathname);
  show(false, 'Signed out.');
  if (!state || q.get('state') !== state) {
    fail('unexpected sign-out response');
    return;
  }
  $('status').textContent = 'You have signed out.';
}

async function start() {
  $('signin').addEventListener('click', () => signIn().catch((e) => fail(e.message)));
  $('refresh').addEventListener('click', async () => {
    $('refreshed').hidden = true;
    try {
      await refresh();
    } catch (e) {
      await discard();
      show(false, 'Signed out.');
      fail(e.message);
      return;
    }
    $('refreshed').textContent = 'Token refreshed at ' + new Date().toLocaleTimeString() + '; its new ID token is verified.';
    $('refreshed').hidden = false;
    await loadItems().catch((e) => fail(e.message));
  });
  $('signout').addEventListener('click', () => signOut().catch((e) => fail(e.message)));
  if (!clientId()) { show(false, 'Open this page with ?client_id=<your SPA client>.'); return; }
  const q = new URLSearchParams(location.search);
  if (q.has('state') && !q.has('code') && !q.has('error')) {
    signedOut(q);
    return;
  }
  try {
    if (q.has('code') || q.has('error')) {
      await callback(q);
    } else {
      // A returning user: a silent refresh through the cookie.
      let body;
      try { body = await tokenRequest({ grant_type: 'refresh_token', client_id: clientId() }); } catch { show(false, 'Signed out.'); return; }
      await accept(body, 'refresh', {});
    }
  } catch (e) {
    await discard();
    show(false, 'Signed out.');
    fail(e.message);
    return;
  }
  show(true, 'Signed in.');
  await loadItems().catch((e) => fail(e.message));
}

start();
