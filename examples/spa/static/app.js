// An example single-page app signing a user in with the authorization
// code flow and PKCE (RFC 7636, S256 through WebCrypto). The access token
// lives in memory only; the refresh token is an HttpOnly cookie the app
// never sees, sent by the browser to the token endpoint.
'use strict';

const issuer = location.origin;
const redirectUri = location.origin + location.pathname;
const scope = 'inventory:read';
let accessToken = null;

function $(id) { return document.getElementById(id); }

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n) { return b64url(crypto.getRandomValues(new Uint8Array(n))); }

async function challengeOf(verifier) {
  return b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

function clientId() {
  const fromURL = new URLSearchParams(location.search).get('client_id');
  if (fromURL) sessionStorage.setItem('client_id', fromURL);
  return sessionStorage.getItem('client_id');
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

async function tokenRequest(params) {
  const resp = await fetch('/oauth2/token', {
    method: 'POST',
    credentials: 'include',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error + (body.error_description ? ': ' + body.error_description : ''));
  return body;
}

function useToken(body) {
  accessToken = body.access_token;
  const claims = JSON.parse(atob(accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  $('subject').textContent = claims.sub;
  $('expiry').textContent = new Date(claims.exp * 1000).toLocaleTimeString();
}

async function signIn() {
  const verifier = random(32);
  const state = random(16);
  sessionStorage.setItem('pkce_verifier', verifier);
  sessionStorage.setItem('oauth_state', state);
  const q = new URLSearchParams({
    response_type: 'code', client_id: clientId(), redirect_uri: redirectUri, scope: scope,
    state: state, code_challenge: await challengeOf(verifier), code_challenge_method: 'S256',
  });
  location.assign('/oauth2/authorize?' + q.toString());
}

async function callback(q) {
  const state = sessionStorage.getItem('oauth_state');
  const verifier = sessionStorage.getItem('pkce_verifier');
  sessionStorage.removeItem('oauth_state');
  sessionStorage.removeItem('pkce_verifier');
  history.replaceState(null, '', location.pathname);
  // RFC 9207: the response must come from our issuer, for our request.
  if (!state || q.get('state') !== state || q.get('iss') !== issuer) throw new Error('unexpected authorization response');
  if (q.get('error')) throw new Error(q.get('error') + ': ' + (q.get('error_description') || ''));
  useToken(await tokenRequest({
    grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectUri,
    client_id: clientId(), code_verifier: verifier,
  }));
}

// refresh uses the HttpOnly refresh cookie; the body carries no token.
async function refresh() {
  useToken(await tokenRequest({ grant_type: 'refresh_token', client_id: clientId() }));
}

async function loadItems() {
  const resp = await fetch('/v1/inventory/items', { headers: { Authorization: 'Bearer ' + accessToken } });
  if (!resp.ok) throw new Error('inventory: HTTP ' + resp.status);
  const body = await resp.json();
  const list = $('items');
  list.replaceChildren();
  for (const item of body.items || []) {
    const li = document.createElement('li');
    li.textContent = item.name + ' × ' + (item.quantity || 0);
    list.append(li);
  }
  show(true, 'Signed in.');
}

async function signOut() {
  // Revoke the refresh token (its family and the access tokens issued
  // from it), then end the sign-in session on the sign-out page.
  await fetch('/oauth2/revoke', {
    method: 'POST', credentials: 'include',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId() }),
  });
  accessToken = null;
  location.assign('/oauth2/logout');
}

async function start() {
  $('signin').addEventListener('click', () => signIn().catch((e) => fail(e.message)));
  $('refresh').addEventListener('click', async () => {
    try {
      await refresh();
      await loadItems();
      $('refreshed').textContent = 'Token refreshed at ' + new Date().toLocaleTimeString() + '.';
      $('refreshed').hidden = false;
    } catch (e) { fail(e.message); }
  });
  $('signout').addEventListener('click', () => signOut().catch((e) => fail(e.message)));
  if (!clientId()) { show(false, 'Open this page with ?client_id=<your SPA client>.'); return; }
  const q = new URLSearchParams(location.search);
  try {
    if (q.has('code') || q.has('error')) {
      await callback(q);
    } else {
      // A returning user: a silent refresh through the cookie.
      try { await refresh(); } catch (e) { show(false, 'Signed out.'); return; }
    }
    await loadItems();
  } catch (e) {
    show(false, 'Signed out.');
    fail(e.message);
  }
}

start();
