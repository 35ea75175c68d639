// Package mtls is the transport side of RFC 8705: the TLS configuration of
// the listener that partners reach with client certificates, and the
// checks of those certificates.
//
// The listener requests a certificate and checks it during the handshake:
// one that chains to a trusted CA (the platform CA, plus any configured
// bundle) for client authentication and is not revoked, or one that is
// self-signed (self_signed_tls_client_auth: only the token service knows
// which client registered it). Anything else fails the handshake. A
// connection without a certificate is allowed: it can still use the other
// credentials, but never a certificate-bound token.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// Trust decides which client certificates are accepted.
type Trust struct {
	pool    *x509.CertPool
	revoked func(serial string) bool
	now     func() time.Time
}

// NewTrust trusts certificates that chain to pool for client
// authentication, unless revoked(serial) says otherwise (nil: none are).
func NewTrust(pool *x509.CertPool, revoked func(serial string) bool) *Trust {
	return &Trust{pool: pool, revoked: revoked, now: time.Now}
}

// ErrUntrusted is a client certificate that neither chains to a trusted CA
// nor is self-signed, or is expired or revoked.
var ErrUntrusted = errors.New("mtls: client certificate not trusted")

// Verify checks the certificates a client presented (leaf first). It
// reports whether the leaf chains to a trusted CA; a valid self-signed
// leaf returns false and no error, for the token service to match against
// a client's registered thumbprints.
func (t *Trust) Verify(certs []*x509.Certificate) (caVerified bool, err error) {
	if len(certs) == 0 {
		return false, fmt.Errorf("%w: none presented", ErrUntrusted)
	}
	leaf := certs[0]
	now := t.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return false, fmt.Errorf("%w: outside its validity", ErrUntrusted)
	}
	if t.revoked != nil && t.revoked(authn.CertSerial(leaf)) {
		return false, fmt.Errorf("%w: revoked", ErrUntrusted)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if t.pool != nil {
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: t.pool, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err == nil {
			return true, nil
		}
	}
	if selfSigned(leaf) {
		return false, nil
	}
	return false, fmt.Errorf("%w: unknown issuer", ErrUntrusted)
}

// selfSigned: issued by itself and signed by its own key. (Not
// CheckSignatureFrom, which wants the parent to be a CA: a partner's
// self-signed leaf is not.)
func selfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// tls12Suites are TLS 1.2's AEAD suites with forward secrecy (RFC 9325,
// FAPI 2.0 §5.2.2): Go's default list also has CBC suites (checklist item
// 77). TLS 1.3 suites are not configurable and all AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig is the listener's TLS configuration: TLS 1.2 at least with
// AEAD suites only (1.3 preferred by the client hello), HTTP/2 and
// HTTP/1.1 on one port, and client certificates requested and checked in
// the handshake by trust.
func ServerConfig(cert tls.Certificate, trust *Trust) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tls12Suites,
		NextProtos:   []string{"h2", "http/1.1"},
		ClientAuth:   tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			_, err := trust.Verify(cs.PeerCertificates)
			return err
		},
	}
}

// AppendCertsFile adds the PEM certificates of the file at path (a CA
// bundle from configuration) to pool. A file without any is an error, so
// that a wrong path or format is not a silently empty trust.
func AppendCertsFile(pool *x509.CertPool, path string) error {
	pem, err := os.ReadFile(path) //nolint:gosec // a path from configuration
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return nil
}
