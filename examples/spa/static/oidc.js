// OpenID Connect for a browser app, in plain JavaScript and WebCrypto:
// discovery (OpenID Connect Discovery 1.0 §4), the issuer's key set, and
// the validation of an ID token (Core 1.0 §3.1.3.7, and §12.2 for one from
// a refresh). Nothing here trusts a token because of where it came from:
// every ID token is verified with a key of the issuer's JWKS, found by kid
// and used only with its own algorithm (RFC 8725 §3.1).

// skewSeconds is the clock difference tolerated between the browser and
// the server, for exp and iat.
const skewSeconds = 60;

// algorithms are the JWS algorithms this app verifies: the key type the
// JWK must have, how WebCrypto imports the key and verifies with it, and
// the hash of at_hash (Core §3.1.3.6: the hash of the alg). EdDSA has no
// hash of its own; Gatehouse, the OpenID Foundation's tests and the
// common relying-party libraries use SHA-512 for Ed25519.
const algorithms = {
  ES256: {
    kty: 'EC', crv: 'P-256', hash: 'SHA-256',
    importAlg: { name: 'ECDSA', namedCurve: 'P-256' }, verifyAlg: { name: 'ECDSA', hash: 'SHA-256' },
  },
  RS256: {
    kty: 'RSA', hash: 'SHA-256',
    importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, verifyAlg: { name: 'RSASSA-PKCS1-v1_5' },
  },
  PS256: {
    kty: 'RSA', hash: 'SHA-256',
    importAlg: { name: 'RSA-PSS', hash: 'SHA-256' }, verifyAlg: { name: 'RSA-PSS', saltLength: 32 },
  },
  EdDSA: {
    kty: 'OKP', crv: 'Ed25519', hash: 'SHA-512',
    importAlg: { name: 'Ed25519' }, verifyAlg: { name: 'Ed25519' },
  },
};

// minRSABits refuses RSA keys too short to trust (RFC 7518 §3.3).
const minRSABits = 2048;

// IDTokenError is a refused ID token; the message says which check failed.
export class IDTokenError extends Error {
  constructor(message) {
    super('the ID token was refused: ' + message);
    this.name = 'IDTokenError';
  }
}

function refuse(message) { throw new IDTokenError(message); }

export function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromB64url(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// jwtPart decodes a JWS header or payload: base64url of a UTF-8 JSON
// object.
export function jwtPart(s) {
  const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(fromB64url(s)));
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
  return v;
}

async function fetchJSON(url, what) {
  const resp = await fetch(url, { credentials: 'omit', cache: 'no-cache' });
  if (!resp.ok) throw new Error(what + ': HTTP ' + resp.status);
  return resp.json();
}

// discovery is the issuer's OpenID Provider configuration, fetched once.
let discovery = null;

// discover returns the configuration of issuer, whose issuer member must
// be issuer exactly (Discovery §4.3) and which must name the endpoints this
// app uses.
export function discover(issuer) {
  if (!discovery) {
    discovery = (async () => {
      const doc = await fetchJSON(issuer + '/.well-known/openid-configuration', 'OpenID Connect discovery');
      if (doc.issuer !== issuer) throw new Error('OpenID Connect discovery: the document is for issuer ' + doc.issuer + ', not ' + issuer);
      for (const name of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'end_session_endpoint']) {
        if (typeof doc[name] !== 'string' || !doc[name]) throw new Error('OpenID Connect discovery: no ' + name);
      }
      if (!Array.isArray(doc.id_token_signing_alg_values_supported)) throw new Error('OpenID Connect discovery: no id_token_signing_alg_values_supported');
      return doc;
    })();
    const p = discovery;
    p.catch(() => { if (discovery === p) discovery = null; });
  }
  return discovery;
}

// keySet is the issuer's JWKS, fetched when first needed and again when a
// token names a kid it lacks (the issuer rotated its keys).
let keySet = null;

async function keyByID(doc, kid) {
  let fetched = false;
  for (;;) {
    if (!keySet) {
      const p = fetchJSON(doc.jwks_uri, 'the issuer\'s key set');
      p.catch(() => { if (keySet === p) keySet = null; });
      keySet = p;
      fetched = true;
    }
    const set = await keySet;
    const found = (Array.isArray(set.keys) ? set.keys : []).filter((k) => k && k.kid === kid);
    if (found.length > 1) refuse('the issuer\'s key set has several keys with kid ' + kid);
    if (found.length === 1) return found[0];
    if (fetched) refuse('no key with kid ' + kid + ' in the issuer\'s key set');
    keySet = null;
  }
}

// algOfKey is the one algorithm the key is for: its alg, or for a key
// type and curve that allow only one of ours, that one. An RSA key without
// alg could be for RS256 or PS256, so it has none.
function algOfKey(jwk) {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return '';
}

// importKey makes a WebCrypto verification key of the public members of
// jwk only, so a private member (d, p, q, ...) is never imported.
async function importKey(jwk, alg) {
  const a = algorithms[alg];
  if (jwk.kty !== a.kty || (a.crv && jwk.crv !== a.crv)) refuse('key ' + jwk.kid + ' is ' + jwk.kty + ' ' + (jwk.crv || '') + ', not a key for ' + alg);
  if (jwk.use !== undefined && jwk.use !== 'sig') refuse('key ' + jwk.kid + ' is not for signatures (use ' + jwk.use + ')');
  const pub = { kty: jwk.kty, alg: alg, ext: true };
  if (a.kty === 'RSA') {
    pub.n = jwk.n; pub.e = jwk.e;
    if (fromB64url(jwk.n).length * 8 < minRSABits) refuse('key ' + jwk.kid + ' is shorter than ' + minRSABits + ' bits');
  } else {
    pub.crv = jwk.crv; pub.x = jwk.x;
    if (a.kty === 'EC') pub.y = jwk.y;
  }
  try {
    return await crypto.subtle.importKey('jwk', pub, a.importAlg, false, ['verify']);
  } catch (e) {
    if (e.name === 'NotSupportedError') refuse('this browser\'s WebCrypto cannot verify ' + alg + ' (' + a.importAlg.name + ') signatures');
    return refuse('key ' + jwk.kid + ' cannot be imported: ' + e.message);
  }
}

// halfHash is at_hash (Core §3.1.3.6): the base64url of the left half of
// the hash of s.
async function halfHash(hash, s) {
  const sum = new Uint8Array(await crypto.subtle.digest(hash, new TextEncoder().encode(s)));
  return b64url(sum.slice(0, sum.length / 2));
}

// validateIDToken checks an ID token and returns its header, its claims
// and the names of the checks it passed. want says what it must be:
//   - issuer, clientId: iss, and aud (with azp);
//   - accessToken: the access token of the same response, for at_hash;
//   - nonce: on sign-in, the nonce of the authorization request; undefined
//     on a refresh, whose token must then have none (Core §12.2) or the
//     previous one's;
//   - previous: on a refresh, the claims of the ID token it replaces
//     (none on a silent refresh when the page loads): sub and auth_time
//     must not change.
export async function validateIDToken(raw, want) {
  const doc = await discover(want.issuer);
  const parts = typeof raw === 'string' ? raw.split('.') : [];
  if (parts.length !== 3) refuse('it is not a compact JWS');
  let header, claims, signature;
  try {
    header = jwtPart(parts[0]);
    claims = jwtPart(parts[1]);
    signature = fromB64url(parts[2]);
  } catch (e) {
    refuse('it is malformed: ' + e.message);
  }
  const checks = [];

  // The header: an ID token (typ JWT, never at+jwt), no extension we do
  // not understand, an algorithm we verify and the issuer announces.
  if (header.typ !== undefined && String(header.typ).toUpperCase() !== 'JWT') refuse('its typ is ' + header.typ + ', not JWT');
  if (header.crit !== undefined) refuse('it has critical header parameters');
  checks.push('typ');
  const alg = header.alg;
  if (typeof alg !== 'string' || !Object.hasOwn(algorithms, alg)) refuse('it is signed with ' + alg + ', which this app does not accept');
  if (!doc.id_token_signing_alg_values_supported.includes(alg)) refuse('it is signed with ' + alg + ', which the issuer does not announce');
  checks.push('alg');

  // The key: found by kid, and used only with its own algorithm.
  if (typeof header.kid !== 'string' || header.kid === '') refuse('its header has no kid');
  const jwk = await keyByID(doc, header.kid);
  if (algOfKey(jwk) !== alg) refuse('its header says ' + alg + ' but key ' + header.kid + ' is for ' + (algOfKey(jwk) || 'an unstated algorithm'));
  checks.push('kid');
  const key = await importKey(jwk, alg);
  const signed = new TextEncoder().encode(parts[0] + '.' + parts[1]);
  if (!(await crypto.subtle.verify(algorithms[alg].verifyAlg, key, signature, signed))) refuse('its signature does not verify');
  checks.push('signature');

  // The claims (Core §3.1.3.7).
  if (claims.iss !== doc.issuer) refuse('iss is ' + claims.iss + ', not ' + doc.issuer);
  checks.push('iss');
  if (typeof claims.sub !== 'string' || claims.sub === '') refuse('it has no sub');
  checks.push('sub');
  if (Array.isArray(claims.aud)) {
    // Several audiences: azp must say the token was issued to us.
    if (!claims.aud.includes(want.clientId)) refuse('aud does not include this client');
    if (claims.azp !== want.clientId) refuse('aud is a list but azp is not this client');
  } else if (claims.aud !== want.clientId) {
    refuse('aud is ' + claims.aud + ', not this client');
  }
  checks.push('aud');
  if (claims.azp !== undefined && claims.azp !== want.clientId) refuse('azp is ' + claims.azp + ', not this client');
  checks.push('azp');
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || now >= claims.exp + skewSeconds) refuse('it has expired');
  checks.push('exp');
  if (typeof claims.iat !== 'number' || claims.iat > now + skewSeconds) refuse('iat is in the future');
  checks.push('iat');
  if (want.nonce !== undefined) {
    // Sign-in: the nonce of our authorization request, byte for byte.
    if (typeof want.nonce !== 'string' || want.nonce === '' || claims.nonce !== want.nonce) refuse('its nonce does not match the sign-in request');
    checks.push('nonce');
  } else {
    // A refresh: no nonce, or the one of the token it replaces.
    if (claims.nonce !== undefined && (!want.previous || claims.nonce !== want.previous.nonce)) refuse('a refreshed ID token carries an unexpected nonce');
    checks.push('no-new-nonce');
  }
  if (typeof claims.at_hash !== 'string' || claims.at_hash !== await halfHash(algorithms[alg].hash, want.accessToken)) {
    refuse('at_hash does not match the access token');
  }
  checks.push('at_hash');
  if (want.previous) {
    // Core §12.2: a refresh names the same user and the same sign-in.
    if (claims.sub !== want.previous.sub) refuse('sub changed on refresh');
    if (claims.auth_time !== want.previous.auth_time) refuse('auth_time changed on refresh');
    checks.push('same-sub', 'same-auth_time');
  }
  return { header, claims, checks };
}
