// End-to-end test of Gatehouse's pushed authorization requests (RFC 9126)
// and DPoP (RFC 9449) with oauth4webapi, a client library nobody here
// wrote. TestOAuth4WebAPINode (cmd/gatehouse/e2e_oauth4webapi_test.go)
// starts the server with the example inventory API, registers the user and
// a public first-party client, and runs this file with node; it reads the
// configuration from the environment:
//
//   O4W_ISSUER        the issuer (http on loopback), which also serves the
//                     example API's REST facade
//   O4W_CLIENT_ID     a public first-party client with inventory:read and
//                     inventory:write
//   O4W_REDIRECT_URI  its redirect URI (nothing serves it: the script reads
//                     the redirect's Location)
//   O4W_EMAIL, O4W_PASSWORD  the user's credentials
//   O4W_SECRETS_FILE  where to write the tokens it saw, for the Go side's
//                     leak watch
//
// The login page is driven with fetch as a browser would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const issuer = new URL(env('O4W_ISSUER'));
const client = { client_id: env('O4W_CLIENT_ID') };
const redirectUri = env('O4W_REDIRECT_URI');
const email = env('O4W_EMAIL');
const password = env('O4W_PASSWORD');
const secretsFile = env('O4W_SECRETS_FILE');
const clientAuth = oauth.None();
// The issuer is http on loopback here; oauth4webapi refuses plain http
// unless told otherwise.
const insecure = { [oauth.allowInsecureRequests]: true };
const itemsURL = new URL('/v1/inventory/items', issuer);

const seen = {};
function remember(kind, value) {
  if (typeof value === 'string' && value !== '') (seen[kind] ??= []).push(value);
}
after(() => writeFileSync(secretsFile, JSON.stringify(seen), { mode: 0o600 }));

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
  const form = hiddenFields(page);
  assert.ok(form.get('csrf') && form.get('authz'), 'login form: csrf or authz missing');
  form.set('email', email);
  form.set('password', password);
  res = await browse(new URL('/oauth2/login', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: issuer.origin },
    body: form.toString(),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 303, `login: want 303, got ${res.status}`);
  const location = res.headers.get('location');
  assert.ok(location?.startsWith(`${redirectUri}?`), `login: redirect to ${location}`);
  return new URL(location);
}

// withNonce runs a request and its processing, and once more when the
// server asks for a DPoP nonce (RFC 9449 §8): the DPoP handle has kept the
// nonce from the first answer.
async function withNonce(request, process) {
  try {
    return await process(await request());
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return await process(await request());
  }
}

test('oauth4webapi: PAR, code with PKCE, DPoP, refresh and the example API', async (t) => {
  let as;
  let tokens;
  const keyPair = await oauth.generateKeyPair('ES256');
  const DPoP = oauth.DPoP(client, keyPair);

  await t.test('discovery lists PAR and DPoP', async () => {
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    assert.equal(as.pushed_authorization_request_endpoint, new URL('/oauth2/par', issuer).href);
    assert.equal(as.require_pushed_authorization_requests, false);
    assert.ok(as.dpop_signing_alg_values_supported.includes('ES256'));
  });

  await t.test('pushed authorization request with DPoP, code with PKCE', async () => {
    const codeVerifier = oauth.generateRandomCodeVerifier();
    remember('code_verifier', codeVerifier);
    const state = oauth.generateRandomState();
    const params = new URLSearchParams({
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'inventory:read inventory:write',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    const par = await withNonce(
      () => oauth.pushedAuthorizationRequest(as, client, clientAuth, params, { DPoP, ...insecure }),
      (res) => oauth.processPushedAuthorizationResponse(as, client, res),
    );
    assert.match(par.request_uri, /^urn:ietf:params:oauth:request_uri:/);
    assert.equal(par.expires_in, 60);

    const authorizationUrl = new URL(as.authorization_endpoint);
    authorizationUrl.searchParams.set('client_id', client.client_id);
    authorizationUrl.searchParams.set('request_uri', par.request_uri);
    const callback = oauth.validateAuthResponse(as, client, await signIn(authorizationUrl), state);
    remember('code', callback.get('code'));

    tokens = await withNonce(
      () => oauth.authorizationCodeGrantRequest(as, client, clientAuth, callback, redirectUri, codeVerifier, { DPoP, ...insecure }),
      (res) => oauth.processAuthorizationCodeResponse(as, client, res),
    );
    remember('access_token', tokens.access_token);
    remember('refresh_token', tokens.refresh_token);
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
    assert.ok(tokens.refresh_token, 'no refresh token');
  });

  await t.test('the example API with the DPoP-bound token', async () => {
    let res = await oauth.protectedResourceRequest(tokens.access_token, 'GET', itemsURL, new Headers(), null, { DPoP, ...insecure });
    assert.equal(res.status, 200, `GET items: ${res.status} ${await res.text()}`);
    // Writes require a sender-constrained token: this one is.
    res = await oauth.protectedResourceRequest(tokens.access_token, 'POST', itemsURL,
      new Headers({ 'content-type': 'application/json' }), JSON.stringify({ name: 'oauth4webapi', quantity: 1 }), { DPoP, ...insecure });
    assert.equal(res.status, 200, `POST items: ${res.status} ${await res.text()}`);
    // The same token as a bearer token is refused, read or write.
    res = await fetch(itemsURL, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    // And so is a proof by another key.
    const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    await assert.rejects(
      oauth.protectedResourceRequest(tokens.access_token, 'GET', itemsURL, new Headers(), null, { DPoP: other, ...insecure }),
      (err) => err instanceof oauth.WWWAuthenticateChallengeError && err.status === 401 &&
        err.cause.some((c) => c.scheme === 'dpop' && c.parameters.error === 'invalid_dpop_proof'),
    );
  });

  await t.test('refresh bound to the DPoP key', async () => {
    const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    await assert.rejects(withNonce(
      () => oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { DPoP: other, ...insecure }),
      (res) => oauth.processRefreshTokenResponse(as, client, res),
    ), (err) => err.error === 'invalid_grant');
    const next = await withNonce(
      () => oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { DPoP, ...insecure }),
      (res) => oauth.processRefreshTokenResponse(as, client, res),
    );
    remember('access_token', next.access_token);
    remember('refresh_token', next.refresh_token);
    assert.equal(next.token_type.toLowerCase(), 'dpop');
    const res = await oauth.protectedResourceRequest(next.access_token, 'GET', itemsURL, new Headers(), null, { DPoP, ...insecure });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });
});
