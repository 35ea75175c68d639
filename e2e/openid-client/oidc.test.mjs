// End-to-end test of the Gatehouse OpenID Provider with openid-client, a
// relying-party library nobody here wrote. TestOpenIDClientNode
// (cmd/gatehouse/e2e_oidc_test.go) starts the server, registers the user
// and a public first-party client, and runs this file with node; it reads
// the configuration from the environment:
//
//   OIDC_ISSUER                    the issuer (http on loopback)
//   OIDC_CLIENT_ID                 a public first-party client
//   OIDC_REDIRECT_URI              its redirect URI (nothing serves it: the
//                                  script reads the redirect's Location)
//   OIDC_POST_LOGOUT_REDIRECT_URI  its registered post-logout redirect URI
//   OIDC_EMAIL, OIDC_PASSWORD      the user's credentials
//   OIDC_SUB                       the user's id, the expected sub
//   OIDC_SECRETS_FILE              where to write the tokens it saw, for
//                                  the Go side's leak watch
//
// The login page is driven with fetch as a browser would: manual redirects,
// cookies carried by hand, the form's hidden fields posted back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as client from 'openid-client';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const issuer = env('OIDC_ISSUER');
const clientId = env('OIDC_CLIENT_ID');
const redirectUri = env('OIDC_REDIRECT_URI');
const postLogoutRedirectUri = env('OIDC_POST_LOGOUT_REDIRECT_URI');
const email = env('OIDC_EMAIL');
const password = env('OIDC_PASSWORD');
const expectedSub = env('OIDC_SUB');
const secretsFile = env('OIDC_SECRETS_FILE');

// Secrets seen, by the name the Go leak watch knows them by.
const seen = {};
function remember(kind, value) {
  if (typeof value === 'string' && value !== '') (seen[kind] ??= []).push(value);
}
after(() => writeFileSync(secretsFile, JSON.stringify(seen), { mode: 0o600 }));

// A cookie jar for the issuer's origin, as a browser keeps it.
const jar = new Map();
function storeCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const gone = value === '' || attrs.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a));
    if (gone) jar.delete(name);
    else jar.set(name, value);
  }
}

// browse is one request of the browser: no redirect followed, cookies
// sent and kept, bounded in time.
async function browse(url, init = {}) {
  const headers = new Headers(init.headers);
  if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
  const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  storeCookies(res);
  return res;
}

function htmlUnescape(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    switch (e.toLowerCase()) {
      case 'amp': return '&';
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
    }
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

// hiddenFields returns the hidden inputs of the page's form.
function hiddenFields(page) {
  const fields = new URLSearchParams();
  for (const m of page.matchAll(/<input type="hidden" name="([a-z]+)" value="([^"]*)">/g)) {
    fields.set(m[1], htmlUnescape(m[2]));
  }
  return fields;
}

// signIn follows an authorization URL through the login page and returns
// the redirect to the client.
async function signIn(authorizationUrl) {
  let res = await browse(authorizationUrl);
  const page = await res.text();
  assert.equal(res.status, 200, `authorize: want the login page, got ${res.status}`);
  assert.match(page, /action="\/oauth2\/login"/, 'authorize: no login form');
  const form = hiddenFields(page);
  assert.ok(form.get('csrf') && form.get('authz'), 'login form: csrf or authz missing');
  form.set('email', email);
  form.set('password', password);
  res = await browse(new URL('/oauth2/login', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(issuer).origin },
    body: form.toString(),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 303, `login: want 303, got ${res.status}`);
  const location = res.headers.get('location');
  assert.ok(location?.startsWith(`${redirectUri}?`), `login: redirect to ${location}`);
  return new URL(location);
}

test('openid-client against Gatehouse', async (t) => {
  let config;
  let tokens;
  let idClaims;

  await t.test('discovery', async () => {
    // The issuer is http on loopback here: openid-client refuses plain
    // http unless told otherwise.
    config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
      timeout: 10,
    });
    const m = config.serverMetadata();
    assert.equal(m.issuer, issuer);
    assert.equal(m.authorization_endpoint, `${issuer}/oauth2/authorize`);
    assert.equal(m.end_session_endpoint, `${issuer}/oauth2/logout`);
    assert.ok(m.userinfo_endpoint, 'no userinfo_endpoint');
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.ok(m.supportsPKCE(), 'PKCE not supported per the metadata');
    for (const s of ['openid', 'profile', 'email']) assert.ok(m.scopes_supported.includes(s), `scopes_supported lacks ${s}`);
  });

  await t.test('authorization code with PKCE and nonce', async () => {
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    remember('code_verifier', pkceCodeVerifier);
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile email',
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
      nonce,
      state,
    });
    const callback = await signIn(url);
    remember('code', callback.searchParams.get('code'));
    assert.equal(callback.searchParams.get('iss'), issuer, 'iss of the authorization response (RFC 9207)');
    tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier,
      expectedNonce: nonce,
      expectedState: state,
      idTokenExpected: true,
    });
    remember('access_token', tokens.access_token);
    remember('refresh_token', tokens.refresh_token);
    remember('id_token', tokens.id_token);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.refresh_token, 'no refresh token');
    idClaims = tokens.claims();
    assert.equal(idClaims.sub, expectedSub);
    assert.equal(idClaims.nonce, nonce);
    assert.equal(idClaims.aud, clientId);
    assert.equal(typeof idClaims.auth_time, 'number');
    assert.ok(idClaims.sid, 'no sid');
    assert.equal(idClaims.email, email);
  });

  await t.test('userinfo', async () => {
    const info = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
    assert.equal(info.sub, idClaims.sub);
    assert.equal(info.email, email);
    assert.equal(info.email_verified, true);
    assert.equal(info.name, idClaims.name);
  });

  await t.test('refresh: a new ID token, no nonce', async () => {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    remember('access_token', refreshed.access_token);
    remember('refresh_token', refreshed.refresh_token);
    remember('id_token', refreshed.id_token);
    assert.ok(refreshed.id_token, 'no ID token on refresh');
    const c = refreshed.claims();
    assert.equal(c.sub, idClaims.sub);
    assert.equal(c.auth_time, idClaims.auth_time);
    assert.equal(c.sid, idClaims.sid);
    assert.equal(c.nonce, undefined, 'a refreshed ID token has no nonce');
    // A public client's refresh token rotates.
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    tokens = refreshed;
  });

  await t.test('RP-initiated logout', async () => {
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state,
    });
    assert.equal(url.origin + url.pathname, `${issuer}/oauth2/logout`);
    const res = await browse(url);
    await res.arrayBuffer();
    assert.equal(res.status, 303, `end session: want 303, got ${res.status}`);
    assert.equal(res.headers.get('location'), `${postLogoutRedirectUri}?state=${encodeURIComponent(state)}`);

    // The session is over: prompt=none cannot sign in silently...
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const again = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
      prompt: 'none',
      state: 'after-logout',
    });
    const r2 = await browse(again);
    await r2.arrayBuffer();
    assert.equal(r2.status, 303);
    const back = new URL(r2.headers.get('location'));
    assert.equal(back.searchParams.get('error'), 'login_required');
    assert.equal(back.searchParams.get('state'), 'after-logout');
    // ...and the grant made in it is gone.
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (err) => {
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
  });
});
