// Package clientcreds gives a service its own access token from
// Gatehouse, with the OAuth 2.0 client-credentials grant (RFC 6749 §4.4),
// and puts it on every gRPC call the service makes to Gatehouse: a token
// source that renews the token before it expires, and gRPC options that
// also renew it when Gatehouse answers Unauthenticated (after an emergency
// key rotation revoked the tokens of the compromised key, say) and retry
// the call once.
//
//	src := clientcreds.New(clientcreds.Config{
//		TokenURL:     "https://gatehouse.example/oauth2/token",
//		ClientID:     "c_...",
//		ClientSecret: secret, // gatehouse clients create --type service
//	})
//	conn, err := grpc.NewClient("gatehouse.example:9090", append(src.DialOptions(), grpc.WithTransportCredentials(tlsCreds))...)
//
// A client registered for tls_client_auth leaves ClientSecret empty and
// gives an HTTPClient that presents its certificate (pkg/partner builds
// one): its tokens are then bound to the certificate (RFC 8705).
package clientcreds

import (
	"context"
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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
)

// Config names the client and where it gets tokens.
type Config struct {
	// TokenURL is Gatehouse's token endpoint (the discovery document's
	// token_endpoint). It must be https, except on a loopback host.
	TokenURL string
	// ClientID is the registered client.
	ClientID string
	// ClientSecret is sent with HTTP Basic (client_secret_basic); empty
	// for a client that authenticates with its certificate.
	ClientSecret string
	// Scopes to request; empty asks for the client's registered scopes.
	Scopes []string
	// Resource is the RFC 8707 resource indicator, when one is needed.
	Resource string
	// HTTPClient makes the token requests; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
}

// Token is an access token and when it expires.
type Token struct {
	AccessToken string
	Expiry      time.Time
}

// RenewBefore is how long before its expiry a token is replaced, so that
// no call leaves with a token that expires in flight.
const RenewBefore = 30 * time.Second

// Source fetches tokens and reuses each until RenewBefore its expiry. It
// is safe for concurrent use: concurrent callers share one fetch.
type Source struct {
	cfg Config
	hc  *http.Client
	now func() time.Time

	mu  sync.Mutex
	tok Token
}

// New returns a Source for cfg. Configuration errors show at the first
// Token call.
func New(cfg Config) *Source {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Source{cfg: cfg, hc: hc, now: time.Now}
}

// Token returns a valid token, fetching a new one when there is none or
// the one held expires within RenewBefore.
func (s *Source) Token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.AccessToken != "" && s.now().Add(RenewBefore).Before(s.tok.Expiry) {
		return s.tok, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return Token{}, err
	}
	s.tok = tok
	return tok, nil
}

// Invalidate drops accessToken if it is still the one held, so the next
// Token call fetches a new one. Naming the token lets many calls refused
// at once cause one fetch, not one each.
func (s *Source) Invalidate(accessToken string) {
	s.mu.Lock()
	if s.tok.AccessToken == accessToken {
		s.tok = Token{}
	}
	s.mu.Unlock()
}

// Error is a refusal from the token endpoint (RFC 6749 §5.2).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("clientcreds: token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

func (s *Source) fetch(ctx context.Context) (Token, error) {
	if err := checkURL(s.cfg.TokenURL); err != nil {
		return Token{}, err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.cfg.ClientSecret == "" {
		// Certificate-authenticated clients name themselves in the body
		// (RFC 8705 §2).
		form.Set("client_id", s.cfg.ClientID)
	}
	if len(s.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(s.cfg.Scopes, " "))
	}
	if s.cfg.Resource != "" {
		form.Set("resource", s.cfg.Resource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("clientcreds: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.cfg.ClientSecret != "" {
		// RFC 6749 §2.3.1: both parts form-urlencoded before Basic.
		req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("clientcreds: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Token{}, fmt.Errorf("clientcreds: token response: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return Token{}, fmt.Errorf("clientcreds: token response (HTTP %d) is not JSON: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, &Error{Status: resp.StatusCode, Code: out.Error, Description: out.Description}
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return Token{}, errors.New("clientcreds: token response without access_token or expires_in")
	}
	return Token{AccessToken: out.AccessToken, Expiry: s.now().Add(time.Duration(out.ExpiresIn) * time.Second)}, nil
}

// checkURL refuses a token endpoint that would carry the secret in clear.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("clientcreds: token URL %q is not an absolute URL", raw)
	}
	if u.Scheme == "https" || (u.Scheme == "http" && IsLoopback(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("clientcreds: token URL %q must be https (http only on a loopback host)", raw)
}

// IsLoopback reports whether host (a name or an address, without port) is
// this machine: localhost or a loopback address.
func IsLoopback(host string) bool { return loopback.Host(host) }

// PerRPCCredentials puts the token on every call, as
// "authorization: Bearer <token>". It refuses to send the token over a
// connection without transport security unless the target is a loopback
// address.
func (s *Source) PerRPCCredentials() credentials.PerRPCCredentials { return perRPC{s} }

type perRPC struct{ s *Source }

func (p perRPC) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	if ri, ok := credentials.RequestInfoFromContext(ctx); ok {
		if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil && !loopbackURI(uri) {
			return nil, status.Error(codes.Unauthenticated, "clientcreds: refusing to send a token without transport security to a host that is not loopback")
		}
	}
	tok, err := p.s.Token(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "clientcreds: %v", err)
	}
	return map[string]string{"authorization": "Bearer " + tok.AccessToken}, nil
}

// RequireTransportSecurity is false so that loopback works without TLS;
// GetRequestMetadata enforces it everywhere else.
func (perRPC) RequireTransportSecurity() bool { return false }

// loopbackURI reports whether the call's audience URI names a loopback
// host.
func loopbackURI(uri []string) bool {
	if len(uri) == 0 {
		return false
	}
	u, err := url.Parse(uri[0])
	return err == nil && IsLoopback(u.Hostname())
}

// DialOptions are the gRPC options that authenticate a connection's calls
// with the source's tokens: the per-RPC credentials, and interceptors that,
// when a call is refused with Unauthenticated, drop the token it carried
// and retry the call once with a fresh one. Add the transport credentials
// yourself.
func (s *Source) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithPerRPCCredentials(s.PerRPCCredentials()),
		grpc.WithChainUnaryInterceptor(s.retryUnary),
		grpc.WithChainStreamInterceptor(s.retryStream),
	}
}

// held is the token a call is about to carry: the one the per-RPC
// credentials will find, fetched now if needed; "" when none can be had
// (the call then fails in the credentials, with the reason).
func (s *Source) held(ctx context.Context) string {
	tok, err := s.Token(ctx)
	if err != nil {
		return ""
	}
	return tok.AccessToken
}

func (s *Source) retryUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	sent := s.held(ctx)
	err := invoker(ctx, method, req, reply, cc, opts...)
	if status.Code(err) != codes.Unauthenticated || sent == "" || ctx.Err() != nil {
		return err
	}
	s.Invalidate(sent)
	return invoker(ctx, method, req, reply, cc, opts...)
}

// retryStream retries the opening of a stream; a stream refused later,
// after messages flowed, is the caller's to reopen (its next open gets a
// fresh token because the refused one is dropped here).
func (s *Source) retryStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	sent := s.held(ctx)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if status.Code(err) == codes.Unauthenticated && sent != "" && ctx.Err() == nil {
		s.Invalidate(sent)
		sent = ""
		cs, err = streamer(ctx, desc, cc, method, opts...)
	}
	if err != nil {
		return nil, err
	}
	if sent == "" {
		sent = s.held(ctx)
	}
	return &dropOnUnauthenticated{ClientStream: cs, s: s, sent: sent}, nil
}

// dropOnUnauthenticated drops the token a stream was opened with when the
// stream ends Unauthenticated: a server-streaming RPC is refused at its
// first RecvMsg, not at open.
type dropOnUnauthenticated struct {
	grpc.ClientStream
	s    *Source
	sent string
}

func (d *dropOnUnauthenticated) RecvMsg(m any) error {
	err := d.ClientStream.RecvMsg(m)
	if err != nil && status.Code(err) == codes.Unauthenticated && d.sent != "" {
		d.s.Invalidate(d.sent)
	}
	return err
}
