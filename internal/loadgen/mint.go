package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// MintConfig configures MintTokens.
type MintConfig struct {
	// URL is the token endpoint, on a loopback address.
	URL                    string
	ClientID, ClientSecret string
	// Scope is requested when not empty.
	Scope string
	// N is how many tokens to get; Concurrency how many requests are in
	// flight (default 1).
	N, Concurrency int
}

// MintTokens gets cfg.N access tokens with the client_credentials grant,
// for a load tool's pool of tokens. Any refusal ends it with an error: a
// pool with holes would measure refusals.
func MintTokens(ctx context.Context, cfg MintConfig) ([]string, error) {
	if err := checkLoopbackURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.N < 1 {
		return nil, errors.New("loadgen: a client id, a secret and at least one token are required")
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if cfg.Scope != "" {
		form.Set("scope", cfg.Scope)
	}
	body := form.Encode()
	authz := basicAuth(cfg.ClientID, cfg.ClientSecret)
	conc := min(max(cfg.Concurrency, 1), cfg.N)
	tr := newLoopbackTransport(conc)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tokens := make([]string, cfg.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= cfg.N {
					return
				}
				tok, err := mintOne(ctx, client, cfg.URL, authz, body)
				if err != nil {
					cancel(err)
					return
				}
				tokens[i] = tok
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("loadgen: mint tokens: %w", err)
	}
	return tokens, nil
}

func mintOne(ctx context.Context, c *http.Client, u, authz, body string) (string, error) {
	code, b, err := send(ctx, c, http.MethodPost, u, authz, body, maxBody)
	if err != nil {
		return "", err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &out) != nil || out.AccessToken == "" {
		return "", fmt.Errorf("token endpoint answered %d: %.200s", code, b)
	}
	return out.AccessToken, nil
}
