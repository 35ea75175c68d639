package token

import (
	"context"
	"crypto/x509"
	"net/http"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// RFC 8705 client authentication methods.
const (
	authTLSClient           = authn.AuthMethodTLSClient
	authSelfSignedTLSClient = authn.AuthMethodSelfSignedTLSClient
)

// CertVerifier checks the certificates a client presented on the mTLS
// listener (the listener already refused untrusted ones in the handshake;
// this is the same decision, made again where it is used). It reports
// whether the leaf chains to a trusted CA; a self-signed leaf returns
// false and no error.
type CertVerifier interface {
	Verify(certs []*x509.Certificate) (caVerified bool, err error)
}

// tlsAuth is a client's registered certificate binding (RFC 8705 §2).
type tlsAuth struct {
	reg   *clientsv1.TLSClientAuth
	bound bool
}

func tlsAuthFromProto(p *clientsv1.TLSClientAuth) tlsAuth {
	return tlsAuth{reg: p, bound: p.GetBoundAccessTokens()}
}

// peerCerts returns the certificates the client presented on this
// connection, if any.
func peerCerts(r *http.Request) []*x509.Certificate {
	if r.TLS == nil {
		return nil
	}
	return r.TLS.PeerCertificates
}

// checkClientCert authenticates an mTLS client (RFC 8705 §2): for
// tls_client_auth the certificate must chain to a trusted CA and carry the
// one registered subject DN or SAN; for self_signed_tls_client_auth it
// must be one of the registered certificates. It returns the reason of a
// refusal, or "".
func (s *Service) checkClientCert(r *http.Request, cl *client) audit.Reason {
	certs := peerCerts(r)
	if len(certs) == 0 || s.cfg.ClientCerts == nil {
		return audit.ReasonMissingCredential
	}
	caVerified, err := s.cfg.ClientCerts.Verify(certs)
	if err != nil {
		return ReasonCertificateRefused
	}
	if authn.ClientCertificateMatches(cl.authMethod, cl.tls.reg, certs[0], caVerified) {
		return ""
	}
	return ReasonCertificateRefused
}

// ReasonCertificateRefused is an mTLS client whose certificate is missing,
// untrusted, or not the one registered.
const ReasonCertificateRefused = audit.ReasonClientCertificateRefused

type certKey struct{}

// withBoundCert carries the thumbprint a token must be bound to.
func withBoundCert(ctx context.Context, thumbprint string) context.Context {
	return context.WithValue(ctx, certKey{}, thumbprint)
}

func boundCert(ctx context.Context) string {
	tp, _ := ctx.Value(certKey{}).(string)
	return tp
}
