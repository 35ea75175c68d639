package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// certCA is a test CA issuing client certificates.
type certCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCertCA(t testing.TB, name string) *certCA {
	t.Helper()
	key := newP256(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &certCA{cert: cert, key: key, pool: pool}
}

var certSerials atomic.Int64

// issue signs tmpl's leaf for a new key (self-signed when ca is nil);
// tmpl gets a serial, a client-auth usage and, unless set, a validity
// around now.
func (ca *certCA) issue(t testing.TB, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key := newP256(t)
	tmpl.SerialNumber = big.NewInt(0x1000 + certSerials.Add(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func clientURIs(ids ...string) []*url.URL {
	var us []*url.URL
	for _, id := range ids {
		us = append(us, &url.URL{Scheme: "urn", Opaque: "gatehouse:client:" + id})
	}
	return us
}

// fakeClients is a ClientGetter over a map, counting calls.
type fakeClients struct {
	mu      sync.Mutex
	clients map[string]*clientsv1.Client
	err     error
	calls   int
}

func (f *fakeClients) GetClient(_ context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	c, ok := f.clients[req.GetClientId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such client")
	}
	return &clientsv1.GetClientResponse{Client: c}, nil
}

func (f *fakeClients) set(c *clientsv1.Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients[c.GetClientId()] = c
}

func (f *fakeClients) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// poolVerifier is a ChainVerifier over one pool, without revocation.
type poolVerifier struct{ pool *x509.CertPool }

func (p poolVerifier) Verify(certs []*x509.Certificate) (bool, error) {
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: p.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil, nil
}

// certAuthWorld: a platform CA, a partner CA trusted by the listener's
// bundle, a rogue CA trusted by nothing, and the clients using them.
type certAuthWorld struct {
	platform, partner, rogue *certCA
	clients                  *fakeClients
	auth                     *ClientCertAuthenticator
	selfSigned               tls.Certificate
}

func newCertAuthWorld(t testing.TB) *certAuthWorld {
	t.Helper()
	w := &certAuthWorld{
		platform: newCertCA(t, "platform CA"), partner: newCertCA(t, "partner CA"), rogue: newCertCA(t, "rogue CA"),
	}
	w.selfSigned = (*certCA)(nil).issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self"}, URIs: clientURIs("self-1")})
	bundle := x509.NewCertPool()
	bundle.AddCert(w.platform.cert)
	bundle.AddCert(w.partner.cert)
	w.clients = &fakeClients{clients: map[string]*clientsv1.Client{}}
	for _, c := range []*clientsv1.Client{
		{ClientId: "partner-1", Scopes: []string{"things:read", "things:write"}, TokenEndpointAuthMethod: "client_secret_basic",
			RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH},
		{ClientId: "off-1", Scopes: []string{"things:read"}, TokenEndpointAuthMethod: "tls_client_auth", Disabled: true},
		{ClientId: "dn-1", Scopes: []string{"things:read"}, TokenEndpointAuthMethod: "tls_client_auth",
			TlsClientAuth: &clientsv1.TLSClientAuth{SanUri: "urn:gatehouse:client:dn-1"}},
		{ClientId: "self-1", Scopes: []string{"things:read"}, TokenEndpointAuthMethod: "self_signed_tls_client_auth",
			TlsClientAuth: &clientsv1.TLSClientAuth{CertificateThumbprints: []string{CertThumbprint(w.selfSigned.Leaf)}}},
	} {
		w.clients.set(c)
	}
	w.auth = NewClientCertAuthenticator(w.clients, w.platform.pool, poolVerifier{bundle})
	return w
}

// TestClientCertAuthenticator: which certificates are a client's
// credential, and the principal they give.
func TestClientCertAuthenticator(t *testing.T) {
	w := newCertAuthWorld(t)
	unregisteredSelf := (*certCA)(nil).issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self"}, URIs: clientURIs("self-1")})
	past := time.Now().Add(-48 * time.Hour)
	tests := []struct {
		name       string
		cert       *x509.Certificate
		wantClient string
		wantReason audit.Reason
		wantCode   codes.Code
	}{
		{name: "platform CA, names its client", cert: w.platform.issue(t, &x509.Certificate{URIs: clientURIs("partner-1")}).Leaf, wantClient: "partner-1"},
		{name: "platform CA, names no client", cert: w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "partner-1"}}).Leaf,
			wantReason: audit.ReasonUnknownClientCertificate},
		{name: "platform CA, names two clients", cert: w.platform.issue(t, &x509.Certificate{URIs: clientURIs("partner-1", "dn-1")}).Leaf,
			wantReason: audit.ReasonUnknownClientCertificate},
		{name: "platform CA, unknown client", cert: w.platform.issue(t, &x509.Certificate{URIs: clientURIs("nobody")}).Leaf,
			wantReason: audit.ReasonUnknownClientCertificate},
		{name: "platform CA, disabled client", cert: w.platform.issue(t, &x509.Certificate{URIs: clientURIs("off-1")}).Leaf,
			wantReason: audit.ReasonClientDisabled},
		{name: "platform CA, expired", cert: w.platform.issue(t, &x509.Certificate{URIs: clientURIs("partner-1"), NotBefore: past, NotAfter: past.Add(time.Hour)}).Leaf,
			wantReason: audit.ReasonUnknownClientCertificate},
		{name: "partner CA, client registered for another method", cert: w.partner.issue(t, &x509.Certificate{URIs: clientURIs("partner-1")}).Leaf,
			wantReason: audit.ReasonUnknownClientCertificate},
		{name: "partner CA, tls_client_auth with the registered SAN", cert: w.partner.issue(t, &x509.Certificate{URIs: clientURIs("dn-1")}).Leaf, wantClient: "dn-1"},
		{name: "rogue CA, tls_client_auth with the registered SAN", cert: w.rogue.issue(t, &x509.Certificate{URIs: clientURIs("dn-1")}).Leaf,
			wantReason: audit.ReasonUnknownClientCertificate},
		{name: "self-signed, registered", cert: w.selfSigned.Leaf, wantClient: "self-1"},
		{name: "self-signed, not registered", cert: unregisteredSelf.Leaf, wantReason: audit.ReasonUnknownClientCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := w.auth.AuthenticateCert(context.Background(), tt.cert)
			if tt.wantClient == "" {
				ae := asAuthError(err)
				if err == nil || ae.Reason != tt.wantReason || ae.Code != codes.Unauthenticated {
					t.Fatalf("AuthenticateCert = %+v, %v; want %s", p, err, tt.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := w.clients.GetClient(context.Background(), &clientsv1.GetClientRequest{ClientId: tt.wantClient})
			if p.ClientID != tt.wantClient || p.Subject != tt.wantClient || p.Kind != authv1.CredentialKind_CREDENTIAL_KIND_MTLS ||
				p.Trust != TrustMTLS || p.CertThumbprint != CertThumbprint(tt.cert) || p.CertSerial != CertSerial(tt.cert) ||
				!p.IssuedAt.Equal(tt.cert.NotBefore) || len(p.Scopes) != len(want.GetClient().GetScopes()) {
				t.Fatalf("principal %+v", p)
			}
		})
	}
	if p, _ := w.auth.AuthenticateCert(context.Background(), w.platform.issue(t, &x509.Certificate{URIs: clientURIs("partner-1")}).Leaf); p.RateLimitTier != "high" {
		t.Fatalf("tier %q, want the client's", p.RateLimitTier)
	}
}

// TestClientCertAuthenticatorCache: a certificate's answer is cached, a
// client change drops it, and a registry outage is Unavailable, not a
// refusal.
func TestClientCertAuthenticatorCache(t *testing.T) {
	w := newCertAuthWorld(t)
	cert := w.platform.issue(t, &x509.Certificate{URIs: clientURIs("partner-1")}).Leaf
	ctx := context.Background()
	for range 3 {
		if _, err := w.auth.AuthenticateCert(ctx, cert); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.clients.callCount(); n != 1 {
		t.Fatalf("%d registry calls for 3 checks, want 1", n)
	}
	w.clients.set(&clientsv1.Client{ClientId: "partner-1", Disabled: true, TokenEndpointAuthMethod: "client_secret_basic"})
	w.auth.InvalidateClient("partner-1")
	if _, err := w.auth.AuthenticateCert(ctx, cert); asAuthError(err).Reason != audit.ReasonClientDisabled {
		t.Fatalf("after disabling: %v", err)
	}
	w.clients.mu.Lock()
	w.clients.err = status.Error(codes.Unavailable, "registry down")
	w.clients.mu.Unlock()
	w.auth.InvalidateAll()
	if _, err := w.auth.AuthenticateCert(ctx, cert); asAuthError(err).Code != codes.Unavailable {
		t.Fatalf("registry outage: %v, want Unavailable", err)
	}
}

// TestCertificateAloneGRPC: a method whose rule lists CREDENTIAL_KIND_MTLS
// takes the certificate alone, over a TLS connection or stated by the
// trusted forwarder with the certificate itself; other methods and other
// channels do not.
func TestCertificateAloneGRPC(t *testing.T) {
	w := newCertAuthWorld(t)
	pki := thePKI(t)
	certP := w.platform.issue(t, &x509.Certificate{URIs: clientURIs("partner-1")})
	certX := w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "no client"}})
	mtlsOnly := []authv1.CredentialKind{authv1.CredentialKind_CREDENTIAL_KIND_MTLS}
	rules, err := NewRules(map[string]*authv1.AuthRule{
		"/grpc.testing.TestService/UnaryCall":          {Scopes: []string{"things:read"}, Credentials: mtlsOnly},
		"/grpc.testing.TestService/CacheableUnaryCall": {Scopes: []string{"things:read"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	jwt := newJWTEnv(t)
	rec := &fakeRecorder{}
	v := NewValidator(rules, WithAuthenticator(jwt.auth), WithCertAuthenticator(w.auth), WithRecorder(rec),
		WithTrustedForwarder(isBufconn), WithLogger(discardLogger()))
	srvTLS := pki.serverTLS()
	srvTLS.ClientAuth = tls.RequireAnyClientCert // the listener's checks are not under test here
	srvTLS.ClientCAs = nil
	tlsLis := listenLoopback(t)
	serveGRPC(t, v, tlsLis, grpc.Creds(credentials.NewTLS(srvTLS)))
	buf := bufconn.Listen(1 << 20)
	serveGRPC(t, v, buf)
	plainLis := listenLoopback(t)
	serveGRPC(t, v, plainLis)
	viaTLS := func(c tls.Certificate) testgrpc.TestServiceClient {
		return dial(t, tlsLis.Addr().String(), credentials.NewTLS(pki.clientTLS(&c)))
	}
	forwarder := testgrpc.NewTestServiceClient(dialBufconn(t, buf))
	plain := dial(t, plainLis.Addr().String(), insecure.NewCredentials())
	stating := func(c *x509.Certificate, der []byte) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(),
			MetadataClientCertThumbprint, CertThumbprint(c), MetadataClientCertSerial, CertSerial(c),
			MetadataClientCert, base64.RawURLEncoding.EncodeToString(der))
	}
	bound := mint(t, jwt.keys.es256, validClaims(jwt.now()).with("scope", "things:read").
		with("cnf", map[string]any{"x5t#S256": CertThumbprint(certP.Leaf)}))

	tests := []struct {
		name       string
		call       func() (*testgrpc.SimpleResponse, error)
		wantCode   codes.Code
		wantReason audit.Reason
	}{
		{name: "TLS, platform certificate", call: func() (*testgrpc.SimpleResponse, error) {
			return viaTLS(certP).UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		}},
		{name: "TLS, certificate naming no client", call: func() (*testgrpc.SimpleResponse, error) {
			return viaTLS(certX).UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonUnknownClientCertificate},
		{name: "forwarder stating the certificate", call: func() (*testgrpc.SimpleResponse, error) {
			return forwarder.UnaryCall(stating(certP.Leaf, certP.Leaf.Raw), &testgrpc.SimpleRequest{})
		}},
		{name: "forwarder stating a thumbprint of another certificate", call: func() (*testgrpc.SimpleResponse, error) {
			return forwarder.UnaryCall(stating(certX.Leaf, certP.Leaf.Raw), &testgrpc.SimpleRequest{})
		}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMissingCredential},
		{name: "forwarder stating a thumbprint only", call: func() (*testgrpc.SimpleResponse, error) {
			ctx := metadata.AppendToOutgoingContext(context.Background(),
				MetadataClientCertThumbprint, CertThumbprint(certP.Leaf), MetadataClientCertSerial, CertSerial(certP.Leaf))
			return forwarder.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMissingCredential},
		{name: "plain connection stating the certificate", call: func() (*testgrpc.SimpleResponse, error) {
			return plain.UnaryCall(stating(certP.Leaf, certP.Leaf.Raw), &testgrpc.SimpleRequest{})
		}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMissingCredential},
		{name: "TLS, a bound token where only the certificate is accepted", call: func() (*testgrpc.SimpleResponse, error) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+bound)
			return viaTLS(certP).UnaryCall(ctx, &testgrpc.SimpleRequest{})
		}, wantCode: codes.PermissionDenied, wantReason: audit.ReasonCredentialKindNotAllowed},
		{name: "TLS, certificate alone where the rule lists no kind", call: func() (*testgrpc.SimpleResponse, error) {
			return viaTLS(certP).CacheableUnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMissingCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.all())
			resp, err := tt.call()
			if tt.wantCode == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetUsername() != "partner-1" || resp.GetOauthScope() != "mtls" || resp.GetHostname() != CertSerial(certP.Leaf) {
					t.Fatalf("principal seen %v", resp)
				}
				return
			}
			if status.Code(err) != tt.wantCode {
				t.Fatalf("error %v, want %s", err, tt.wantCode)
			}
			if got := rec.all()[before:]; len(got) != 1 || got[0].Reason != tt.wantReason {
				t.Fatalf("recorded %+v, want one %s", got, tt.wantReason)
			}
		})
	}
}

// TestClientCertificateMatches: RFC 8705 §2.1.2's five subject matchers
// and the self-signed thumbprints, each against a certificate that has
// the registered value and one that has it only nearly.
func TestClientCertificateMatches(t *testing.T) {
	ca := newCertCA(t, "matcher CA")
	cert := ca.issue(t, &x509.Certificate{
		Subject:        pkix.Name{CommonName: "partner.example", Organization: []string{"Partner Ltd"}},
		DNSNames:       []string{"api.partner.example"},
		URIs:           clientURIs("m-1"),
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.7")},
		EmailAddresses: []string{"ops@partner.example"},
	}).Leaf
	tests := []struct {
		name       string
		method     string
		reg        *clientsv1.TLSClientAuth
		caVerified bool
		want       bool
	}{
		{"subject DN", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SubjectDn: "CN=partner.example,O=Partner Ltd"}, true, true},
		{"subject DN, other", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SubjectDn: "CN=partner.example"}, true, false},
		{"SAN DNS", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanDns: "api.partner.example"}, true, true},
		{"SAN DNS, other", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanDns: "partner.example"}, true, false},
		{"SAN URI", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanUri: "urn:gatehouse:client:m-1"}, true, true},
		{"SAN URI, other", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanUri: "urn:gatehouse:client:m-2"}, true, false},
		{"SAN IP", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanIp: "192.0.2.7"}, true, true},
		{"SAN IP, other", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanIp: "192.0.2.8"}, true, false},
		{"SAN email", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanEmail: "ops@partner.example"}, true, true},
		{"SAN email, other", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SanEmail: "OPS@partner.example"}, true, false},
		{"subject DN, not CA-verified", AuthMethodTLSClient, &clientsv1.TLSClientAuth{SubjectDn: "CN=partner.example,O=Partner Ltd"}, false, false},
		{"nothing registered", AuthMethodTLSClient, &clientsv1.TLSClientAuth{}, true, false},
		{"self-signed thumbprint", AuthMethodSelfSignedTLSClient, &clientsv1.TLSClientAuth{CertificateThumbprints: []string{"x", CertThumbprint(cert)}}, false, true},
		{"self-signed, other thumbprint", AuthMethodSelfSignedTLSClient, &clientsv1.TLSClientAuth{CertificateThumbprints: []string{"x"}}, false, false},
		{"another method", "client_secret_basic", &clientsv1.TLSClientAuth{SanDns: "api.partner.example"}, true, false},
		{"no registration", AuthMethodTLSClient, nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClientCertificateMatches(tt.method, tt.reg, cert, tt.caVerified); got != tt.want {
				t.Fatalf("ClientCertificateMatches = %v, want %v", got, tt.want)
			}
		})
	}
}
