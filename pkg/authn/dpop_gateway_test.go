package authn

import (
	"context"
	"net"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// TestDPoPThroughGateway: the REST gateway states the HTTP method and URI
// a proof names, and the gRPC validator checks the proof against them only
// when the gateway is a trusted forwarder; from any other peer the stated
// ones are ignored and the proof must name the gRPC call.
func TestDPoPThroughGateway(t *testing.T) {
	e := newJWTEnv(t)
	k := newDPoPKey(t)
	bound := mint(t, e.keys.es256, validClaims(e.now()).with("cnf", map[string]any{"jkt": k.JKT}))
	const method = "/grpc.testing.TestService/UnaryCall"
	gateway := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}
	stranger := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 10), Port: 1}
	const restURL = "https://api.example/v1/things"
	grpcURL := "https://svc" + method
	tests := []struct {
		name     string
		from     net.Addr
		stated   bool
		htm, htu string // of the proof
		ok       bool
	}{
		{name: "gateway, proof for the HTTP request", from: gateway, stated: true, htm: "GET", htu: restURL, ok: true},
		{name: "gateway, proof for the gRPC call", from: gateway, stated: true, htm: "POST", htu: grpcURL},
		{name: "gateway, proof for another HTTP method", from: gateway, stated: true, htm: "DELETE", htu: restURL},
		{name: "stranger stating the HTTP request", from: stranger, stated: true, htm: "GET", htu: restURL},
		{name: "stranger stating, proof for its gRPC call", from: stranger, stated: true, htm: "POST", htu: grpcURL, ok: true},
		{name: "gateway stating nothing, proof for the gRPC call", from: gateway, htm: "POST", htu: grpcURL, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dv, err := dpop.NewVerifier(dpop.WithClock(e.now))
			if err != nil {
				t.Fatal(err)
			}
			v := NewValidator(testRules(t), WithAuthenticator(e.auth), WithLogger(discardLogger()), WithRecorder(&fakeRecorder{}),
				WithDPoP(dv, ""), WithTrustedForwarder(func(a net.Addr) bool { return a.String() == gateway.String() }))
			md := metadata.Pairs("authorization", "DPoP "+bound, "dpop", k.proof(t, e, tt.htm, tt.htu, bound), ":authority", "svc")
			if tt.stated {
				md.Set(MetadataDPoPHTM, "GET")
				md.Set(MetadataDPoPHTU, restURL)
			}
			ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: tt.from})
			_, err = v.Authorize(ctx, method, md, "")
			if tt.ok != (err == nil) {
				t.Fatalf("Authorize: %v, want ok %v", err, tt.ok)
			}
			if !tt.ok && status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Authorize: %v, want Unauthenticated", err)
			}
		})
	}
}

// TestGatewayDPoPAnnotator: the annotator forwards every proof with the
// HTTP method and URI, and nothing without a proof.
func TestGatewayDPoPAnnotator(t *testing.T) {
	v := NewValidator(nil, WithLogger(discardLogger()))
	r := httptest.NewRequest("PATCH", "http://shop.example:8080/v1/items/a%2Fb?x=1", nil)
	if md := v.GatewayDPoPAnnotator(context.Background(), r); md != nil {
		t.Fatalf("without a proof: %v", md)
	}
	r.Header.Add("DPoP", "p1")
	r.Header.Add("DPoP", "p2")
	md := v.GatewayDPoPAnnotator(context.Background(), r)
	if !slices.Equal(md.Get("dpop"), []string{"p1", "p2"}) || !slices.Equal(md.Get(MetadataDPoPHTM), []string{"PATCH"}) ||
		!slices.Equal(md.Get(MetadataDPoPHTU), []string{"http://shop.example:8080/v1/items/a%2Fb"}) {
		t.Fatalf("metadata %v", md)
	}
	for _, h := range []string{"Grpc-Metadata-X-Gatehouse-Dpop-Htu", "grpc-metadata-x-gatehouse-dpop-htm", "DPoP"} {
		if k, ok := GatewayIncomingHeaderMatcher(h); ok && (k == MetadataDPoPHTU || k == MetadataDPoPHTM || k == "dpop") {
			t.Errorf("header %s forwarded as %q", h, k)
		}
	}
}

// Behind a trusted proxy that ended TLS, the proof names the https URL the
// client used (X-Forwarded-Proto); from anyone else the header is ignored.
func TestDPoPSchemeBehindProxy(t *testing.T) {
	v := NewValidator(nil, WithLogger(discardLogger()), WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8")))
	for _, tc := range []struct {
		remote, proto, want string
	}{
		{"10.1.2.3:5555", "https", "https://api.example/v1/items"},
		{"10.1.2.3:5555", "HTTPS", "https://api.example/v1/items"},
		{"10.1.2.3:5555", "", "http://api.example/v1/items"},
		{"192.0.2.7:5555", "https", "http://api.example/v1/items"},
	} {
		r := httptest.NewRequest("GET", "http://api.example/v1/items", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("DPoP", "p")
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		if got := v.GatewayDPoPAnnotator(context.Background(), r).Get(MetadataDPoPHTU); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("from %s with proto %q: htu %v, want %s", tc.remote, tc.proto, got, tc.want)
		}
	}
}
