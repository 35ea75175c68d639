package authn

import (
	"context"
	"crypto/x509"
	"fmt"
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

// ValidatorURIPrefix starts the SAN URI that names a resource service
// outside Gatehouse in its validator identity certificate:
// urn:gatehouse:validator:<name>. A prefix of its own, not a second URI
// beside a service's, so that no certificate can carry a built-in
// service's name and the validator role at once, and a validator that
// predates the role refuses it (it names no client and no service).
const ValidatorURIPrefix = "urn:gatehouse:validator:"

// ValidatorClientPrefix starts the client_id of a validator identity's
// principal: validator:<name>, never a service's service:<name>.
const ValidatorClientPrefix = "validator:"

// maxValidatorName bounds a validator's name: a DNS label's length, so
// that it also serves as a host or file name.
const maxValidatorName = 63

// CheckValidatorName refuses a name a validator identity cannot have: 1
// to 63 lower-case letters, digits and hyphens, starting with a letter and
// not ending with a hyphen.
func CheckValidatorName(name string) error {
	ok := name != "" && len(name) <= maxValidatorName && name[0] >= 'a' && name[0] <= 'z' && name[len(name)-1] != '-'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
	}
	if !ok {
		return fmt.Errorf("invalid name %q: 1 to %d lower-case letters, digits and '-', starting with a letter and not ending with '-'", name, maxValidatorName)
	}
	return nil
}

// CertServiceName returns the service a certificate names: the name in its
// one ServiceURIPrefix SAN URI. A certificate with none, or more than one,
// or one that also names a client or a validator, names no service.
func CertServiceName(cert *x509.Certificate) (string, bool) {
	return certURIName(cert, ServiceURIPrefix, ClientURIPrefix, ValidatorURIPrefix)
}

// CertValidatorName returns the resource service a validator identity
// certificate names: the name in its one ValidatorURIPrefix SAN URI. A
// certificate with none, or more than one, or one that also names a client
// or a service, names no validator.
func CertValidatorName(cert *x509.Certificate) (string, bool) {
	return certURIName(cert, ValidatorURIPrefix, ClientURIPrefix, ServiceURIPrefix)
}

// certURIName returns what follows prefix in cert's one SAN URI that
// starts with it, unless a SAN URI starts with one of others: a
// certificate names one client, one service or one validator, never two.
func certURIName(cert *x509.Certificate, prefix string, others ...string) (string, bool) {
	var name string
	n := 0
	for _, u := range cert.URIs {
		s := u.String()
		if strings.HasPrefix(s, prefix) {
			name = strings.TrimPrefix(s, prefix)
			n++
			continue
		}
		for _, o := range others {
			if strings.HasPrefix(s, o) {
				return "", false
			}
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
//
// With WithValidatorRole it also recognises the validator identities of
// resource services outside Gatehouse (ValidatorURIPrefix), and gives each
// the validator scopes, whatever its name; a validator certificate that
// names a built-in service is refused.
type ServiceIdentities struct {
	platform *x509.CertPool
	scopes   map[string][]string
	// validator is the validator role's scopes; nil refuses the role.
	validator []string
	now       func() time.Time

	// verified caches chain verifications per parsed certificate: a
	// connection's certificate is one pointer for its lifetime.
	verified sync.Map // *x509.Certificate -> identity
	n        atomic.Int64
}

// identity is who a verified certificate names.
type identity struct {
	name      string
	validator bool
}

// maxVerifiedServiceCerts bounds the verification cache; past it the
// cache starts over.
const maxVerifiedServiceCerts = 1024

// ServiceIdentitiesOption configures NewServiceIdentities.
type ServiceIdentitiesOption func(*ServiceIdentities)

// WithValidatorRole accepts validator identity certificates, each with
// exactly scopes (at least one).
func WithValidatorRole(scopes ...string) ServiceIdentitiesOption {
	return func(s *ServiceIdentities) {
		if len(scopes) > 0 {
			s.validator = slices.Clone(scopes)
		}
	}
}

// NewServiceIdentities trusts certificates the platform CA issued to the
// services named in scopes, which maps each service to its scopes.
func NewServiceIdentities(platform *x509.CertPool, scopes map[string][]string, opts ...ServiceIdentitiesOption) *ServiceIdentities {
	s := &ServiceIdentities{platform: platform, scopes: scopes, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Identify returns the service cert belongs to: it names a known service,
// is within its validity, and chains to the platform CA for client
// authentication. A validator identity is no service: IdentifyValidator.
func (s *ServiceIdentities) Identify(cert *x509.Certificate) (string, bool) {
	if s == nil || cert == nil {
		return "", false
	}
	name, ok := CertServiceName(cert)
	if _, known := s.scopes[name]; !ok || !known {
		return "", false
	}
	return s.verify(cert, identity{name: name})
}

// IdentifyValidator returns the resource service whose validator identity
// cert is: it names a validator with a valid name that is no built-in
// service's, the validator role is accepted, and the certificate is within
// its validity and chains to the platform CA for client authentication.
func (s *ServiceIdentities) IdentifyValidator(cert *x509.Certificate) (string, bool) {
	if s == nil || cert == nil || s.validator == nil {
		return "", false
	}
	name, ok := CertValidatorName(cert)
	if _, builtin := s.scopes[name]; !ok || builtin || CheckValidatorName(name) != nil {
		return "", false
	}
	return s.verify(cert, identity{name: name, validator: true})
}

// verify checks cert's validity and chain, once per parsed certificate.
func (s *ServiceIdentities) verify(cert *x509.Certificate, id identity) (string, bool) {
	if s.platform == nil {
		return "", false
	}
	now := s.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return "", false
	}
	if v, ok := s.verified.Load(cert); ok {
		if v.(identity) != id {
			return "", false
		}
		return id.name, true
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots: s.platform, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return "", false
	}
	if _, loaded := s.verified.LoadOrStore(cert, id); !loaded && s.n.Add(1) > maxVerifiedServiceCerts {
		s.verified.Clear()
		s.n.Store(0)
	}
	return id.name, true
}

// principal is the principal of service name's certificate.
func (s *ServiceIdentities) principal(name string, cert *x509.Certificate, thumb string) *Principal {
	return s.newPrincipal(ServiceClientPrefix+name, s.scopes[name], cert, thumb)
}

// validatorPrincipal is the principal of validator name's certificate.
func (s *ServiceIdentities) validatorPrincipal(name string, cert *x509.Certificate, thumb string) *Principal {
	return s.newPrincipal(ValidatorClientPrefix+name, s.validator, cert, thumb)
}

func (s *ServiceIdentities) newPrincipal(id string, scopes []string, cert *x509.Certificate, thumb string) *Principal {
	return &Principal{
		Subject:        id,
		ClientID:       id,
		Kind:           authv1.CredentialKind_CREDENTIAL_KIND_MTLS,
		Scopes:         slices.Clone(scopes),
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
