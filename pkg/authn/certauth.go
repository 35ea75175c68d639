package authn

import (
	"context"
	"crypto/x509"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The certificate alone as the credential (CREDENTIAL_KIND_MTLS): a method
// whose rule lists that kind accepts a request that carries no token or
// key but a verified client certificate, and its principal is the client
// the certificate belongs to.

// ClientURIPrefix starts the SAN URI that names a certificate's client:
// urn:gatehouse:client:<client_id>. The platform CA writes it into every
// client certificate it issues.
const ClientURIPrefix = "urn:gatehouse:client:"

// RFC 8705 client authentication methods.
const (
	AuthMethodTLSClient           = "tls_client_auth"
	AuthMethodSelfSignedTLSClient = "self_signed_tls_client_auth"
)

// CertAuthenticator authenticates a request by its client certificate
// alone. The certificate has passed the TLS listener's checks (chain or
// self-signature, validity, revocation by serial) and the caller proved it
// holds its private key; the authenticator decides which client it is.
// Like Authenticator.Authenticate, it returns an *AuthError for a refused
// certificate and any other error when it could not decide.
type CertAuthenticator interface {
	AuthenticateCert(ctx context.Context, cert *x509.Certificate) (*Principal, error)
}

// WithCertAuthenticator accepts the client certificate alone as the
// credential of methods whose rule lists CREDENTIAL_KIND_MTLS. Without it
// such a request is refused as having no credential.
func WithCertAuthenticator(a CertAuthenticator) Option {
	return func(v *Validator) { v.certAuth = a }
}

// ClientGetter reads a registered client: the registry's gRPC server in
// process, or its gRPC client in a split deployment.
type ClientGetter interface {
	GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error)
}

// ChainVerifier re-checks a certificate: whether it chains to a trusted CA
// for client authentication (internal/mtls.Trust).
type ChainVerifier interface {
	Verify(certs []*x509.Certificate) (caVerified bool, err error)
}

// ClientCertAuthenticator is the CertAuthenticator of Gatehouse clients. A
// certificate names its client in one SAN URI, ClientURIPrefix+client_id,
// and belongs to that client when the client exists, is enabled and
//
//   - the certificate was issued by the platform CA (which writes that URI
//     only for the client an admin issued it to), or
//   - the client authenticates with tls_client_auth, the certificate
//     chains to a trusted CA and carries the registered subject DN or SAN,
//     or
//   - the client authenticates with self_signed_tls_client_auth and the
//     certificate is one it registered.
//
// The principal has the client's registered scopes and tier, Kind
// CREDENTIAL_KIND_MTLS, Trust TrustMTLS, the certificate's thumbprint and
// serial, and IssuedAt the certificate's NotBefore, so that revoking the
// client refuses the certificates issued before. Answers are cached per
// certificate for the cache TTL; InvalidateClient (FollowClientChanges)
// drops a changed client's entries at once.
type ClientCertAuthenticator struct {
	clients  ClientGetter
	platform *x509.CertPool
	chains   ChainVerifier
	services *ServiceIdentities
	ttl      time.Duration
	max      int
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry // by thumbprint
	gen     uint64
}

var _ CertAuthenticator = (*ClientCertAuthenticator)(nil)

// NewClientCertAuthenticator returns the authenticator of certificates
// issued by the platform CA (platform; nil for none) or matching a client's
// registration, whose CA chains chains re-checks (nil: only platform CA and
// self-signed registrations). The cache options are those of API keys.
func NewClientCertAuthenticator(clients ClientGetter, platform *x509.CertPool, chains ChainVerifier, opts ...APIKeyOption) *ClientCertAuthenticator {
	o := apiKeyOptions{ttl: DefaultCacheTTL, max: DefaultCacheMaxEntries, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return &ClientCertAuthenticator{
		clients: clients, platform: platform, chains: chains, services: o.services,
		ttl: o.ttl, max: o.max, now: o.now,
		entries: map[string]*cacheEntry{},
	}
}

// AuthenticateCert implements CertAuthenticator.
func (a *ClientCertAuthenticator) AuthenticateCert(ctx context.Context, cert *x509.Certificate) (*Principal, error) {
	if cert == nil {
		return nil, errMissingCredential()
	}
	// Not certInfos: a forwarded certificate is parsed anew per request.
	thumb := CertThumbprint(cert)
	now := a.now()
	caching := a.ttl > 0 && a.max > 0
	a.mu.Lock()
	e := a.entries[thumb]
	gen := a.gen
	a.mu.Unlock()
	if e != nil && now.Before(e.expires) {
		return e.p, nil
	}
	p, err := a.resolve(ctx, cert, thumb, now)
	if err != nil {
		return nil, err
	}
	if caching {
		expires := now.Add(a.ttl)
		if cert.NotAfter.Before(expires) {
			expires = cert.NotAfter
		}
		a.mu.Lock()
		if a.gen == gen {
			if len(a.entries) >= a.max {
				clear(a.entries)
			}
			a.entries[thumb] = &cacheEntry{p: p, expires: expires}
		}
		a.mu.Unlock()
	}
	return p, nil
}

func (a *ClientCertAuthenticator) resolve(ctx context.Context, cert *x509.Certificate, thumb string, now time.Time) (*Principal, error) {
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, errUnknownCert("", "client certificate outside its validity")
	}
	if _, ok := CertServiceName(cert); ok {
		// A service of the deployment: known without the registry.
		name, ok := a.services.Identify(cert)
		if !ok {
			return nil, errUnknownCert("", "the client certificate names a service it was not issued to")
		}
		return a.services.principal(name, cert, thumb), nil
	}
	if _, ok := CertValidatorName(cert); ok {
		// A resource service's validator identity: its role's scopes
		// whatever its name, without the registry either.
		name, ok := a.services.IdentifyValidator(cert)
		if !ok {
			return nil, errUnknownCert("", "the client certificate names a validator the platform does not accept")
		}
		return a.services.validatorPrincipal(name, cert, thumb), nil
	}
	id, ok := CertClientID(cert)
	if !ok {
		return nil, errUnknownCert("", "the client certificate names no client")
	}
	resp, err := a.clients.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound, codes.InvalidArgument:
		return nil, errUnknownCert("", "the client certificate names an unknown client")
	default:
		return nil, NewUnavailable(err)
	}
	cl := resp.GetClient()
	if cl.GetDisabled() {
		return nil, &AuthError{Code: codes.Unauthenticated, Reason: audit.ReasonClientDisabled, ClientID: id,
			Message: "client disabled", OAuthError: ErrInvalidToken}
	}
	if !a.belongs(cert, cl) {
		return nil, errUnknownCert(id, "the client certificate is not one the client may use")
	}
	return &Principal{
		Subject:        id,
		ClientID:       id,
		Kind:           authv1.CredentialKind_CREDENTIAL_KIND_MTLS,
		Scopes:         slices.Clone(cl.GetScopes()),
		Trust:          TrustMTLS,
		RateLimitTier:  tierName(cl.GetRateLimitTier()),
		IssuedAt:       cert.NotBefore,
		CertThumbprint: thumb,
		CertSerial:     CertSerial(cert),
	}, nil
}

// belongs decides whether cert is one of cl's.
func (a *ClientCertAuthenticator) belongs(cert *x509.Certificate, cl *clientsv1.Client) bool {
	if a.platform != nil {
		if _, err := cert.Verify(x509.VerifyOptions{
			Roots: a.platform, CurrentTime: a.now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}); err == nil {
			return true
		}
	}
	caVerified := false
	if a.chains != nil && cl.GetTokenEndpointAuthMethod() == AuthMethodTLSClient {
		ok, err := a.chains.Verify([]*x509.Certificate{cert})
		caVerified = ok && err == nil
	}
	return ClientCertificateMatches(cl.GetTokenEndpointAuthMethod(), cl.GetTlsClientAuth(), cert, caVerified)
}

// CertClientID returns the client a certificate names: the id in its one
// ClientURIPrefix SAN URI. A certificate with none, or more than one, or
// one that also names a service or a validator, names no client.
func CertClientID(cert *x509.Certificate) (string, bool) {
	return certURIName(cert, ClientURIPrefix, ServiceURIPrefix, ValidatorURIPrefix)
}

// ClientCertificateMatches is RFC 8705 §2's decision for a client whose
// token_endpoint_auth_method is method: for tls_client_auth the certificate
// must chain to a trusted CA (caVerified) and carry exactly the one
// registered subject DN or SAN; for self_signed_tls_client_auth it must be
// one of the registered certificates (by thumbprint). Any other method
// matches nothing.
func ClientCertificateMatches(method string, reg *clientsv1.TLSClientAuth, cert *x509.Certificate, caVerified bool) bool {
	if reg == nil || cert == nil {
		return false
	}
	switch method {
	case AuthMethodTLSClient:
		return caVerified && subjectMatches(reg, cert)
	case AuthMethodSelfSignedTLSClient:
		tp := CertThumbprint(cert)
		return slices.ContainsFunc(reg.GetCertificateThumbprints(), func(t string) bool { return equalThumbprints(t, tp) })
	}
	return false
}

// subjectMatches compares the registered subject DN or SAN with cert.
func subjectMatches(reg *clientsv1.TLSClientAuth, c *x509.Certificate) bool {
	switch {
	case reg.GetSubjectDn() != "":
		return c.Subject.String() == reg.GetSubjectDn()
	case reg.GetSanDns() != "":
		return slices.Contains(c.DNSNames, reg.GetSanDns())
	case reg.GetSanUri() != "":
		return slices.ContainsFunc(c.URIs, func(u *url.URL) bool { return u.String() == reg.GetSanUri() })
	case reg.GetSanIp() != "":
		want := net.ParseIP(reg.GetSanIp())
		return want != nil && slices.ContainsFunc(c.IPAddresses, want.Equal)
	case reg.GetSanEmail() != "":
		return slices.Contains(c.EmailAddresses, reg.GetSanEmail())
	}
	return false
}

func errUnknownCert(clientID, message string) *AuthError {
	return NewInvalidCredential(audit.ReasonUnknownClientCertificate, clientID, message)
}

// InvalidateClient drops the cached answers of a client's certificates.
func (a *ClientCertAuthenticator) InvalidateClient(clientID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for k, e := range a.entries {
		if e.p.ClientID == clientID {
			delete(a.entries, k)
		}
	}
}

// InvalidateAll empties the cache.
func (a *ClientCertAuthenticator) InvalidateAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	clear(a.entries)
}

// FollowClientChanges invalidates cached answers on the registry's
// ClientChanged events, as the API-key cache does.
func (a *ClientCertAuthenticator) FollowClientChanges(ctx context.Context, nc *nats.Conn) (stop func(), err error) {
	return Follow(ctx, nc, ClientsSubject, func(data []byte) {
		ev := &eventsv1.ClientChanged{}
		if err := proto.Unmarshal(data, ev); err != nil || ev.GetClientId() == "" {
			a.InvalidateAll()
			return
		}
		a.InvalidateClient(ev.GetClientId())
	})
}
