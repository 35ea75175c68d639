// Package partner is what a partner imports to call Gatehouse-protected
// APIs over mutual TLS (RFC 8705): an HTTP client and a gRPC channel that
// present the partner's certificate and trust only the given CA, and a
// token source that fetches certificate-bound access tokens with
// tls_client_auth and renews them before they expire.
//
//	p := partner.Config{
//		TokenURL:    "https://gatehouse.example:8443/oauth2/token",
//		ClientID:    "c_...",
//		Certificate: cert,          // tls.LoadX509KeyPair("partner.pem", "partner-key.pem")
//		RootCAs:     platformCA,    // the pool that signs the server's certificate
//		Scopes:      []string{"inventory:read"},
//	}
//	conn, err := p.Dial("gatehouse.example:8443") // every RPC carries a fresh bound token
package partner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Config describes a partner.
type Config struct {
	// TokenURL is the token endpoint on the mTLS listener (the metadata's
	// mtls_endpoint_aliases.token_endpoint).
	TokenURL string
	// ClientID is the partner's registered client (tls_client_auth or
	// self_signed_tls_client_auth).
	ClientID string
	// Certificate is the partner's client certificate and key.
	Certificate tls.Certificate
	// RootCAs verifies the server; nil uses the system roots.
	RootCAs *x509.CertPool
	// Scopes to request; empty asks for the client's registered scopes.
	Scopes []string
	// Resource is the RFC 8707 resource indicator, when the API has one.
	Resource string
}

// TLSConfig presents the certificate and verifies the server with
// RootCAs: TLS 1.2 at least.
func (c Config) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.Certificate}, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
}

// HTTPClient is an HTTP client over mutual TLS.
func (c Config) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: c.TLSConfig(), ForceAttemptHTTP2: true},
		Timeout:   30 * time.Second,
	}
}

// Token is an access token and when it expires.
type Token struct {
	AccessToken string
	Expiry      time.Time
}

// renewBefore renews a token this long before it expires, so a call
// never leaves with one that expires in flight.
const renewBefore = 30 * time.Second

// TokenSource returns tokens bound to the certificate, fetched with the
// client-credentials grant over mutual TLS and reused until shortly before
// they expire. It is safe for concurrent use.
func (c Config) TokenSource() *TokenSource {
	return &TokenSource{cfg: c, hc: c.HTTPClient(), now: time.Now}
}

// TokenSource caches one token.
type TokenSource struct {
	cfg Config
	hc  *http.Client
	now func() time.Time

	mu  sync.Mutex
	tok Token
}

// Token returns a valid token, fetching a new one when needed.
func (s *TokenSource) Token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.AccessToken != "" && s.now().Add(renewBefore).Before(s.tok.Expiry) {
		return s.tok, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return Token{}, err
	}
	s.tok = tok
	return tok, nil
}

// Error is a refusal from the token endpoint (RFC 6749 §5.2).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("partner: token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

func (s *TokenSource) fetch(ctx context.Context) (Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.cfg.ClientID}}
	if len(s.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(s.cfg.Scopes, " "))
	}
	if s.cfg.Resource != "" {
		form.Set("resource", s.cfg.Resource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("partner: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("partner: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Token{}, fmt.Errorf("partner: token response: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return Token{}, fmt.Errorf("partner: token response (HTTP %d) is not JSON: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, &Error{Status: resp.StatusCode, Code: out.Error, Description: out.Description}
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return Token{}, errors.New("partner: token response without access_token or expires_in")
	}
	return Token{AccessToken: out.AccessToken, Expiry: s.now().Add(time.Duration(out.ExpiresIn) * time.Second)}, nil
}

// perRPC puts a bound token on every call.
type perRPC struct{ src *TokenSource }

func (p perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := p.src.Token(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok.AccessToken}, nil
}

// RequireTransportSecurity: a bound token is useless without the
// certificate, but it is still never sent in clear.
func (perRPC) RequireTransportSecurity() bool { return true }

// Dial opens a gRPC channel to target over mutual TLS; every call carries
// a certificate-bound access token from TokenSource.
func (c Config) Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(c.TLSConfig())),
		grpc.WithPerRPCCredentials(perRPC{src: c.TokenSource()}),
	}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("partner: dial %s: %w", target, err)
	}
	return conn, nil
}
