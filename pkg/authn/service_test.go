package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

func serviceURIs(names ...string) []*url.URL {
	var us []*url.URL
	for _, n := range names {
		us = append(us, &url.URL{Scheme: "urn", Opaque: "gatehouse:service:" + n})
	}
	return us
}

// TestServiceIdentities: a service's certificate from the platform CA is
// its credential, with its role's scopes and without asking the registry;
// any other certificate naming a service is refused.
func TestServiceIdentities(t *testing.T) {
	w := newCertAuthWorld(t)
	scopes := map[string][]string{"token": {"gatehouse:internal", "gatehouse:internal.signing_key"}, "gateway": {"gatehouse:internal"}}
	ids := NewServiceIdentities(w.platform.pool, scopes)
	auth := NewClientCertAuthenticator(w.clients, w.platform.pool, nil, WithServiceIdentities(ids))
	expired := w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"}, URIs: serviceURIs("token"),
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	tests := []struct {
		name       string
		cert       tls.Certificate
		wantClient string
		wantScopes []string
	}{
		{"token service", w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"}, URIs: serviceURIs("token")}),
			"service:token", scopes["token"]},
		{"gateway", w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "gateway"}, URIs: serviceURIs("gateway")}),
			"service:gateway", scopes["gateway"]},
		{"unknown service", w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, URIs: serviceURIs("billing")}), "", nil},
		{"another CA", w.partner.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"}, URIs: serviceURIs("token")}), "", nil},
		{"self-signed", (*certCA)(nil).issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"}, URIs: serviceURIs("token")}), "", nil},
		{"two services", w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"}, URIs: serviceURIs("token", "gateway")}), "", nil},
		{"a service and a client", w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"},
			URIs: append(serviceURIs("token"), clientURIs("partner-1")...)}), "", nil},
		{"expired", expired, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := w.clients.callCount()
			p, err := auth.AuthenticateCert(context.Background(), tc.cert.Leaf)
			if tc.wantClient == "" {
				var ae *AuthError
				if !errors.As(err, &ae) {
					t.Fatalf("got %+v, %v; want a refusal", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.ClientID != tc.wantClient || !slices.Equal(p.Scopes, tc.wantScopes) || p.Kind != authv1.CredentialKind_CREDENTIAL_KIND_MTLS ||
				p.Trust != TrustMTLS || p.CertSerial != CertSerial(tc.cert.Leaf) || p.RateLimitTier == "" {
				t.Fatalf("principal %+v", p)
			}
			if w.clients.callCount() != before {
				t.Fatal("a service's certificate made a registry lookup")
			}
		})
	}
	// Without ServiceIdentities no certificate passes for a service.
	plain := NewClientCertAuthenticator(w.clients, w.platform.pool, nil)
	if _, err := plain.AuthenticateCert(context.Background(), tests[0].cert.Leaf); err == nil {
		t.Fatal("a service certificate accepted by an authenticator that knows no services")
	}
}

func validatorURIs(names ...string) []*url.URL {
	var us []*url.URL
	for _, n := range names {
		us = append(us, &url.URL{Scheme: "urn", Opaque: "gatehouse:validator:" + n})
	}
	return us
}

// TestValidatorIdentities: a resource service's validator certificate from
// the platform CA is its credential, with exactly the validator role's
// scopes whatever its name, and never a built-in service's identity or a
// client's.
func TestValidatorIdentities(t *testing.T) {
	w := newCertAuthWorld(t)
	scopes := map[string][]string{"token": {"gatehouse:internal", "gatehouse:internal.signing_key"}, "gateway": {"gatehouse:internal"}}
	role := []string{"gatehouse:validator"}
	ids := NewServiceIdentities(w.platform.pool, scopes, WithValidatorRole(role...))
	auth := NewClientCertAuthenticator(w.clients, w.platform.pool, nil, WithServiceIdentities(ids))
	cert := func(ca *certCA, uris ...[]*url.URL) tls.Certificate {
		var all []*url.URL
		for _, u := range uris {
			all = append(all, u...)
		}
		return ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "orders"}, URIs: all})
	}
	orders := cert(w.platform, validatorURIs("orders"))
	tests := []struct {
		name       string
		cert       tls.Certificate
		wantClient string
	}{
		{"validator", orders, "validator:orders"},
		{"a built-in service's name", cert(w.platform, validatorURIs("token")), ""},
		{"an invalid name", cert(w.platform, validatorURIs("Orders")), ""},
		{"two validators", cert(w.platform, validatorURIs("orders", "billing")), ""},
		{"a validator and a service", cert(w.platform, validatorURIs("orders"), serviceURIs("gateway")), ""},
		{"a validator and a client", cert(w.platform, validatorURIs("orders"), clientURIs("partner-1")), ""},
		{"another CA", cert(w.partner, validatorURIs("orders")), ""},
		{"self-signed", cert(nil, validatorURIs("orders")), ""},
		{"expired", w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "orders"}, URIs: validatorURIs("orders"),
			NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if name, ok := ids.Identify(tc.cert.Leaf); ok {
				t.Fatalf("identified as service %q", name)
			}
			if id, ok := CertClientID(tc.cert.Leaf); ok {
				t.Fatalf("names client %q", id)
			}
			before := w.clients.callCount()
			p, err := auth.AuthenticateCert(context.Background(), tc.cert.Leaf)
			if tc.wantClient == "" {
				var ae *AuthError
				if !errors.As(err, &ae) {
					t.Fatalf("got %+v, %v; want a refusal", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.ClientID != tc.wantClient || p.Subject != tc.wantClient || !slices.Equal(p.Scopes, role) ||
				p.Kind != authv1.CredentialKind_CREDENTIAL_KIND_MTLS || p.CertSerial != CertSerial(tc.cert.Leaf) {
				t.Fatalf("principal %+v", p)
			}
			if w.clients.callCount() != before {
				t.Fatal("a validator's certificate made a registry lookup")
			}
		})
	}
	// Without the role, a validator certificate is no credential.
	noRole := NewClientCertAuthenticator(w.clients, w.platform.pool, nil, WithServiceIdentities(NewServiceIdentities(w.platform.pool, scopes)))
	if p, err := noRole.AuthenticateCert(context.Background(), orders.Leaf); err == nil {
		t.Fatalf("validator certificate accepted without the role: %+v", p)
	}
	// A service's certificate keeps its own scopes next to the role.
	tok := w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"}, URIs: serviceURIs("token")})
	if p, err := auth.AuthenticateCert(context.Background(), tok.Leaf); err != nil || !slices.Equal(p.Scopes, scopes["token"]) {
		t.Fatalf("token service: %+v %v", p, err)
	}
	if _, ok := ids.IdentifyValidator(tok.Leaf); ok {
		t.Fatal("a service's certificate identified as a validator")
	}
}

// TestCheckValidatorName: a validator's name is a DNS label in lower case.
func TestCheckValidatorName(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true}, {"orders-api", true}, {"o2", true}, {long, true},
		{"", false}, {long + "a", false}, {"Orders", false}, {"2orders", false}, {"-orders", false}, {"orders-", false},
		{"orders.api", false}, {"orders_api", false}, {"orders/x", false}, {"..", false}, {"ordérs", false}, {"orders api", false},
	} {
		if err := CheckValidatorName(tc.name); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestForwarderPeer: a request counts as forwarded only with the mark and
// from a peer the predicate trusts; the caller's address then comes from
// x-forwarded-for.
func TestForwarderPeer(t *testing.T) {
	w := newCertAuthWorld(t)
	ids := NewServiceIdentities(w.platform.pool, map[string][]string{"gateway": {"gatehouse:internal"}, "token": {"gatehouse:internal"}})
	gw := w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "gateway"}, URIs: serviceURIs("gateway")})
	tok := w.platform.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "token"}, URIs: serviceURIs("token")})
	v := NewValidator(nil, WithTrustedForwarderPeer(ForwardedBy(ids, "gateway")))
	addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 5000}
	tests := []struct {
		name   string
		cert   tls.Certificate
		marked bool
		want   string
	}{
		{"gateway, marked", gw, true, "203.0.113.7"},
		{"gateway, its own call", gw, false, "10.0.0.9"},
		{"another service, marked", tok, true, "10.0.0.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := metadata.Pairs("x-forwarded-for", "203.0.113.7")
			if tc.marked {
				md.Set(MetadataForwarded, "1")
			}
			ctx := metadata.NewIncomingContext(context.Background(), md)
			ctx = peer.NewContext(ctx, &peer.Peer{Addr: addr, AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{tc.cert.Leaf}}}})
			if got := v.grpcRemote(ctx); got != tc.want {
				t.Fatalf("remote %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGatewayHeaderMatcherDropsGatehouseMetadata: a caller cannot state
// what only the gateway states.
func TestGatewayHeaderMatcherDropsGatehouseMetadata(t *testing.T) {
	for _, h := range []string{"Grpc-Metadata-X-Gatehouse-Forwarded", "Grpc-Metadata-X-Gatehouse-Client-Cert", "grpc-metadata-x-gatehouse-client-cert-s256",
		"Grpc-Metadata-X-Request-Id", "grpc-metadata-request-id"} {
		if k, ok := GatewayIncomingHeaderMatcher(h); ok {
			t.Errorf("%s forwarded as %q", h, k)
		}
	}
	for h, want := range map[string]string{"X-API-Key": "x-api-key", "Authorization": "grpcgateway-Authorization"} {
		if k, ok := GatewayIncomingHeaderMatcher(h); !ok || k != want {
			t.Errorf("%s: %q %v, want %q", h, k, ok, want)
		}
	}
}
