package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// APIConfig describes a load on a protected API: GET URL with a bearer
// token, cycling through Tokens so that a run can measure a repeated token
// (one) or fresh ones (more tokens than the validators cache).
type APIConfig struct {
	URL    string
	Tokens []string
	// Scheme is the Authorization scheme the tokens are sent with:
	// "Bearer" when empty, "ApiKey" for API keys. "none" sends no
	// Authorization header and takes no tokens (the JWKS, discovery).
	Scheme      string
	Concurrency int
	Duration    time.Duration
	Requests    int
}

// SchemeNone is the APIConfig.Scheme of unauthenticated requests.
const SchemeNone = "none"

// RunAPI drives GET <URL> until Requests are done, Duration has passed or
// ctx ends; success is a 200.
func RunAPI(ctx context.Context, cfg APIConfig) (Result, error) {
	if err := checkLoopbackURL(cfg.URL); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	scheme := cmp.Or(cfg.Scheme, "Bearer")
	if (len(cfg.Tokens) == 0) != (scheme == SchemeNone) || (cfg.Requests <= 0 && cfg.Duration <= 0) {
		return Result{}, errors.New("loadgen: give at least one token (none with scheme none), and a duration or a number of requests")
	}
	headers := make([]string, len(cfg.Tokens))
	for i, t := range cfg.Tokens {
		headers[i] = scheme + " " + t
	}
	return run(ctx, cfg.Concurrency, cfg.Duration, cfg.Requests, func(ctx context.Context, c *http.Client, n int64) (outcome, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
		if err != nil {
			return outcome{}, err
		}
		if len(headers) > 0 {
			// n counts from 1: with Requests = len(Tokens), each token
			// is sent exactly once.
			req.Header.Set("Authorization", headers[int((n-1)%int64(len(headers)))])
		}
		resp, err := c.Do(req)
		if err != nil {
			return outcome{}, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return outcome{}, err
		}
		return outcome{status: resp.StatusCode, ok: resp.StatusCode == http.StatusOK}, nil
	}), nil
}
