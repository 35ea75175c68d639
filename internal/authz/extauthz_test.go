package authz

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// extAuthzClient serves f's authorizer as ext_authz on loopback and
// returns the generated client.
func extAuthzClient(t *testing.T, f *fixture, proxies ...netip.Prefix) authv3.AuthorizationClient {
	t.Helper()
	if len(proxies) == 0 {
		proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, NewExtAuthz(f.a, proxies, "", nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func checkRequest(method, path string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "api.example.com", Headers: headers,
		}},
	}}
}

func headerOf(opts []*corev3.HeaderValueOption, key string) string {
	for _, o := range opts {
		if o.GetHeader().GetKey() == key {
			return o.GetHeader().GetValue()
		}
	}
	return ""
}

func TestExtAuthzDecisions(t *testing.T) {
	f := newFixture(t)
	c := extAuthzClient(t, f)
	tests := []struct {
		name       string
		req        *authv3.CheckRequest
		code       codes.Code
		httpStatus int
		challenge  string
		subject    string
	}{
		{"api key", checkRequest("GET", "/orders/1?q=1", map[string]string{"x-api-key": "reader"}), codes.OK, 0, "", "c-reader"},
		{"public", checkRequest("GET", "/health", map[string]string{"x-gatehouse-subject": "forged"}), codes.OK, 0, "", ""},
		{"no credential", checkRequest("GET", "/orders/1", nil), codes.Unauthenticated, 401, `Bearer realm="gw"`, ""},
		{"unknown key", checkRequest("GET", "/orders/1", map[string]string{"authorization": "ApiKey nope"}), codes.Unauthenticated, 401, `Bearer realm="gw", error="invalid_token"`, ""},
		{"wrong scope", checkRequest("POST", "/orders", map[string]string{"x-api-key": "reader"}), codes.PermissionDenied, 403, `Bearer realm="gw", error="insufficient_scope", scope="orders:write"`, ""},
		{"no route", checkRequest("PUT", "/orders/1", map[string]string{"x-api-key": "admin"}), codes.PermissionDenied, 403, "", ""},
		{"two credentials", checkRequest("GET", "/orders/1", map[string]string{"x-api-key": "reader", "authorization": "Bearer x"}), codes.InvalidArgument, 400, `Bearer realm="gw", error="invalid_request"`, ""},
		{"header map with two authorizations", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/orders/1", HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: "authorization", Value: "ApiKey reader"}, {Key: "authorization", RawValue: []byte("ApiKey admin")}}},
		}}}}, codes.InvalidArgument, 400, `Bearer realm="gw", error="invalid_request"`, ""},
		{"not canonical", checkRequest("GET", "/orders/1/../../admin", map[string]string{"x-api-key": "admin"}), codes.InvalidArgument, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Check(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.code {
				t.Fatalf("code %v, want %v", got, tt.code)
			}
			if tt.code == codes.OK {
				ok := resp.GetOkResponse()
				if ok == nil {
					t.Fatal("no OkHttpResponse")
				}
				// Each identity header is set or removed, never both.
				if len(ok.GetHeadersToRemove())+len(ok.GetHeaders()) != len(IdentityHeaders) {
					t.Errorf("headers to set %v, to remove %v", ok.GetHeaders(), ok.GetHeadersToRemove())
				}
				for _, r := range ok.GetHeadersToRemove() {
					if headerOf(ok.GetHeaders(), r) != "" {
						t.Errorf("%s both set and removed", r)
					}
				}
				if tt.subject == "" && len(ok.GetHeadersToRemove()) != len(IdentityHeaders) {
					t.Errorf("public route removes %v", ok.GetHeadersToRemove())
				}
				for _, o := range ok.GetHeaders() {
					if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
						t.Errorf("%s is not overwritten: %v", o.GetHeader().GetKey(), o.GetAppendAction())
					}
				}
				if got := headerOf(ok.GetHeaders(), "x-gatehouse-subject"); got != tt.subject {
					t.Errorf("subject %q, want %q", got, tt.subject)
				}
				if tt.subject != "" && headerOf(ok.GetHeaders(), "x-gatehouse-credential-kind") != "api_key" {
					t.Errorf("kind %q", headerOf(ok.GetHeaders(), "x-gatehouse-credential-kind"))
				}
				return
			}
			d := resp.GetDeniedResponse()
			if d == nil || int(d.GetStatus().GetCode()) != tt.httpStatus {
				t.Fatalf("denied response %v, want HTTP %d", d, tt.httpStatus)
			}
			if got := headerOf(d.GetHeaders(), "www-authenticate"); !strings.HasPrefix(got, tt.challenge) || (tt.challenge == "" && got != "") {
				t.Errorf("www-authenticate %q, want %q", got, tt.challenge)
			}
			if !strings.Contains(d.GetBody(), `"code"`) {
				t.Errorf("body %q", d.GetBody())
			}
		})
	}
	// The refusals are recorded against the client Envoy saw.
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	for _, r := range f.rec.failures {
		if r.Remote != "198.51.100.7" && r.Remote != "" {
			t.Errorf("recorded remote %q", r.Remote)
		}
	}
	if len(f.rec.failures) < 5 || f.rec.failures[0].Remote != "198.51.100.7" {
		t.Errorf("recorded %+v", f.rec.failures)
	}
}

func TestExtAuthzLimitsAndStaleness(t *testing.T) {
	f := newFixture(t)
	c := extAuthzClient(t, f)
	slow := checkRequest("GET", "/orders/1", map[string]string{"x-api-key": "slow"})
	if resp, err := c.Check(context.Background(), slow); err != nil || resp.GetStatus().GetCode() != 0 {
		t.Fatalf("first: %v %v", resp, err)
	}
	resp, err := c.Check(context.Background(), slow)
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.ResourceExhausted ||
		resp.GetDeniedResponse().GetStatus().GetCode() != 429 || headerOf(resp.GetDeniedResponse().GetHeaders(), "retry-after") == "" {
		t.Fatalf("over budget: %v %v", resp, err)
	}
	f.revs.mu.Lock()
	f.revs.stale = true
	f.revs.mu.Unlock()
	resp, err = c.Check(context.Background(), checkRequest("GET", "/orders/1", map[string]string{"x-api-key": "reader"}))
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.Unavailable ||
		resp.GetDeniedResponse().GetStatus().GetCode() != 503 || headerOf(resp.GetDeniedResponse().GetHeaders(), "retry-after") == "" {
		t.Fatalf("stale list: %v %v", resp, err)
	}
}

func TestExtAuthzRefusesUntrustedPeers(t *testing.T) {
	f := newFixture(t)
	c := extAuthzClient(t, f, netip.MustParsePrefix("192.0.2.0/24"))
	_, err := c.Check(context.Background(), checkRequest("GET", "/health", nil))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("untrusted peer: %v", err)
	}
}

// TestExtAuthzClientCertificate: with a certificate header configured,
// the certificate of Envoy's source.certificate binds a token; without
// the configuration it is never read.
func TestExtAuthzClientCertificate(t *testing.T) {
	f := newFixture(t)
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	withCert := NewExtAuthz(f.a, proxies, "x-forwarded-client-cert", nil)
	without := NewExtAuthz(f.a, proxies, "", nil)
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}})
	req := func(cert string, headers map[string]string) *authv3.CheckRequest {
		r := checkRequest("GET", "/orders/1", headers)
		r.GetAttributes().GetSource().Certificate = cert
		return r
	}
	bound := map[string]string{"authorization": "Bearer bound"}
	tests := []struct {
		name string
		x    *ExtAuthz
		req  *authv3.CheckRequest
		code codes.Code
	}{
		{"source.certificate", withCert, req(escapedPEM(f.boundCert), bound), codes.OK},
		{"x-forwarded-client-cert", withCert, req("", map[string]string{"authorization": "Bearer bound", "x-forwarded-client-cert": `Hash=1;Cert="` + escapedPEM(f.boundCert) + `"`}), codes.OK},
		{"another certificate", withCert, req(escapedPEM(f.otherCert), bound), codes.Unauthenticated},
		{"no certificate", withCert, req("", bound), codes.Unauthenticated},
		{"unreadable certificate", withCert, req("%%", bound), codes.InvalidArgument},
		{"not configured", without, req(escapedPEM(f.boundCert), bound), codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.x.Check(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.code {
				t.Fatalf("code %v, want %v", got, tt.code)
			}
		})
	}
}
