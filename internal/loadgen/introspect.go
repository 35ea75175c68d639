package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// IntrospectConfig describes a load on the introspection endpoint (RFC
// 7662): the caller authenticates with client_secret_basic and asks about
// Token on every request.
type IntrospectConfig struct {
	// URL is the introspection endpoint on a loopback address.
	URL string
	// Caller is a client allowed to introspect Token.
	Caller      ClientCredentials
	Token       string
	Concurrency int
	Duration    time.Duration
	Requests    int
}

// RunIntrospect drives POST <URL> until Requests are done, Duration has
// passed or ctx ends; success is a 200 saying the token is active, so a
// run that only measured refusals cannot pass for a fast one.
func RunIntrospect(ctx context.Context, cfg IntrospectConfig) (Result, error) {
	if err := checkLoopbackURL(cfg.URL); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	if cfg.Caller.ID == "" || cfg.Caller.Secret == "" || cfg.Token == "" || (cfg.Requests <= 0 && cfg.Duration <= 0) {
		return Result{}, errors.New("loadgen: introspection needs a caller, a token, and a duration or a number of requests")
	}
	authz := cfg.Caller.basicAuth()
	body := url.Values{"token": {cfg.Token}}.Encode()
	return run(ctx, cfg.Concurrency, cfg.Duration, cfg.Requests, func(ctx context.Context, c *http.Client, _ int64) (outcome, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, strings.NewReader(body))
		if err != nil {
			return outcome{}, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", authz)
		resp, err := c.Do(req)
		if err != nil {
			return outcome{}, err
		}
		// An introspection answer is small; the bound keeps a broken
		// server from making the load generator buffer without end.
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return outcome{}, err
		}
		active := strings.Contains(string(b), `"active":true`)
		return outcome{status: resp.StatusCode, ok: resp.StatusCode == http.StatusOK && active}, nil
	}), nil
}
