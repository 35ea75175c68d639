// Package benchbare is the yardstick Gatehouse's HTTP figures are measured
// against: bare net/http handlers that do the least an auth server or a
// resource server must do, with the same libraries Gatehouse uses, and
// nothing else (no routing framework, no gRPC hop, no interceptors,
// limiter, metrics, logging or audit).
//
//   - POST /token: client_credentials for one client, its secret checked
//     against a SHA-256 hash in constant time, an ES256 JWT signed with jwx;
//   - GET /cached: a bearer JWT verified against the issuer's JWKS (iss,
//     aud, exp, algorithm), remembered under the SHA-256 of the token until
//     it expires, as a resource server's validated-token cache does;
//   - GET /uncached: the same verification on every request;
//   - GET /allow: 200 and nothing else, the least any authorizer behind a
//     gateway's HTTP subrequest can cost (forward auth's ceiling).
//
// Both validation routes answer {"items":[]}, what the example inventory
// API answers when it is empty, so the bytes on the wire match.
package benchbare

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Config names what the yardstick validates and whom it issues to.
type Config struct {
	// Issuer and Audience are what /cached and /uncached require of a
	// token; JWKS is the issuer's key set, read once.
	Issuer, Audience string
	JWKS             jwk.Set
	// ClientID and ClientSecret are the one client /token serves.
	ClientID, ClientSecret string
	// TokenLifetime is the lifetime of the tokens /token signs.
	TokenLifetime time.Duration
}

// FetchJWKS reads the key set at url once. It does not use jwk.Fetch,
// which starts a process-wide fetcher whose goroutines outlive the call.
func FetchJWKS(ctx context.Context, url string) (jwk.Set, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("benchbare: fetch %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("benchbare: fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("benchbare: fetch %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("benchbare: fetch %s: %s", url, resp.Status)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("benchbare: parse the key set at %s: %w", url, err)
	}
	return set, nil
}

// Handler returns the yardstick's handlers.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.JWKS == nil {
		return nil, errors.New("benchbare: an issuer, an audience and a key set are needed")
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("benchbare: signing key: %w", err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("benchbare: signing key: %w", err)
	}
	if err := key.Set(jwk.KeyIDKey, "bare"); err != nil {
		return nil, fmt.Errorf("benchbare: signing key: %w", err)
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 10 * time.Minute
	}
	y := &yardstick{cfg: cfg, signKey: key, cache: map[[32]byte]time.Time{}}
	secretHash := sha256.Sum256([]byte(cfg.ClientSecret))
	y.secretHash = secretHash[:]
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", y.token)
	mux.HandleFunc("GET /cached", y.validate(true))
	mux.HandleFunc("GET /uncached", y.validate(false))
	mux.HandleFunc("GET /allow", func(http.ResponseWriter, *http.Request) {})
	return mux, nil
}

type yardstick struct {
	cfg        Config
	signKey    jwk.Key
	secretHash []byte

	mu    sync.RWMutex
	cache map[[32]byte]time.Time // token hash → expiry
}

// maxCached bounds the cache as Gatehouse's validators bound theirs.
const maxCached = 10_000

var emptyItems = []byte(`{"items":[]}`)

func (y *yardstick) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || r.PostFormValue("grant_type") != "client_credentials" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	got := sha256.Sum256([]byte(secret))
	if id != y.cfg.ClientID || subtle.ConstantTimeCompare(got[:], y.secretHash) != 1 {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer(y.cfg.Issuer).Subject(id).Audience([]string{y.cfg.Audience}).
		IssuedAt(now).Expiration(now.Add(y.cfg.TokenLifetime)).JwtID(hex.EncodeToString(jti[:])).
		Claim("client_id", id).Claim("scope", r.PostFormValue("scope")).Build()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, y.signKey))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": string(signed), "token_type": "Bearer", "expires_in": int(y.cfg.TokenLifetime.Seconds()),
	})
}

func (y *yardstick) validate(cached bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || raw == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bare"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		now := time.Now()
		h := sha256.Sum256([]byte(raw))
		valid := false
		if cached {
			y.mu.RLock()
			exp, hit := y.cache[h]
			y.mu.RUnlock()
			valid = hit && now.Before(exp)
		}
		if !valid {
			tok, err := jwt.ParseString(raw, jwt.WithKeySet(y.cfg.JWKS),
				jwt.WithValidate(true), jwt.WithIssuer(y.cfg.Issuer), jwt.WithAudience(y.cfg.Audience), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })))
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bare", error="invalid_token"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if cached {
				y.mu.Lock()
				if len(y.cache) >= maxCached {
					clear(y.cache)
				}
				y.cache[h] = tok.Expiration()
				y.mu.Unlock()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(emptyItems)
	}
}
