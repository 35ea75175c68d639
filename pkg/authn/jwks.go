package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
)

// JWKSSource returns the issuer's JWK Set (RFC 7517 §5) as raw JSON. It is
// the only place a JWTAuthenticator takes keys from: a token never names
// where its key comes from (jku, x5u, jwk and x5c are ignored, RFC 8725
// §3.10).
type JWKSSource interface {
	JWKS(ctx context.Context) ([]byte, error)
}

// JWKSFunc adapts a function to a JWKSSource: the key service itself in
// the all-in-one process, or a KeyManagementService.GetJWKS call in a
// split deployment.
type JWKSFunc func(ctx context.Context) ([]byte, error)

// JWKS calls f.
func (f JWKSFunc) JWKS(ctx context.Context) ([]byte, error) { return f(ctx) }

// Defaults of the HTTP JWKS source.
const (
	// DefaultJWKSFetchTimeout bounds one JWKS fetch.
	DefaultJWKSFetchTimeout = 5 * time.Second
	// MaxJWKSBytes is the largest JWKS document accepted; a larger one is
	// an error, never parsed in part (SECURITY-CHECKLIST items 20, 79).
	MaxJWKSBytes = 1 << 20
)

// HTTPJWKSOption configures an HTTPJWKSSource.
type HTTPJWKSOption func(*HTTPJWKSSource)

// WithJWKSHTTPClient sets the HTTP client (default: a client on a clone of
// http.DefaultTransport). Redirects are never followed, whatever the
// client's CheckRedirect says.
func WithJWKSHTTPClient(c *http.Client) HTTPJWKSOption {
	return func(s *HTTPJWKSSource) {
		if c != nil {
			s.client = c
		}
	}
}

// WithJWKSFetchTimeout bounds each fetch (default 5 s). Zero or less keeps
// the default.
func WithJWKSFetchTimeout(d time.Duration) HTTPJWKSOption {
	return func(s *HTTPJWKSSource) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithJWKSInsecureHTTP allows a plain http:// URL to a host that is not
// loopback. Without it only https:// URLs, and http:// to localhost,
// 127.0.0.0/8 or ::1, are fetched.
func WithJWKSInsecureHTTP() HTTPJWKSOption {
	return func(s *HTTPJWKSSource) { s.insecure = true }
}

// HTTPJWKSSource fetches a JWKS with GET from one URL, fixed at
// construction. Each fetch has a timeout (5 s), a size cap (1 MiB) and
// must answer 200; redirects are not followed. It is safe for concurrent
// use.
type HTTPJWKSSource struct {
	url      string
	client   *http.Client
	timeout  time.Duration
	insecure bool
	// err is the URL's problem, returned by every fetch.
	err error
}

var _ JWKSSource = (*HTTPJWKSSource)(nil)

// NewHTTPJWKSSource returns a source fetching rawURL. An invalid URL (not
// absolute, with user info or a fragment, or plain http to a remote host
// without WithJWKSInsecureHTTP) makes every fetch fail; Err reports it at
// once.
func NewHTTPJWKSSource(rawURL string, opts ...HTTPJWKSOption) *HTTPJWKSSource {
	s := &HTTPJWKSSource{url: rawURL, timeout: DefaultJWKSFetchTimeout}
	for _, opt := range opts {
		opt(s)
	}
	if s.client == nil {
		s.client = &http.Client{Transport: defaultJWKSTransport()}
	}
	// A copy, so that the caller's client keeps its own redirect policy.
	c := *s.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &c
	s.err = checkJWKSURL(rawURL, s.insecure)
	return s
}

// defaultJWKSTransport is a clone of http.DefaultTransport, so that the
// source's connections are its own.
func defaultJWKSTransport() http.RoundTripper {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return http.DefaultTransport
}

// Err reports why the source's URL is refused, or nil.
func (s *HTTPJWKSSource) Err() error { return s.err }

func checkJWKSURL(rawURL string, insecure bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("authn: JWKS URL: %w", err)
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return errors.New("authn: JWKS URL must be absolute")
	case u.User != nil:
		return errors.New("authn: JWKS URL must not carry user info")
	case u.Fragment != "":
		return errors.New("authn: JWKS URL must not have a fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		if insecure || loopback.Host(u.Hostname()) {
			return nil
		}
		return errors.New("authn: JWKS URL must be https (or loopback http)")
	}
	return fmt.Errorf("authn: JWKS URL scheme %q not supported", u.Scheme)
}

// JWKS fetches the document.
func (s *HTTPJWKSSource) JWKS(ctx context.Context) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("authn: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authn: fetch JWKS: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authn: fetch JWKS: HTTP status %d", resp.StatusCode)
	}
	if resp.ContentLength > MaxJWKSBytes {
		return nil, fmt.Errorf("authn: fetch JWKS: body of %d bytes exceeds %d", resp.ContentLength, MaxJWKSBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("authn: read JWKS: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("authn: fetch JWKS: body exceeds %d bytes", MaxJWKSBytes)
	}
	return body, nil
}
