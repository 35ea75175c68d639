package loadgen

import (
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
	URL         string
	Tokens      []string
	Concurrency int
	Duration    time.Duration
	Requests    int
}

// RunAPI drives GET <URL> until Requests are done, Duration has passed or
// ctx ends; success is a 200.
func RunAPI(ctx context.Context, cfg APIConfig) (Result, error) {
	if err := checkLoopbackURL(cfg.URL); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	if len(cfg.Tokens) == 0 || (cfg.Requests <= 0 && cfg.Duration <= 0) {
		return Result{}, errors.New("loadgen: give at least one token, and a duration or a number of requests")
	}
	headers := make([]string, len(cfg.Tokens))
	for i, t := range cfg.Tokens {
		headers[i] = "Bearer " + t
	}
	return run(ctx, cfg.Concurrency, cfg.Duration, cfg.Requests, func(ctx context.Context, c *http.Client, n int64) (outcome, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
		if err != nil {
			return outcome{}, err
		}
		req.Header.Set("Authorization", headers[int(n)%len(headers)])
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
