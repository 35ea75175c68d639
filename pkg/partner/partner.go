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
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/clientcreds"
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
type Token = clientcreds.Token

// Error is a refusal from the token endpoint (RFC 6749 §5.2).
type Error = clientcreds.Error

// TokenSource fetches certificate-bound tokens and reuses each until
// shortly before it expires; it is safe for concurrent use.
type TokenSource = clientcreds.Source

// TokenSource returns tokens bound to the certificate, fetched with the
// client-credentials grant over mutual TLS (tls_client_auth: the client
// names itself and presents its certificate, RFC 8705 §2).
func (c Config) TokenSource() *TokenSource {
	return clientcreds.New(clientcreds.Config{
		TokenURL:   c.TokenURL,
		ClientID:   c.ClientID,
		Scopes:     c.Scopes,
		Resource:   c.Resource,
		HTTPClient: c.HTTPClient(),
	})
}

// Dial opens a gRPC channel to target over mutual TLS; every call carries
// a certificate-bound access token from TokenSource, renewed and retried
// once when a call is refused with Unauthenticated.
func (c Config) Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append(append([]grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(c.TLSConfig())),
	}, c.TokenSource().DialOptions()...), opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("partner: dial %s: %w", target, err)
	}
	return conn, nil
}
