package authn

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// ServiceURIPrefix starts the SAN URI that names a Gatehouse service in
// its identity certificate: urn:gatehouse:service:<name>. Only the
// platform CA's operator tool writes it (gatehouse service-cert); the CA's
// RPC for partners refuses every SAN a CSR asks for.
const ServiceURIPrefix = "urn:gatehouse:service:"

// ServiceClientPrefix starts the client_id of a service's principal:
// service:<name>. The registry generates client ids (c_...), so no client
// can pass for a service.
const ServiceClientPrefix = "service:"

// CertServiceName returns the service a certificate names: the name in its
// one ServiceURIPrefix SAN URI. A certificate with none, or more than one,
// or one that also names a client, names no service.
func CertServiceName(cert *x509.Certificate) (string, bool) {
	return certURIName(cert, ServiceURIPrefix, ClientURIPrefix)
}

// certURIName returns what follows prefix in cert's one SAN URI that
// starts with it, unless a SAN URI starts with other: a certificate names
// one client or one service, never both.
func certURIName(cert *x509.Certificate, prefix, other string) (string, bool) {
	var name string
	n := 0
	for _, u := range cert.URIs {
		switch s := u.String(); {
		case strings.HasPrefix(s, prefix):
			name = strings.TrimPrefix(s, prefix)
			n++
		case strings.HasPrefix(s, other):
			return "", false
		}
	}
	return name, n == 1 && name != ""
}

// ServiceIdentities recognises the services of a split deployment by the
// certificates the platform CA issued them, and gives each the scopes its
// role needs. It never asks the client registry: the revocation service
// must authenticate the registry's follower before the registry can serve
// anyone, so a service's identity cannot depend on a registry lookup. A
// service certificate is refused once its serial is revoked, like any other.
type ServiceIdentities struct {
	platform *x509.CertPool
	scopes   map[string][]string
	now      func() time.Time

	// verified caches chain verifications per parsed certificate: a
	// connection's certificate is one pointer for its lifetime.
	verified sync.Map // *x509.Certificate -> string (service name)
	n        atomic.Int64
}

// maxVerifiedServiceCerts bounds the verification cache; past it the
// cache starts over.
const maxVerifiedServiceCerts = 1024

// NewServiceIdentities trusts certificates the platform CA issued to the
// services named in scopes, which maps each service to its scopes.
func NewServiceIdentities(platform *x509.CertPool, scopes map[string][]string) *ServiceIdentities {
	return &ServiceIdentities{platform: platform, scopes: scopes, now: time.Now}
}

// Identify returns the service cert belongs to: it names a known service,
// is within its validity, and chains to the platform CA for client
// authentication.
func (s *ServiceIdentities) Identify(cert *x509.Certificate) (string, bool) {
	if s == nil || s.platform == nil || cert == nil {
		return "", false
	}
	name, ok := CertServiceName(cert)
	if _, known := s.scopes[name]; !ok || !known {
		return "", false
	}
	now := s.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return "", false
	}
	if v, ok := s.verified.Load(cert); ok {
		return v.(string), true
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots: s.platform, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return "", false
	}
	if _, loaded := s.verified.LoadOrStore(cert, name); !loaded && s.n.Add(1) > maxVerifiedServiceCerts {
		s.verified.Clear()
		s.n.Store(0)
	}
	return name, true
}

// principal is the principal of service name's certificate.
func (s *ServiceIdentities) principal(name string, cert *x509.Certificate, thumb string) *Principal {
	id := ServiceClientPrefix + name
	return &Principal{
		Subject:        id,
		ClientID:       id,
		Kind:           authv1.CredentialKind_CREDENTIAL_KIND_MTLS,
		Scopes:         slices.Clone(s.scopes[name]),
		Trust:          TrustMTLS,
		RateLimitTier:  ratelimit.TierInternal,
		IssuedAt:       cert.NotBefore,
		CertThumbprint: thumb,
		CertSerial:     CertSerial(cert),
	}
}

// WithServiceIdentities makes a ClientCertAuthenticator accept the
// services' certificates too (ServiceIdentities); the API-key
// authenticator ignores it.
func WithServiceIdentities(s *ServiceIdentities) APIKeyOption {
	return func(o *apiKeyOptions) { o.services = s }
}

// ForwardedBy is a WithTrustedForwarderPeer predicate: the request is
// marked as forwarded (MetadataForwarded, which the forwarding gateway sets
// on every request it forwards) and comes over a TLS connection
// authenticated with the certificate of the named service. The gateway's
// own calls carry no mark and are authenticated by its certificate.
func ForwardedBy(services *ServiceIdentities, service string) func(context.Context, *peer.Peer) bool {
	return func(ctx context.Context, p *peer.Peer) bool {
		if len(metadata.ValueFromIncomingContext(ctx, MetadataForwarded)) == 0 {
			return false
		}
		info, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok || len(info.State.PeerCertificates) == 0 {
			return false
		}
		name, ok := services.Identify(info.State.PeerCertificates[0])
		return ok && name == service
	}
}
