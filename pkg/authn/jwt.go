package authn

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// Defaults of the JWTAuthenticator.
const (
	// DefaultClockSkew is the leeway for exp, nbf and iat.
	DefaultClockSkew = 30 * time.Second
	// MaxClockSkew is the largest leeway WithClockSkew accepts
	// (SECURITY-CHECKLIST items 12, 13).
	MaxClockSkew = 60 * time.Second
	// DefaultMaxTokenBytes bounds a token; longer ones are refused before
	// any parsing.
	DefaultMaxTokenBytes = 8 << 10
	// DefaultJWKSMaxAge is how long a fetched JWKS is used before it is
	// fetched again.
	DefaultJWKSMaxAge = 5 * time.Minute
	// DefaultUnknownKIDCooldown is the least time between the start of a
	// JWKS fetch and a refetch caused by an unknown kid.
	DefaultUnknownKIDCooldown = 30 * time.Second
	// DefaultTokenCacheEntries bounds the validated-token cache.
	DefaultTokenCacheEntries = 10_000
)

// DefaultAlgorithms is the default algorithm allow-list: ES256, EdDSA,
// PS256 and RS256.
func DefaultAlgorithms() []jwa.SignatureAlgorithm {
	return []jwa.SignatureAlgorithm{jwa.ES256, jwa.EdDSA, jwa.PS256, jwa.RS256}
}

// Claims are the validated claims of a JWT access token (RFC 9068 §2.2).
type Claims struct {
	// Issuer is iss, equal to the configured issuer.
	Issuer string
	// Subject is sub.
	Subject string
	// Audience is aud, as a list (a single string becomes one element).
	Audience []string
	// ClientID is client_id.
	ClientID string
	// Scope is scope, space-separated; empty when absent.
	Scope string
	// JTI is jti, the token's identifier.
	JTI string
	// IssuedAt is iat.
	IssuedAt time.Time
	// NotBefore is nbf; zero when absent.
	NotBefore time.Time
	// ExpiresAt is exp.
	ExpiresAt time.Time
	// CnfX5tS256 is cnf["x5t#S256"], the thumbprint of the client
	// certificate a token is bound to (RFC 8705 §3.1); empty for a bearer
	// token.
	CnfX5tS256 string
	// CnfJKT is cnf["jkt"], the RFC 7638 thumbprint of the DPoP key a
	// token is bound to (RFC 9449 §6.1); empty for a token not bound to
	// one.
	CnfJKT string
	// KeyID is the kid of the key that signed the token (from the JOSE
	// header).
	KeyID string
	// AuthTime is auth_time, when the user authenticated; zero when
	// absent (client credentials).
	AuthTime time.Time
	// FamilyID is the private claim fid: the grant (refresh-token family)
	// the token was issued from; empty when absent.
	FamilyID string
}

// familyClaim names the grant a Gatehouse access token was issued from;
// revoking the grant's refresh-token family revokes its access tokens.
const familyClaim = "fid"

// Scopes returns Scope split at spaces.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// RevocationList tells whether a token whose signature and claims are
// valid was revoked (by jti, client, subject or signing key). It is asked
// for every request, cached tokens included, so it must answer from
// memory.
type RevocationList interface {
	Revoked(c *Claims) bool
}

// JWTOption configures a JWTAuthenticator.
type JWTOption func(*jwtOptions)

type jwtOptions struct {
	issuer        string
	audience      string
	anyAudience   bool
	algs          []jwa.SignatureAlgorithm
	skew          time.Duration
	now           func() time.Time
	maxTokenBytes int
	maxAge        time.Duration
	cooldown      time.Duration
	cacheMax      int
	log           *slog.Logger
	revocation    RevocationList
}

// WithIssuer sets the issuer whose tokens are accepted: iss must equal it
// byte for byte (RFC 9068 §4; no trailing-slash or case folding). Required.
func WithIssuer(iss string) JWTOption {
	return func(o *jwtOptions) { o.issuer = iss }
}

// WithAudience sets this service's audience: aud (a string or an array)
// must contain it, and a token without aud is refused (RFC 9068 §4).
// WithAudience or WithAnyAudience is required.
func WithAudience(aud string) JWTOption {
	return func(o *jwtOptions) { o.audience, o.anyAudience = aud, false }
}

// WithAnyAudience accepts a token whatever its aud (which must still be
// present). It is for the token service's introspection only: a resource
// server uses WithAudience.
func WithAnyAudience() JWTOption {
	return func(o *jwtOptions) { o.audience, o.anyAudience = "", true }
}

// WithAlgorithms sets the algorithm allow-list (default DefaultAlgorithms).
// none and the HMAC algorithms are never allowed, and algorithms the
// authenticator cannot verify are dropped; both are logged.
func WithAlgorithms(algs ...jwa.SignatureAlgorithm) JWTOption {
	return func(o *jwtOptions) { o.algs = slices.Clone(algs) }
}

// WithClockSkew sets the leeway for exp, nbf and iat (default 30 s). It
// is clamped to [0, MaxClockSkew]. A token is refused when exp ≤ now−skew,
// or when nbf or iat ≥ now+skew.
func WithClockSkew(d time.Duration) JWTOption {
	return func(o *jwtOptions) { o.skew = d }
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) JWTOption {
	return func(o *jwtOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// WithMaxTokenBytes bounds a token (default 8 KiB); a longer one is
// refused before any parsing or crypto. Zero or less keeps the default.
func WithMaxTokenBytes(n int) JWTOption {
	return func(o *jwtOptions) {
		if n > 0 {
			o.maxTokenBytes = n
		}
	}
}

// WithJWKSMaxAge sets how long a fetched JWKS is used before the next
// request fetches it again (default 5 min). Zero or less keeps the
// default.
func WithJWKSMaxAge(d time.Duration) JWTOption {
	return func(o *jwtOptions) {
		if d > 0 {
			o.maxAge = d
		}
	}
}

// WithUnknownKIDCooldown sets the least time between the start of a JWKS
// fetch and a refetch caused by a token with an unknown kid (default
// 30 s). It is also the wait after a failed fetch. Zero or less keeps the
// default.
func WithUnknownKIDCooldown(d time.Duration) JWTOption {
	return func(o *jwtOptions) {
		if d > 0 {
			o.cooldown = d
		}
	}
}

// WithTokenCache bounds the validated-token cache (default 10 000
// tokens). Zero or less disables it.
func WithTokenCache(maxEntries int) JWTOption {
	return func(o *jwtOptions) { o.cacheMax = maxEntries }
}

// WithJWTLogger sets the authenticator's logger (default slog.Default()).
// It logs JWKS fetch failures, ignored keys and configuration errors,
// never a token.
func WithJWTLogger(l *slog.Logger) JWTOption {
	return func(o *jwtOptions) {
		if l != nil {
			o.log = l
		}
	}
}

// WithRevocationList refuses tokens that l says are revoked
// (SECURITY-CHECKLIST item 15). l is asked for every request.
func WithRevocationList(l RevocationList) JWTOption {
	return func(o *jwtOptions) { o.revocation = l }
}

// JWTAuthenticator validates JWT access tokens (RFC 9068) signed by one
// issuer with the keys of its JWKS, following RFC 8725:
//
//   - only compact JWS (three base64url segments, no padding) of at most
//     WithMaxTokenBytes; a header or claims set with duplicate members, a
//     crit or cty header, or invalid UTF-8 is refused;
//   - typ must be at+jwt (or application/at+jwt, case-insensitively);
//   - the key is looked up by kid in the JWKS only (jku, x5u, jwk and x5c
//     are ignored), and each key verifies with exactly one algorithm, its
//     JWK alg, which must be in the allow-list (none and HS* never are);
//   - iss must equal the issuer, aud contain the audience, exp, iat, sub,
//     client_id and jti are required, exp, nbf and iat are checked with a
//     bounded leeway.
//
// The JWKS is fetched on first use and again when it is older than
// WithJWKSMaxAge (the requests that find it stale wait for that fetch), on
// Refresh, on a KeyRotated event (FollowKeyRotations), after
// InvalidateAll, and when a token names an unknown kid: then only if no
// fetch started within WithUnknownKIDCooldown. Concurrent requests share
// one fetch. A failed fetch keeps the keys already fetched and is retried
// after the cooldown; an unknown kid is then still 401, never 5xx. Weak or
// unsupported keys in the JWKS are ignored.
//
// Validated tokens are cached by SHA-256 until their exp; the cache is
// emptied whenever the key set changes.
//
// Every refusal is an *AuthError: Unauthenticated with invalid_token and
// an audit reason saying why. When no key set could be fetched at all,
// requests get Unavailable. It is safe for concurrent use.
type JWTAuthenticator struct {
	src          JWKSSource
	issuer       string
	audience     string
	anyAudience  bool
	algs         map[jwa.SignatureAlgorithm]bool
	skew         time.Duration
	now          func() time.Time
	maxToken     int
	maxAge       time.Duration
	cooldown     time.Duration
	fetchTimeout time.Duration
	log          *slog.Logger
	revocation   RevocationList
	// cfgErr is a configuration error: every token is then refused with
	// Unavailable.
	cfgErr error

	// keys is the current key set, nil before the first successful fetch.
	// It is written with mu held.
	keys atomic.Pointer[keySet]
	// staleAt (Unix nanoseconds) is when keys must be fetched again
	// before use. Written with mu held.
	staleAt atomic.Int64

	mu sync.Mutex
	// inflight is the running fetch; queued is a fetch that must start
	// after it (Refresh while a fetch runs).
	inflight, queued *fetchCall
	// lastStart is when the last fetch started.
	lastStart time.Time
	// lastErr is the last fetch's error.
	lastErr error
	// epoch counts InvalidateAll calls: a fetch that started before one
	// does not make the key set fresh.
	epoch uint64

	// cache holds validated tokens; nil when disabled.
	cache *tokenCache

	// onJoin, when set by a test, is called when a request joins a fetch
	// another one started.
	onJoin func()
}

type fetchCall struct {
	done chan struct{}
	err  error
	// epoch is a.epoch when the fetch started.
	epoch uint64
}

var _ Authenticator = (*JWTAuthenticator)(nil)

// NewJWTAuthenticator returns an authenticator of the tokens of
// WithIssuer, with the keys src returns. A configuration error (no
// issuer, no audience, no usable algorithm, an invalid JWKS URL) is
// logged and reported by ConfigError; every token is then refused with
// Unavailable.
func NewJWTAuthenticator(src JWKSSource, opts ...JWTOption) *JWTAuthenticator {
	o := jwtOptions{
		algs:          DefaultAlgorithms(),
		skew:          DefaultClockSkew,
		now:           time.Now,
		maxTokenBytes: DefaultMaxTokenBytes,
		maxAge:        DefaultJWKSMaxAge,
		cooldown:      DefaultUnknownKIDCooldown,
		cacheMax:      DefaultTokenCacheEntries,
		log:           slog.Default(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	a := &JWTAuthenticator{
		src:          src,
		issuer:       o.issuer,
		audience:     o.audience,
		anyAudience:  o.anyAudience,
		algs:         map[jwa.SignatureAlgorithm]bool{},
		skew:         o.skew,
		now:          o.now,
		maxToken:     o.maxTokenBytes,
		maxAge:       o.maxAge,
		cooldown:     o.cooldown,
		fetchTimeout: DefaultJWKSFetchTimeout,
		log:          o.log,
		revocation:   o.revocation,
	}
	if o.cacheMax > 0 {
		a.cache = newTokenCache(o.cacheMax)
	}
	var problems []error
	if src == nil {
		problems = append(problems, errors.New("no JWKS source"))
	} else if s, ok := src.(*HTTPJWKSSource); ok && s.Err() != nil {
		problems = append(problems, s.Err())
	}
	if a.issuer == "" {
		problems = append(problems, errors.New("WithIssuer is required"))
	}
	if !a.anyAudience && a.audience == "" {
		problems = append(problems, errors.New("WithAudience (or, for introspection, WithAnyAudience) is required"))
	}
	for _, alg := range o.algs {
		if _, ok := supportedAlgs[alg]; ok {
			a.algs[alg] = true
		} else {
			a.log.Warn("authn: JWT algorithm not allowed, ignored", slog.String("alg", alg.String()))
		}
	}
	if len(a.algs) == 0 {
		problems = append(problems, errors.New("no allowed signature algorithm"))
	}
	switch {
	case a.skew < 0:
		a.skew = 0
	case a.skew > MaxClockSkew:
		a.log.Warn("authn: JWT clock skew clamped", slog.Duration("requested", a.skew), slog.Duration("max", MaxClockSkew))
		a.skew = MaxClockSkew
	}
	if len(problems) > 0 {
		a.cfgErr = fmt.Errorf("authn: JWT authenticator: %w", errors.Join(problems...))
		a.log.Error("authn: JWT authenticator misconfigured; every token is refused", slog.String("error", a.cfgErr.Error()))
	}
	return a
}

// ConfigError reports the authenticator's configuration error, or nil.
func (a *JWTAuthenticator) ConfigError() error { return a.cfgErr }

// Kind returns CREDENTIAL_KIND_JWT.
func (a *JWTAuthenticator) Kind() authv1.CredentialKind {
	return authv1.CredentialKind_CREDENTIAL_KIND_JWT
}

// Authenticate validates a JWT access token and returns its principal:
// Subject sub, ClientID client_id, Scopes from scope, TokenID jti,
// ExpiresAt exp, CertThumbprint cnf x5t#S256, Kind JWT, Trust TrustBearer.
// The principal may be shared with other requests carrying the same token:
// it is read-only. The certificate binding is not checked here but by the
// Validator, which knows the request's client certificate.
func (a *JWTAuthenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	e, err := a.check(ctx, token)
	if err != nil {
		return nil, err
	}
	return e.p, nil
}

// Verify validates a JWT access token like Authenticate and returns its
// claims. The error is an *AuthError, or the context's error.
func (a *JWTAuthenticator) Verify(ctx context.Context, token string) (*Claims, error) {
	e, err := a.check(ctx, token)
	if err != nil {
		return nil, err
	}
	c := *e.c
	c.Audience = slices.Clone(c.Audience)
	return &c, nil
}

// Refresh fetches the JWKS now, whatever its age and the cooldown, and
// returns the fetch's error. The keys already fetched are kept when it
// fails. Concurrent calls may share one fetch, which always starts after
// the call.
func (a *JWTAuthenticator) Refresh(ctx context.Context) error {
	a.mu.Lock()
	var f *fetchCall
	if a.inflight != nil {
		f = a.queueLocked()
	} else {
		f = a.startLocked(a.now())
	}
	a.mu.Unlock()
	if err := waitFetch(ctx, f); err != nil {
		return err
	}
	return f.err
}

// InvalidateAll empties the validated-token cache and makes the next
// request fetch the JWKS again before it is served, e.g. after the event
// stream was interrupted or to apply an emergency key removal at once.
func (a *JWTAuthenticator) InvalidateAll() {
	a.mu.Lock()
	a.epoch++
	a.staleAt.Store(0)
	a.mu.Unlock()
	a.invalidateTokens()
}

func (a *JWTAuthenticator) invalidateTokens() {
	if a.cache != nil {
		a.cache.flush()
	}
}

// check validates token: from the cache, or in full.
func (a *JWTAuthenticator) check(ctx context.Context, token string) (*tokenEntry, error) {
	if len(token) > a.maxToken {
		return nil, errTooLarge()
	}
	if a.cfgErr != nil {
		return nil, NewUnavailable(a.cfgErr)
	}
	now := a.now()
	if a.keys.Load() == nil || now.UnixNano() >= a.staleAt.Load() {
		if err := a.refreshStale(ctx); err != nil {
			return nil, err
		}
	}
	// The cache generation is read before the key set, so an entry is
	// never stored under a generation newer than the keys that checked it.
	var (
		h   keyHash
		gen uint64
	)
	if a.cache != nil {
		gen = a.cache.generation()
		h = hashToken(token)
		if e := a.cache.get(h, gen, now); e != nil {
			if ae := a.checkRevoked(e); ae != nil {
				return nil, ae
			}
			return e, nil
		}
	}
	e, err := a.verify(ctx, token, now, &gen)
	if err != nil {
		return nil, err
	}
	if a.cache != nil && now.Before(e.exp) {
		a.cache.put(h, e, gen, now)
	}
	if ae := a.checkRevoked(e); ae != nil {
		return nil, ae
	}
	return e, nil
}

func (a *JWTAuthenticator) checkRevoked(e *tokenEntry) *AuthError {
	if a.revocation != nil && a.revocation.Revoked(e.c) {
		return NewInvalidCredential(audit.ReasonRevokedToken, e.c.ClientID, "token revoked")
	}
	return nil
}

// refreshStale fetches the JWKS when there is none yet, or it is stale, or
// InvalidateAll was called; concurrent callers share the fetch. A failed
// fetch keeps the current keys; with no keys at all the request gets
// Unavailable.
func (a *JWTAuthenticator) refreshStale(ctx context.Context) error {
	a.mu.Lock()
	now := a.now()
	fresh := now.UnixNano() < a.staleAt.Load()
	if a.keys.Load() != nil && fresh {
		a.mu.Unlock()
		return nil
	}
	f := a.inflight
	if f != nil && f.epoch != a.epoch {
		// The running fetch started before InvalidateAll: wait for one
		// that starts after it.
		f = a.queueLocked()
	}
	if f != nil && a.onJoin != nil {
		a.onJoin()
	}
	if f == nil {
		if fresh {
			// No keys, and the last fetch failed less than a cooldown ago.
			err := a.lastErr
			a.mu.Unlock()
			return NewUnavailable(fmt.Errorf("authn: no JWKS: %w", err))
		}
		f = a.startLocked(now)
	}
	a.mu.Unlock()
	if err := waitFetch(ctx, f); err != nil {
		return err
	}
	if a.keys.Load() == nil {
		return NewUnavailable(fmt.Errorf("authn: no JWKS: %w", f.err))
	}
	return nil
}

// refetchForKID fetches the JWKS for an unknown kid, unless a fetch
// started less than a cooldown ago; it joins a running fetch.
func (a *JWTAuthenticator) refetchForKID(ctx context.Context) error {
	a.mu.Lock()
	f := a.inflight
	if f != nil && a.onJoin != nil {
		a.onJoin()
	}
	if f == nil {
		now := a.now()
		if !a.lastStart.IsZero() && now.Before(a.lastStart.Add(a.cooldown)) {
			a.mu.Unlock()
			return errCoolingDown
		}
		f = a.startLocked(now)
	}
	a.mu.Unlock()
	return waitFetch(ctx, f)
}

var errCoolingDown = errors.New("JWKS refetch cooling down")

// startLocked starts a fetch. a.mu must be held.
func (a *JWTAuthenticator) startLocked(now time.Time) *fetchCall {
	f := &fetchCall{done: make(chan struct{}), epoch: a.epoch}
	a.inflight = f
	a.lastStart = now
	go a.run(f)
	return f
}

// queueLocked returns the fetch that starts when the running one ends.
// a.mu must be held, and a fetch must be running.
func (a *JWTAuthenticator) queueLocked() *fetchCall {
	if a.queued == nil {
		a.queued = &fetchCall{done: make(chan struct{})}
	}
	return a.queued
}

// run performs f, then the queued fetch if any.
func (a *JWTAuthenticator) run(f *fetchCall) {
	for {
		err := a.fetch(f.epoch)
		a.mu.Lock()
		f.err = err
		close(f.done)
		if a.queued == nil {
			a.inflight = nil
			a.mu.Unlock()
			return
		}
		f, a.queued = a.queued, nil
		f.epoch = a.epoch
		a.inflight = f
		a.lastStart = a.now()
		a.mu.Unlock()
	}
}

// fetch gets, parses and installs the JWKS.
func (a *JWTAuthenticator) fetch(epoch uint64) error {
	raw, err := a.fetchRaw()
	var (
		ks      *keySet
		ignored []ignoredKey
	)
	if err == nil {
		ks, ignored, err = parseKeySet(raw, a.algs)
	}
	for _, k := range ignored {
		a.log.Warn("authn: JWKS key ignored", slog.Int("index", k.index), slog.String("kid", k.kid), slog.String("reason", k.reason))
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if err != nil {
		a.lastErr = err
		// Keep the keys; retry no sooner than a cooldown from now, nor
		// sooner than they were due anyway.
		if retry := now.Add(a.cooldown).UnixNano(); retry > a.staleAt.Load() {
			a.staleAt.Store(retry)
		}
		a.log.Warn("authn: JWKS fetch failed; keeping the cached keys", slog.String("error", err.Error()))
		return err
	}
	a.lastErr = nil
	if old := a.keys.Load(); old == nil || old.fingerprint != ks.fingerprint {
		a.keys.Store(ks)
		a.invalidateTokens()
	}
	if epoch == a.epoch {
		a.staleAt.Store(now.Add(a.maxAge).UnixNano())
	}
	return nil
}

// fetchRaw calls the source with the fetch timeout. A source that
// ignores its context is abandoned at the timeout, so that it cannot hold
// every later fetch.
func (a *JWTAuthenticator) fetchRaw() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.fetchTimeout)
	defer cancel()
	type result struct {
		raw []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := a.src.JWKS(ctx)
		done <- result{raw, err}
	}()
	select {
	case r := <-done:
		return r.raw, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("authn: JWKS source: %w", ctx.Err())
	}
}

// dropKID removes kid from the key set at once (a KeyRotated event saying
// it was removed), before the JWKS is fetched again.
func (a *JWTAuthenticator) dropKID(kid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.keys.Load()
	if old == nil {
		return
	}
	if ks := old.without(kid); ks != nil {
		a.keys.Store(ks)
		a.invalidateTokens()
	}
}

func waitFetch(ctx context.Context, f *fetchCall) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// b64 decodes JWS segments: base64url without padding, and with the unused
// bits of the last character zero, so that each token has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// verify checks token in full (RFC 7515 §5.2, RFC 9068 §4, RFC 8725 §3).
// gen is the cache generation read before the key set; it is updated when
// an unknown kid causes a refetch.
func (a *JWTAuthenticator) verify(ctx context.Context, token string, now time.Time, gen *uint64) (*tokenEntry, error) {
	// Compact serialization only: exactly three segments (a JWE has five,
	// the JSON serialization none).
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return nil, errJWTMalformed()
	}
	d2 := d1 + 1 + strings.IndexByte(token[d1+1:], '.')
	if d2 == d1 || strings.IndexByte(token[d2+1:], '.') >= 0 {
		return nil, errJWTMalformed()
	}
	hSeg, pSeg, sSeg := token[:d1], token[d1+1:d2], token[d2+1:]
	// DecodeString skips CR and LF: check the alphabet first so that no
	// two strings decode to the same token.
	if !isB64URL(hSeg) || !isB64URL(pSeg) || !isB64URL(sSeg) || hSeg == "" || pSeg == "" {
		return nil, errJWTMalformed()
	}
	hdrJSON, err := b64.DecodeString(hSeg)
	if err != nil {
		return nil, errJWTMalformed()
	}
	hdr, ae := parseJOSEHeader(hdrJSON)
	if ae != nil {
		return nil, ae
	}
	if !a.algs[jwa.SignatureAlgorithm(hdr.alg)] {
		return nil, jwtRefusal(audit.ReasonDisallowedAlgorithm, "algorithm not allowed")
	}
	if !hdr.hasKID {
		return nil, jwtRefusal(audit.ReasonInvalidToken, "missing kid")
	}
	if !validKID(hdr.kid) {
		return nil, jwtRefusal(audit.ReasonUnknownKID, "unknown signing key")
	}
	sig, err := b64.DecodeString(sSeg)
	if err != nil || len(sig) == 0 {
		return nil, jwtRefusal(audit.ReasonBadSignature, "invalid signature")
	}

	// The key comes from the issuer's JWKS only, by kid.
	k := a.keys.Load().keys[hdr.kid]
	if k == nil {
		switch err := a.refetchForKID(ctx); {
		case err == nil:
			if a.cache != nil {
				*gen = a.cache.generation()
			}
			k = a.keys.Load().keys[hdr.kid]
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		if k == nil {
			return nil, jwtRefusal(audit.ReasonUnknownKID, "unknown signing key")
		}
	}
	// One algorithm per key: the header must name the key's own.
	if jwa.SignatureAlgorithm(hdr.alg) != k.alg {
		return nil, jwtRefusal(audit.ReasonDisallowedAlgorithm, "algorithm does not match the signing key")
	}
	if !k.verify([]byte(token[:d2]), sig) {
		return nil, jwtRefusal(audit.ReasonBadSignature, "invalid signature")
	}

	payload, err := b64.DecodeString(pSeg)
	if err != nil {
		return nil, errJWTMalformed()
	}
	c, ae := parseClaims(payload)
	if ae != nil {
		return nil, ae
	}
	c.KeyID = hdr.kid
	if ae := a.checkClaims(c, now); ae != nil {
		return nil, ae
	}
	p := &Principal{
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		Kind:      authv1.CredentialKind_CREDENTIAL_KIND_JWT,
		Scopes:    c.Scopes(),
		Trust:     TrustBearer,
		TokenID:   c.JTI,
		ExpiresAt: c.ExpiresAt,
		IssuedAt:  c.IssuedAt,
		// kid is checked against the key set, so it names our key.
		SigningKeyID:   c.KeyID,
		FamilyID:       c.FamilyID,
		CertThumbprint: c.CnfX5tS256,
		DPoPJKT:        c.CnfJKT,
	}
	return &tokenEntry{p: p, c: c, exp: c.ExpiresAt}, nil
}

// checkClaims applies the issuer, audience and time rules.
func (a *JWTAuthenticator) checkClaims(c *Claims, now time.Time) *AuthError {
	if c.Issuer != a.issuer {
		return jwtRefusalFor(audit.ReasonWrongIssuer, c, "invalid issuer")
	}
	if !a.anyAudience && !slices.Contains(c.Audience, a.audience) {
		return jwtRefusalFor(audit.ReasonWrongAudience, c, "invalid audience")
	}
	if !c.ExpiresAt.After(now.Add(-a.skew)) {
		return jwtRefusalFor(audit.ReasonExpiredToken, c, "token expired")
	}
	// A bound of now+skew, excluded, so that with the largest skew a
	// token dated 60 s ahead is refused (FAPI 2.0 SP §5.3.2.1).
	limit := now.Add(a.skew)
	if !c.IssuedAt.Before(limit) || (!c.NotBefore.IsZero() && !c.NotBefore.Before(limit)) {
		return jwtRefusalFor(audit.ReasonTokenNotYetValid, c, "token not yet valid")
	}
	return nil
}

func jwtRefusal(reason audit.Reason, message string) *AuthError {
	return NewInvalidCredential(reason, "", message)
}

// jwtRefusalFor is a refusal of a token with a valid signature: its
// client_id is recorded.
func jwtRefusalFor(reason audit.Reason, c *Claims, message string) *AuthError {
	return NewInvalidCredential(reason, c.ClientID, message)
}

func errJWTMalformed() *AuthError {
	return jwtRefusal(audit.ReasonInvalidToken, "malformed token")
}

// isB64URL reports whether s uses only the base64url alphabet (RFC 4648
// §5), without padding.
func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_' {
			continue
		}
		return false
	}
	return true
}

// joseHeader is what the authenticator reads of the JOSE header.
type joseHeader struct {
	alg, kid string
	hasKID   bool
}

// parseJOSEHeader reads the header strictly: valid UTF-8 JSON object
// without duplicate members; alg, typ and kid strings; typ at+jwt; no crit
// (no extension is understood, RFC 7515 §4.1.11) and no cty (an access
// token is never nested). Other members, jku, x5u, jwk and x5c included,
// are ignored.
func parseJOSEHeader(data []byte) (joseHeader, *AuthError) {
	var (
		h                       joseHeader
		hasAlg, hasKID, typOK   bool
		hasTyp, hasCrit, hasCty bool
		badType                 bool
	)
	if !validJSONObject(data) {
		return h, errJWTMalformed()
	}
	err := forEachMember(data, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "alg":
			h.alg, ok = jsonString(value)
			hasAlg = true
		case "kid":
			h.kid, ok = jsonString(value)
			hasKID = true
		case "typ":
			var typ string
			typ, ok = jsonString(value)
			hasTyp = true
			typOK = isATJWT(typ)
		case "crit":
			hasCrit, ok = true, true
		case "cty":
			hasCty, ok = true, true
		default:
			ok = true
		}
		if !ok {
			badType = true
		}
		return nil
	})
	switch {
	case err != nil, badType, !hasAlg:
		return h, errJWTMalformed()
	case hasCrit:
		return h, jwtRefusal(audit.ReasonInvalidToken, "unsupported critical header")
	case hasCty:
		return h, jwtRefusal(audit.ReasonInvalidToken, "nested token not accepted")
	case !hasTyp || !typOK:
		return h, jwtRefusal(audit.ReasonWrongTokenType, "token type must be at+jwt")
	}
	h.hasKID = hasKID
	return h, nil
}

// isATJWT reports whether typ is at+jwt (RFC 9068 §4), with or without
// the application/ prefix, compared case-insensitively (RFC 7515 §4.1.9).
func isATJWT(typ string) bool {
	const prefix = "application/"
	if len(typ) > len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	return strings.EqualFold(typ, "at+jwt")
}

// parseClaims reads the claims set strictly: a valid UTF-8 JSON object
// without duplicate members; iss, sub, client_id, jti non-empty strings;
// aud a non-empty string or array of them; exp and iat NumericDates, nbf
// too when present; scope a string when present (RFC 9068 §2.2).
func parseClaims(data []byte) (*Claims, *AuthError) {
	if !validJSONObject(data) {
		return nil, errJWTMalformed()
	}
	c := &Claims{}
	var hasExp, hasIat, bad bool
	err := forEachMember(data, func(name, value []byte) error {
		ok := true
		switch string(name) {
		case "iss":
			c.Issuer, ok = jsonString(value)
		case "sub":
			c.Subject, ok = jsonString(value)
		case "client_id":
			c.ClientID, ok = jsonString(value)
		case "jti":
			c.JTI, ok = jsonString(value)
		case "scope":
			c.Scope, ok = jsonString(value)
		case "aud":
			c.Audience, ok = parseAudience(value)
		case "exp":
			c.ExpiresAt, ok = numericDate(value)
			hasExp = true
		case "iat":
			c.IssuedAt, ok = numericDate(value)
			hasIat = true
		case "nbf":
			c.NotBefore, ok = numericDate(value)
		case "cnf":
			c.CnfX5tS256, c.CnfJKT, ok = parseCnf(value)
		case "auth_time":
			c.AuthTime, ok = numericDate(value)
		case familyClaim:
			c.FamilyID, ok = jsonString(value)
		}
		if !ok {
			bad = true
		}
		return nil
	})
	if err != nil || bad {
		return nil, jwtRefusal(audit.ReasonInvalidToken, "malformed claims")
	}
	switch {
	case !hasExp:
		return nil, jwtRefusalFor(audit.ReasonInvalidToken, c, "missing exp claim")
	case !hasIat:
		return nil, jwtRefusalFor(audit.ReasonInvalidToken, c, "missing iat claim")
	case c.Issuer == "":
		return nil, jwtRefusalFor(audit.ReasonWrongIssuer, c, "missing iss claim")
	case len(c.Audience) == 0:
		return nil, jwtRefusalFor(audit.ReasonWrongAudience, c, "missing aud claim")
	case c.Subject == "":
		return nil, jwtRefusalFor(audit.ReasonInvalidToken, c, "missing sub claim")
	case c.ClientID == "":
		return nil, jwtRefusalFor(audit.ReasonInvalidToken, c, "missing client_id claim")
	case c.JTI == "":
		return nil, jwtRefusalFor(audit.ReasonInvalidToken, c, "missing jti claim")
	}
	return c, nil
}

// parseAudience reads aud: a string, or an array of strings.
func parseAudience(value []byte) ([]string, bool) {
	if s, ok := jsonString(value); ok {
		if s == "" {
			return nil, true
		}
		return []string{s}, true
	}
	if len(value) == 0 || value[0] != '[' {
		return nil, false
	}
	var aud []string
	err := forEachElement(value, func(v []byte) error {
		s, ok := jsonString(v)
		if !ok {
			return errMalformedJSON
		}
		aud = append(aud, s)
		return nil
	})
	return aud, err == nil
}

// parseCnf reads cnf (RFC 7800) for its x5t#S256 (RFC 8705 §3.1) and jkt
// (RFC 9449 §6.1) members, the confirmation methods Gatehouse checks.
// Anything else is malformed rather than ignored: read as absent, an empty
// member or any other method would turn a proof-of-possession token into a
// bearer one.
func parseCnf(value []byte) (x5t, jkt string, valid bool) {
	if len(value) == 0 || value[0] != '{' {
		return "", "", false
	}
	ok := true
	var seenX5t, seenJKT, other bool
	err := forEachMember(value, func(name, v []byte) error {
		var good bool
		switch string(name) {
		case "x5t#S256":
			x5t, good = jsonString(v)
			good = good && x5t != "" && !seenX5t
			seenX5t = true
		case "jkt":
			jkt, good = jsonString(v)
			good = good && jkt != "" && !seenJKT
			seenJKT = true
		default:
			other = true
			return nil
		}
		ok = ok && good
		return nil
	})
	return x5t, jkt, err == nil && ok && !other && (seenX5t || seenJKT)
}
