package loadgen

import (
	"context"
	"errors"
	"fmt"
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
		code, b, err := send(ctx, c, http.MethodPost, cfg.URL, authz, body, maxBody)
		if err != nil {
			return outcome{}, err
		}
		active := strings.Contains(string(b), `"active":true`)
		return outcome{status: code, ok: code == http.StatusOK && active}, nil
	}), nil
}
