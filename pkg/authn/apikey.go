package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
)

// APIKeyVerifier checks a raw API key. The client registry's gRPC server
// implements it in process; VerifierFromClient adapts a gRPC client for
// split deployments. A returned error means the key could not be checked
// (an outage), never that it is invalid: that is resp.Failure.
type APIKeyVerifier interface {
	VerifyAPIKey(ctx context.Context, req *clientsv1.VerifyAPIKeyRequest) (*clientsv1.VerifyAPIKeyResponse, error)
}

type clientVerifier struct {
	c clientsv1.ClientRegistryServiceClient
}

// VerifierFromClient returns an APIKeyVerifier calling the registry over
// gRPC. The connection must carry the validator's own credential (the
// method requires the gatehouse:internal scope).
func VerifierFromClient(c clientsv1.ClientRegistryServiceClient) APIKeyVerifier {
	return clientVerifier{c: c}
}

func (v clientVerifier) VerifyAPIKey(ctx context.Context, req *clientsv1.VerifyAPIKeyRequest) (*clientsv1.VerifyAPIKeyResponse, error) {
	return v.c.VerifyAPIKey(ctx, req)
}

// ClientGetterFromClient returns a ClientGetter calling the registry over
// gRPC, for TierCache and the certificate authenticator. The connection
// must carry the validator's own credential (gatehouse:validator).
func ClientGetterFromClient(c clientsv1.ClientRegistryServiceClient) ClientGetter {
	return clientGetter{c: c}
}

type clientGetter struct {
	c clientsv1.ClientRegistryServiceClient
}

func (g clientGetter) GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	return g.c.GetClient(ctx, req)
}

// Cache defaults of the APIKeyAuthenticator.
const (
	DefaultCacheTTL        = 30 * time.Second
	DefaultCacheMaxEntries = 10_000
)

// APIKeyOption configures an APIKeyAuthenticator.
type APIKeyOption func(*apiKeyOptions)

type apiKeyOptions struct {
	ttl time.Duration
	max int
	now func() time.Time
	// services is for ClientCertAuthenticator only.
	services *ServiceIdentities
}

// WithCacheTTL sets how long an accepted key is trusted without asking the
// verifier again (default 30 s; never past the key's expire_time). Zero or
// less disables the cache.
func WithCacheTTL(d time.Duration) APIKeyOption {
	return func(o *apiKeyOptions) { o.ttl = d }
}

// WithCacheMaxEntries bounds the cache (default 10 000 keys). Zero or less
// disables the cache.
func WithCacheMaxEntries(n int) APIKeyOption {
	return func(o *apiKeyOptions) { o.max = n }
}

// WithCacheClock replaces time.Now for the cache, for tests.
func WithCacheClock(now func() time.Time) APIKeyOption {
	return func(o *apiKeyOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// keyHash is SHA-256 of a raw key: the cache's index. The raw key itself
// is never stored.
type keyHash [sha256.Size]byte

// APIKeyAuthenticator authenticates Gatehouse API keys: it checks the
// format and checksum locally (a malformed key never reaches the verifier),
// then asks the APIKeyVerifier, caching accepted keys. Concurrent checks of
// the same uncached key share one verifier call. It is safe for concurrent
// use.
type APIKeyAuthenticator struct {
	verifier APIKeyVerifier
	ttl      time.Duration
	max      int
	now      func() time.Time

	mu       sync.RWMutex
	entries  map[keyHash]*cacheEntry
	byClient map[string]map[keyHash]struct{}
	byKey    map[string]map[keyHash]struct{}
	inflight map[keyHash]*flight
	// known are the key ids accepted lately, until when (knownFor): at an
	// address over its failure budget, a key with one of these ids is still
	// checked (Validator.authorize), so that a good caller sharing the
	// address with a guesser keeps working after its cache entry expires.
	known map[string]time.Time
	// knownSweep is when the earliest of known expires, as of the last
	// sweep of a full known: no sweep before it can free anything, so a
	// full known costs a new key one comparison, not a scan of 100 000
	// entries under the write lock every check of a cached key waits on.
	knownSweep time.Time
	// gen counts invalidations: a verification that started before one
	// is not cached, so an event cannot be undone by a slow answer.
	gen uint64

	// onWait, when set by a test, is called when a check starts waiting
	// for another's verification of the same key.
	onWait func()
}

type cacheEntry struct {
	p       *Principal
	expires time.Time
}

type flight struct {
	done chan struct{}
	p    *Principal
	err  error
}

var _ Authenticator = (*APIKeyAuthenticator)(nil)

// NewAPIKeyAuthenticator returns an authenticator asking v.
func NewAPIKeyAuthenticator(v APIKeyVerifier, opts ...APIKeyOption) *APIKeyAuthenticator {
	o := apiKeyOptions{ttl: DefaultCacheTTL, max: DefaultCacheMaxEntries, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return &APIKeyAuthenticator{
		verifier: v,
		ttl:      o.ttl,
		max:      o.max,
		now:      o.now,
		entries:  map[keyHash]*cacheEntry{},
		byClient: map[string]map[keyHash]struct{}{},
		byKey:    map[string]map[keyHash]struct{}{},
		inflight: map[keyHash]*flight{},
		known:    map[string]time.Time{},
	}
}

// knownFor is how long an accepted key id stays known; maxKnown bounds
// how many are.
const (
	knownFor = 24 * time.Hour
	maxKnown = 100_000
)

// knownKeyID returns raw's key id when this authenticator accepted a key
// with that id within knownFor (the secret is not checked here: the
// verifier does, and failures are counted by the caller).
func (a *APIKeyAuthenticator) knownKeyID(raw string) (string, bool) {
	key, err := apikey.Parse(raw)
	if err != nil {
		return "", false
	}
	a.mu.RLock()
	until, ok := a.known[key.ID]
	a.mu.RUnlock()
	return key.ID, ok && a.now().Before(until)
}

// rememberLocked marks keyID as accepted now. a.mu must be held.
func (a *APIKeyAuthenticator) rememberLocked(keyID string) {
	now := a.now()
	if _, ok := a.known[keyID]; !ok && len(a.known) >= maxKnown {
		if now.Before(a.knownSweep) {
			return
		}
		var earliest time.Time
		for id, until := range a.known {
			switch {
			case !now.Before(until):
				delete(a.known, id)
			case earliest.IsZero() || until.Before(earliest):
				earliest = until
			}
		}
		a.knownSweep = earliest
		if len(a.known) >= maxKnown {
			return
		}
	}
	a.known[keyID] = now.Add(knownFor)
}

// Kind returns CREDENTIAL_KIND_API_KEY.
func (a *APIKeyAuthenticator) Kind() authv1.CredentialKind {
	return authv1.CredentialKind_CREDENTIAL_KIND_API_KEY
}

func (a *APIKeyAuthenticator) caching() bool { return a.ttl > 0 && a.max > 0 }

// cached reports whether raw is a key accepted before and still cached:
// checking it again asks no one.
func (a *APIKeyAuthenticator) cached(raw string) bool {
	if !a.caching() || !apikey.Looks(raw) {
		return false
	}
	h := hashKey(raw)
	a.mu.RLock()
	e := a.entries[h]
	a.mu.RUnlock()
	return e != nil && a.now().Before(e.expires)
}

// Authenticate checks a raw API key.
func (a *APIKeyAuthenticator) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	// Only strings of a key's exact length and prefix are hashed or parsed.
	if !apikey.Looks(raw) {
		return nil, errMalformed()
	}
	h := hashKey(raw)
	if a.caching() {
		a.mu.RLock()
		e := a.entries[h]
		a.mu.RUnlock()
		// A cached entry is a key that parsed and was accepted before, so
		// parsing it again could not fail.
		if e != nil && a.now().Before(e.expires) {
			return e.p, nil
		}
	}
	key, err := apikey.Parse(raw)
	if err != nil {
		return nil, errMalformed()
	}

	a.mu.Lock()
	if f := a.inflight[h]; f != nil {
		a.mu.Unlock()
		if a.onWait != nil {
			a.onWait()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil && ctx.Err() == nil && isContextErr(f.err) {
			// The leader's caller went away; this caller still waits.
			return a.verify(ctx, raw, key.ID)
		}
		return f.p, f.err
	}
	f := &flight{done: make(chan struct{})}
	a.inflight[h] = f
	gen := a.gen
	a.mu.Unlock()

	p, expires, err := a.verifyUntil(ctx, raw, key.ID)

	a.mu.Lock()
	delete(a.inflight, h)
	if err == nil && a.gen == gen {
		a.rememberLocked(key.ID)
	}
	if err == nil && a.caching() && a.gen == gen && a.now().Before(expires) {
		a.insertLocked(h, p, expires)
	}
	a.mu.Unlock()
	f.p, f.err = p, err
	close(f.done)
	return p, err
}

func (a *APIKeyAuthenticator) verify(ctx context.Context, raw, keyID string) (*Principal, error) {
	p, _, err := a.verifyUntil(ctx, raw, keyID)
	return p, err
}

// verifyUntil asks the verifier and returns the principal and until when
// it may be cached.
func (a *APIKeyAuthenticator) verifyUntil(ctx context.Context, raw, keyID string) (*Principal, time.Time, error) {
	resp, err := a.verifier.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: raw})
	if err != nil {
		if ctx.Err() != nil {
			return nil, time.Time{}, ctx.Err()
		}
		return nil, time.Time{}, NewUnavailable(err)
	}
	if resp == nil {
		return nil, time.Time{}, NewUnavailable(errors.New("verifier returned no response"))
	}
	clientID := resp.GetClientId()
	switch resp.GetFailure() {
	case clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED:
	case clientsv1.APIKeyFailure_API_KEY_FAILURE_MALFORMED:
		return nil, time.Time{}, NewInvalidCredential(audit.ReasonMalformedCredential, clientID, "malformed credential")
	case clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED:
		return nil, time.Time{}, NewInvalidCredential(audit.ReasonRevokedAPIKey, clientID, "API key revoked")
	case clientsv1.APIKeyFailure_API_KEY_FAILURE_EXPIRED:
		return nil, time.Time{}, NewInvalidCredential(audit.ReasonExpiredAPIKey, clientID, "API key expired")
	case clientsv1.APIKeyFailure_API_KEY_FAILURE_CLIENT_DISABLED:
		return nil, time.Time{}, NewInvalidCredential(audit.ReasonClientDisabled, clientID, "client disabled")
	default: // UNKNOWN, and any failure added later: refused.
		return nil, time.Time{}, NewInvalidCredential(audit.ReasonUnknownAPIKey, clientID, "unknown API key")
	}
	if clientID == "" {
		return nil, time.Time{}, NewUnavailable(errors.New("verifier accepted a key without a client_id"))
	}
	p := &Principal{
		Subject:       clientID,
		ClientID:      clientID,
		Kind:          authv1.CredentialKind_CREDENTIAL_KIND_API_KEY,
		Scopes:        slices.Clone(resp.GetScopes()),
		Trust:         TrustAPIKey,
		KeyID:         keyID,
		RateLimitTier: tierName(resp.GetRateLimitTier()),
	}
	if ct := resp.GetCreateTime(); ct != nil {
		// A client revocation refuses keys created at or before it.
		p.IssuedAt = ct.AsTime()
	}
	expires := a.now().Add(a.ttl)
	if resp.GetExpireTime() != nil {
		if exp := resp.GetExpireTime().AsTime(); exp.Before(expires) {
			expires = exp
		}
	}
	return p, expires, nil
}

// insertLocked caches p under h. a.mu must be held for writing.
func (a *APIKeyAuthenticator) insertLocked(h keyHash, p *Principal, expires time.Time) {
	if _, ok := a.entries[h]; !ok && len(a.entries) >= a.max {
		a.evictLocked()
	}
	a.removeLocked(h)
	a.entries[h] = &cacheEntry{p: p, expires: expires}
	addIndex(a.byClient, p.ClientID, h)
	addIndex(a.byKey, p.KeyID, h)
}

// evictLocked makes room: it drops expired entries and, if none was,
// about one in sixteen entries chosen by map order.
func (a *APIKeyAuthenticator) evictLocked() {
	now := a.now()
	dropped := 0
	for h, e := range a.entries {
		if !now.Before(e.expires) {
			a.removeLocked(h)
			dropped++
		}
	}
	if dropped > 0 {
		return
	}
	n := len(a.entries)/16 + 1
	for h := range a.entries {
		if n == 0 {
			break
		}
		a.removeLocked(h)
		n--
	}
}

func (a *APIKeyAuthenticator) removeLocked(h keyHash) {
	e := a.entries[h]
	if e == nil {
		return
	}
	delete(a.entries, h)
	delIndex(a.byClient, e.p.ClientID, h)
	delIndex(a.byKey, e.p.KeyID, h)
}

// InvalidateClient drops every cached key of a client.
func (a *APIKeyAuthenticator) InvalidateClient(clientID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for h := range a.byClient[clientID] {
		a.removeLocked(h)
	}
}

// InvalidateKey drops a cached key by its public key id.
func (a *APIKeyAuthenticator) InvalidateKey(keyID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	delete(a.known, keyID)
	for h := range a.byKey[keyID] {
		a.removeLocked(h)
	}
}

// InvalidateAll empties the cache, e.g. after the event stream was
// interrupted.
func (a *APIKeyAuthenticator) InvalidateAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	clear(a.entries)
	clear(a.byClient)
	clear(a.byKey)
}

func (a *APIKeyAuthenticator) cacheLen() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.entries)
}

func addIndex(idx map[string]map[keyHash]struct{}, k string, h keyHash) {
	set := idx[k]
	if set == nil {
		set = map[keyHash]struct{}{}
		idx[k] = set
	}
	set[h] = struct{}{}
}

func delIndex(idx map[string]map[keyHash]struct{}, k string, h keyHash) {
	set := idx[k]
	delete(set, h)
	if len(set) == 0 {
		delete(idx, k)
	}
}

// hashKey hashes a raw key of apikey.Len bytes without allocating.
func hashKey(raw string) keyHash {
	var buf [apikey.Len]byte
	n := copy(buf[:], raw)
	return sha256.Sum256(buf[:n])
}

// tierName maps the registry's tier to pkg/ratelimit's tier name; empty
// (unspecified) means the standard tier there.
func tierName(t clientsv1.RateLimitTier) string {
	switch t {
	case clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW:
		return ratelimit.TierLow
	case clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD:
		return ratelimit.TierStandard
	case clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH:
		return ratelimit.TierHigh
	case clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL:
		return ratelimit.TierInternal
	}
	return ""
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
