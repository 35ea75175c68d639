package authn

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// bindingEnv is one validator (JWTs, API keys, a serial revocation
// checker, bufconn as the trusted forwarder) behind three gRPC listeners:
// TLS on 127.0.0.1 requesting client certificates, plain TCP on 127.0.0.1,
// and bufconn.
type bindingEnv struct {
	jwt    *jwtEnv
	pki    *testPKI
	rec    *fakeRecorder
	chk    *serialChecker
	apiKey string
	// clients by connection: "tls-a", "tls-b", "tls-none", "plain",
	// "bufconn".
	clients map[string]testgrpc.TestServiceClient
	thumbA  string
	thumbB  string
}

func newBindingEnv(t *testing.T) *bindingEnv {
	t.Helper()
	pki := thePKI(t)
	e := &bindingEnv{
		jwt: newJWTEnv(t), pki: pki, rec: &fakeRecorder{}, chk: &serialChecker{},
		clients: map[string]testgrpc.TestServiceClient{},
		thumbA:  CertThumbprint(pki.clientA.Leaf),
		thumbB:  CertThumbprint(pki.clientB.Leaf),
	}
	f := newFakeVerifier()
	e.apiKey, _ = f.add(t, accepted("client-key", 0, "things:read"))
	v := NewValidator(testRules(t),
		WithAuthenticator(e.jwt.auth),
		WithAuthenticator(NewAPIKeyAuthenticator(f)),
		WithRecorder(e.rec),
		WithRevocationChecker(e.chk),
		WithTrustedForwarder(isBufconn),
		WithService("test"),
		WithLogger(discardLogger()),
	)

	tlsLis := listenLoopback(t)
	serveGRPC(t, v, tlsLis, grpc.Creds(credentials.NewTLS(pki.serverTLS())))
	plainLis := listenLoopback(t)
	serveGRPC(t, v, plainLis)
	buf := bufconn.Listen(1 << 20)
	serveGRPC(t, v, buf)

	tlsAddr := tlsLis.Addr().String()
	e.clients["tls-a"] = dial(t, tlsAddr, credentials.NewTLS(pki.clientTLS(&pki.clientA)))
	e.clients["tls-b"] = dial(t, tlsAddr, credentials.NewTLS(pki.clientTLS(&pki.clientB)))
	e.clients["tls-none"] = dial(t, tlsAddr, credentials.NewTLS(pki.clientTLS(nil)))
	e.clients["plain"] = dial(t, plainLis.Addr().String(), insecure.NewCredentials())
	e.clients["bufconn"] = testgrpc.NewTestServiceClient(dialBufconn(t, buf))
	return e
}

// token mints a valid token with jti, bound to thumb unless it is empty.
func (e *bindingEnv) token(t testing.TB, jti, thumb string, scope string) string {
	t.Helper()
	c := validClaims(e.jwt.now()).with("jti", jti)
	if scope != "" {
		c = c.with("scope", scope)
	}
	if thumb != "" {
		c = c.with("cnf", map[string]any{"x5t#S256": thumb})
	}
	return mint(t, e.jwt.keys.es256, c)
}

// wantBindingRefusal checks that err is the RFC 8705 §3 refusal, recorded
// once with its own reason.
func wantBindingRefusal(t *testing.T, err error, rec *fakeRecorder, before int, clientID string) {
	t.Helper()
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("error %v, want Unauthenticated", err)
	}
	if info, _ := errorInfo(err); info.GetReason() != ErrInvalidToken {
		t.Fatalf("ErrorInfo reason %q, want invalid_token", info.GetReason())
	}
	got := rec.all()[before:]
	if len(got) != 1 || got[0].Reason != audit.ReasonCertificateBindingMismatch || got[0].ClientID != clientID {
		t.Fatalf("recorded %+v, want one %s for %s", got, audit.ReasonCertificateBindingMismatch, clientID)
	}
}

// TestCertificateBoundTokenGRPC: a token bound to a client certificate
// (cnf x5t#S256) passes only on a connection made with that certificate,
// or forwarded by the trusted forwarder stating it; every call is made
// twice, the second time from the JWT cache.
func TestCertificateBoundTokenGRPC(t *testing.T) {
	e := newBindingEnv(t)
	thumbA, thumbB := e.thumbA, e.thumbB
	stated := func(thumb, serial string) []string {
		return []string{MetadataClientCertThumbprint, thumb, MetadataClientCertSerial, serial}
	}
	tests := []struct {
		name string
		// bound is the thumbprint the token is bound to; apiKey uses the
		// API key instead of a token.
		bound  string
		apiKey bool
		conn   string
		md     []string
		// refused: certificate_binding_mismatch; else the principal's
		// trust and serial.
		refused    bool
		wantTrust  TrustLevel
		wantSerial string
	}{
		{name: "bound, certificate A", bound: thumbA, conn: "tls-a", wantTrust: TrustMTLS, wantSerial: serialA},
		{name: "bound to B, certificate B", bound: thumbB, conn: "tls-b", wantTrust: TrustMTLS, wantSerial: serialB},
		{name: "bound, TLS without certificate", bound: thumbA, conn: "tls-none", refused: true},
		{name: "bound, other certificate", bound: thumbA, conn: "tls-b", refused: true},
		{name: "bound, plain channel", bound: thumbA, conn: "plain", refused: true},
		{name: "bound, plain channel stating the bound certificate", bound: thumbA, conn: "plain", md: stated(thumbA, serialA), refused: true},
		{name: "bound, other certificate stating the bound one", bound: thumbA, conn: "tls-b", md: stated(thumbA, serialA), refused: true},
		{name: "bound, TLS without certificate stating the bound one", bound: thumbA, conn: "tls-none", md: stated(thumbA, serialA), refused: true},
		{name: "unbound, certificate A", conn: "tls-a", wantTrust: TrustBearer, wantSerial: serialA},
		{name: "unbound, TLS without certificate", conn: "tls-none", wantTrust: TrustBearer},
		{name: "unbound, plain channel", conn: "plain", wantTrust: TrustBearer},
		{name: "unbound, plain channel stating a certificate", conn: "plain", md: stated(thumbA, serialA), wantTrust: TrustBearer},

		{name: "forwarder states the bound certificate", bound: thumbA, conn: "bufconn", md: stated(thumbA, serialA), wantTrust: TrustMTLS, wantSerial: serialA},
		{name: "forwarder states no certificate", bound: thumbA, conn: "bufconn", refused: true},
		{name: "forwarder states another certificate", bound: thumbA, conn: "bufconn", md: stated(thumbB, serialB), refused: true},
		{
			name: "forwarder states two thumbprints", bound: thumbA, conn: "bufconn", refused: true,
			md: append(stated(thumbA, serialA), MetadataClientCertThumbprint, thumbA),
		},
		{name: "forwarder states a thumbprint without serial", bound: thumbA, conn: "bufconn", md: []string{MetadataClientCertThumbprint, thumbA}, refused: true},
		{name: "forwarder states a padded thumbprint", bound: thumbA, conn: "bufconn", md: stated(thumbA+"=", serialA), refused: true},
		{name: "forwarder states an upper-case serial", bound: thumbA, conn: "bufconn", md: stated(thumbA, strings.ToUpper(serialA)), refused: true},
		{name: "unbound, forwarder states certificate A", conn: "bufconn", md: stated(thumbA, serialA), wantTrust: TrustBearer, wantSerial: serialA},
		{name: "unbound, forwarder states no certificate", conn: "bufconn", wantTrust: TrustBearer},

		{name: "API key, certificate A", apiKey: true, conn: "tls-a", wantTrust: TrustAPIKey, wantSerial: serialA},
		{name: "API key, plain channel", apiKey: true, conn: "plain", wantTrust: TrustAPIKey},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientID := "client-1"
			auth := "ApiKey " + e.apiKey
			if tt.apiKey {
				clientID = "client-key"
			} else {
				auth = "Bearer " + e.token(t, "jti-bind-"+strconv.Itoa(i), tt.bound, "")
			}
			for _, pass := range []string{"fresh", "cached"} {
				before := len(e.rec.all())
				ctx := metadata.AppendToOutgoingContext(context.Background(), append([]string{"authorization", auth}, tt.md...)...)
				resp, err := e.clients[tt.conn].UnaryCall(ctx, &testgrpc.SimpleRequest{})
				if tt.refused {
					wantBindingRefusal(t, err, e.rec, before, clientID)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", pass, err)
				}
				if resp.GetUsername() != clientID || resp.GetOauthScope() != tt.wantTrust.String() || resp.GetHostname() != tt.wantSerial {
					t.Fatalf("%s: principal %s/%s/%q, want %s/%s/%q", pass,
						resp.GetUsername(), resp.GetOauthScope(), resp.GetHostname(), clientID, tt.wantTrust, tt.wantSerial)
				}
				// The revocation list was asked about the certificate.
				if p := e.chk.last(); p == nil || p.CertSerial != tt.wantSerial {
					t.Fatalf("%s: revocation checker saw %+v, want serial %q", pass, p, tt.wantSerial)
				}
			}
		})
	}
	// Every token was validated once and then served from the cache.
	if n := e.jwt.auth.cache.len(); n != len(tests)-2 {
		t.Fatalf("token cache holds %d tokens, want every test token", n)
	}
}

// TestCertificateBindingCachedPrincipal: the binding is checked on every
// request, cached token included, under concurrency; the principal the
// JWT cache shares is never changed (the trust level and serial go on a
// copy).
func TestCertificateBindingCachedPrincipal(t *testing.T) {
	e := newBindingEnv(t)
	tok := e.token(t, "jti-shared", e.thumbA, "")
	md := func() context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	}
	if _, err := e.clients["tls-a"].UnaryCall(md(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	cached, err := e.jwt.auth.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			conn, wantOK := "tls-a", true
			switch i % 4 {
			case 1:
				conn, wantOK = "tls-b", false
			case 2:
				conn, wantOK = "plain", false
			}
			resp, err := e.clients[conn].UnaryCall(md(), &testgrpc.SimpleRequest{})
			switch {
			case wantOK && err != nil:
				t.Errorf("%s: %v", conn, err)
			case wantOK && (resp.GetOauthScope() != "mtls" || resp.GetHostname() != serialA):
				t.Errorf("%s: trust %s, serial %q", conn, resp.GetOauthScope(), resp.GetHostname())
			case !wantOK && status.Code(err) != codes.Unauthenticated:
				t.Errorf("%s: %v, want Unauthenticated", conn, err)
			}
		})
	}
	wg.Wait()
	again, err := e.jwt.auth.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if again != cached {
		t.Fatal("the token was not served from the cache")
	}
	if cached.Trust != TrustBearer || cached.CertSerial != "" || cached.CertThumbprint != e.thumbA {
		t.Fatalf("cached principal changed: trust %s, serial %q, thumbprint %q", cached.Trust, cached.CertSerial, cached.CertThumbprint)
	}
	e.chk.mu.Lock()
	defer e.chk.mu.Unlock()
	for _, p := range e.chk.seen {
		if p == cached {
			t.Fatal("the revocation checker got the shared principal, not the request's copy")
		}
	}
}

// TestCertificateSerialRevoked: the serial of the request's certificate
// reaches the revocation checker, for bound and unbound credentials.
func TestCertificateSerialRevoked(t *testing.T) {
	e := newBindingEnv(t)
	e.chk.revoke(serialA)
	bound := e.token(t, "jti-bound", e.thumbA, "")
	unbound := e.token(t, "jti-unbound", "", "")
	tests := []struct {
		name, conn, auth string
		wantCode         codes.Code
		wantReason       audit.Reason
	}{
		{name: "bound token, revoked certificate", conn: "tls-a", auth: "Bearer " + bound, wantCode: codes.Unauthenticated, wantReason: audit.ReasonRevokedToken},
		{name: "unbound token, revoked certificate", conn: "tls-a", auth: "Bearer " + unbound, wantCode: codes.Unauthenticated, wantReason: audit.ReasonRevokedToken},
		{name: "API key, revoked certificate", conn: "tls-a", auth: "ApiKey " + e.apiKey, wantCode: codes.Unauthenticated, wantReason: audit.ReasonRevokedAPIKey},
		{name: "unbound token, other certificate", conn: "tls-b", auth: "Bearer " + unbound, wantCode: codes.OK},
		{name: "unbound token, forwarder states the revoked certificate", conn: "bufconn", auth: "Bearer " + unbound, wantCode: codes.Unauthenticated, wantReason: audit.ReasonRevokedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.rec.all())
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", tt.auth,
				MetadataClientCertThumbprint, e.thumbA, MetadataClientCertSerial, serialA)
			_, err := e.clients[tt.conn].UnaryCall(ctx, &testgrpc.SimpleRequest{})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("error %v, want %s", err, tt.wantCode)
			}
			if tt.wantReason != "" {
				if got := e.rec.all()[before:]; len(got) != 1 || got[0].Reason != tt.wantReason {
					t.Fatalf("recorded %+v, want %s", got, tt.wantReason)
				}
			}
		})
	}
}

// certRegistry serves ListScopes, reporting the principal as scopes.
type certRegistry struct {
	clientsv1.UnimplementedClientRegistryServiceServer
}

func (certRegistry) ListScopes(ctx context.Context, _ *clientsv1.ListScopesRequest) (*clientsv1.ListScopesResponse, error) {
	p, _ := FromContext(ctx)
	return &clientsv1.ListScopesResponse{Scopes: []*clientsv1.Scope{
		{Name: "client:" + p.ClientID}, {Name: "trust:" + p.Trust.String()}, {Name: "serial:" + p.CertSerial},
	}}, nil
}

// TestCertificateBoundTokenGateway runs REST over real TLS (client
// certificates verified by the listener) through grpc-gateway with
// GatewayClientCertAnnotator, bufconn and the interceptors, the way the
// gateway is deployed: the certificate reaches the validator as metadata
// from the trusted forwarder, and a client cannot state one in headers.
func TestCertificateBoundTokenGateway(t *testing.T) {
	rules, err := RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	pki := thePKI(t)
	env := newJWTEnv(t)
	rec := &fakeRecorder{}
	v := NewValidator(rules,
		WithAuthenticator(env.auth),
		WithRecorder(rec),
		WithTrustedForwarder(isBufconn),
		WithLogger(discardLogger()),
	)
	srv := grpc.NewServer(grpc.UnaryInterceptor(v.UnaryServerInterceptor()), grpc.StreamInterceptor(v.StreamServerInterceptor()))
	clientsv1.RegisterClientRegistryServiceServer(srv, certRegistry{})
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(GatewayErrorHandler("gatehouse")),
		runtime.WithIncomingHeaderMatcher(GatewayIncomingHeaderMatcher),
		runtime.WithMetadata(GatewayClientCertAnnotator),
	)
	if err := clientsv1.RegisterClientRegistryServiceHandler(context.Background(), mux, dialBufconn(t, lis)); err != nil {
		t.Fatal(err)
	}
	https := httptest.NewUnstartedServer(v.GatewayPreflight(mux))
	https.TLS = pki.serverTLS()
	https.StartTLS()
	t.Cleanup(https.Close)
	clientWith := func(cert *tls.Certificate) *http.Client {
		tr := &http.Transport{TLSClientConfig: pki.clientTLS(cert)}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	clients := map[string]*http.Client{"a": clientWith(&pki.clientA), "b": clientWith(&pki.clientB), "none": clientWith(nil)}

	thumbA := CertThumbprint(pki.clientA.Leaf)
	mintTok := func(thumb string) string {
		c := validClaims(env.now()).with("scope", "gatehouse:admin")
		if thumb != "" {
			c = c.with("cnf", map[string]any{"x5t#S256": thumb})
		}
		return mint(t, env.keys.es256, c)
	}
	bound, unbound := mintTok(thumbA), mintTok("")
	forged := map[string]string{
		"X-Gatehouse-Client-Cert-S256":                 thumbA,
		"X-Gatehouse-Client-Cert-Serial":               serialA,
		"Grpc-Metadata-X-Gatehouse-Client-Cert-S256":   thumbA,
		"Grpc-Metadata-X-Gatehouse-Client-Cert-Serial": serialA,
	}
	const mismatch = `Bearer realm="gatehouse", error="invalid_token", error_description=`
	tests := []struct {
		name, client, token string
		headers             map[string]string
		wantStatus          int
		wantScopes          string // on success
	}{
		{name: "bound, certificate A", client: "a", token: bound, wantStatus: 200, wantScopes: "client:client-1 trust:mtls serial:" + serialA},
		{name: "bound, no certificate", client: "none", token: bound, wantStatus: 401},
		{name: "bound, certificate B", client: "b", token: bound, wantStatus: 401},
		{name: "bound, no certificate, forged headers", client: "none", token: bound, headers: forged, wantStatus: 401},
		{name: "bound, certificate B, forged headers", client: "b", token: bound, headers: forged, wantStatus: 401},
		{name: "bound, certificate A, again (cached)", client: "a", token: bound, wantStatus: 200, wantScopes: "client:client-1 trust:mtls serial:" + serialA},
		{name: "unbound, no certificate", client: "none", token: unbound, wantStatus: 200, wantScopes: "client:client-1 trust:bearer serial:"},
		{name: "unbound, certificate B", client: "b", token: unbound, wantStatus: 200, wantScopes: "client:client-1 trust:bearer serial:" + serialB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.all())
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, https.URL+"/v1/scopes", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tt.token)
			for k, val := range tt.headers {
				req.Header.Set(k, val)
			}
			resp, err := clients[tt.client].Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 200 {
				var out struct {
					Scopes []struct {
						Name string `json:"name"`
					} `json:"scopes"`
				}
				if err := json.Unmarshal(body, &out); err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, s := range out.Scopes {
					names = append(names, s.Name)
				}
				if got := strings.Join(names, " "); got != tt.wantScopes {
					t.Fatalf("principal %q, want %q", got, tt.wantScopes)
				}
				return
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, mismatch) {
				t.Fatalf("WWW-Authenticate %q, want %s...", got, mismatch)
			}
			if got := rec.all()[before:]; len(got) != 1 || got[0].Reason != audit.ReasonCertificateBindingMismatch ||
				got[0].Remote != "127.0.0.1" {
				t.Fatalf("recorded %+v", got)
			}
		})
	}
}

// TestCertificateBoundTokenHTTPMiddleware: HTTP handlers check the
// certificate of the request's own TLS connection, never a header.
func TestCertificateBoundTokenHTTPMiddleware(t *testing.T) {
	pki := thePKI(t)
	env := newJWTEnv(t)
	rec := &fakeRecorder{}
	chk := &serialChecker{}
	v := NewValidator(nil, WithAuthenticator(env.auth), WithRecorder(rec), WithRevocationChecker(chk),
		WithTrustedForwarder(func(net.Addr) bool { return true }), WithLogger(discardLogger()))
	h := v.HTTPMiddleware(&authv1.AuthRule{Scopes: []string{"things:read"}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		_, _ = io.WriteString(w, p.Trust.String()+" "+p.CertSerial)
	}))
	thumbA := CertThumbprint(pki.clientA.Leaf)
	bound := mint(t, env.keys.es256, validClaims(env.now()).with("cnf", map[string]any{"x5t#S256": thumbA}))
	unbound := mint(t, env.keys.es256, validClaims(env.now()).with("jti", "jti-unbound"))
	state := func(c *tls.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{c.Leaf}}
	}
	const (
		noCert    = "certificate-bound token presented without a client certificate"
		otherCert = "client certificate does not match the certificate-bound token"
	)
	tests := []struct {
		name, token string
		tls         *tls.ConnectionState
		forged      bool
		wantStatus  int
		wantBody    string // on success; else the error_description
	}{
		{name: "bound, certificate A", token: bound, tls: state(&pki.clientA), wantStatus: 200, wantBody: "mtls " + serialA},
		{name: "bound, TLS without certificate", token: bound, tls: &tls.ConnectionState{HandshakeComplete: true}, wantStatus: 401, wantBody: noCert},
		{name: "bound, plain HTTP", token: bound, wantStatus: 401, wantBody: noCert},
		{name: "bound, plain HTTP, forged headers from a trusted forwarder", token: bound, forged: true, wantStatus: 401, wantBody: noCert},
		{name: "bound, certificate B", token: bound, tls: state(&pki.clientB), wantStatus: 401, wantBody: otherCert},
		{name: "unbound, certificate B", token: unbound, tls: state(&pki.clientB), wantStatus: 200, wantBody: "bearer " + serialB},
		{name: "unbound, plain HTTP", token: unbound, wantStatus: 200, wantBody: "bearer "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.all())
			r := httptest.NewRequest(http.MethodGet, "/things", nil)
			r.TLS = tt.tls
			r.Header.Set("Authorization", "Bearer "+tt.token)
			if tt.forged {
				r.Header.Set(MetadataClientCertThumbprint, thumbA)
				r.Header.Set(MetadataClientCertSerial, serialA)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tt.wantStatus == 200 {
				if w.Code != 200 || w.Body.String() != tt.wantBody {
					t.Fatalf("status %d, body %q, want %q", w.Code, w.Body.String(), tt.wantBody)
				}
				return
			}
			checkErrorResponse(t, w, tt.wantStatus,
				`Bearer realm="gatehouse", error="invalid_token", error_description="`+tt.wantBody+`"`, "", tt.wantBody)
			if got := rec.all()[before:]; len(got) != 1 || got[0].Reason != audit.ReasonCertificateBindingMismatch {
				t.Fatalf("recorded %+v", got)
			}
		})
	}
}

// TestClientCertSource: where the validator takes the request's client
// certificate from, peer by peer.
func TestClientCertSource(t *testing.T) {
	pki := thePKI(t)
	a, b := pki.clientA.Leaf, pki.clientB.Leaf
	thumbA := CertThumbprint(a)
	tcp := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 4000}
	forwarder := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4000}
	v := NewValidator(nil, WithLogger(discardLogger()),
		WithTrustedForwarder(func(addr net.Addr) bool { return addr.String() == forwarder.String() }))
	tlsInfo := func(certs ...*x509.Certificate) credentials.AuthInfo {
		return credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: certs}}
	}
	stated := metadata.Pairs(MetadataClientCertThumbprint, thumbA, MetadataClientCertSerial, serialA)
	tests := []struct {
		name       string
		peer       *peer.Peer
		md         metadata.MD
		authorize  bool // through Authorize with md, rather than the incoming context
		want       string
		wantSerial string
	}{
		{name: "no peer", md: stated},
		{name: "TLS peer", peer: &peer.Peer{Addr: tcp, AuthInfo: tlsInfo(a)}, want: thumbA, wantSerial: serialA},
		{name: "TLS peer, leaf first", peer: &peer.Peer{Addr: tcp, AuthInfo: tlsInfo(b, a)}, want: CertThumbprint(b), wantSerial: serialB},
		{name: "TLS peer without certificate", peer: &peer.Peer{Addr: tcp, AuthInfo: tlsInfo()}, md: stated},
		{name: "plain peer stating a certificate", peer: &peer.Peer{Addr: tcp}, md: stated},
		{name: "TLS peer stating another certificate", peer: &peer.Peer{Addr: tcp, AuthInfo: tlsInfo(b)}, md: stated, want: CertThumbprint(b), wantSerial: serialB},
		{name: "forwarder stating a certificate", peer: &peer.Peer{Addr: forwarder}, md: stated, want: thumbA, wantSerial: serialA},
		{name: "forwarder stating a certificate, Authorize", peer: &peer.Peer{Addr: forwarder}, md: stated, authorize: true, want: thumbA, wantSerial: serialA},
		{name: "forwarder over TLS stating nothing", peer: &peer.Peer{Addr: forwarder, AuthInfo: tlsInfo(a)}},
		{name: "forwarder over TLS stating another certificate", peer: &peer.Peer{Addr: forwarder, AuthInfo: tlsInfo(b)}, md: stated, want: thumbA, wantSerial: serialA},
		{name: "forwarder, Authorize with nil metadata", peer: &peer.Peer{Addr: forwarder}, authorize: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.peer != nil {
				ctx = peer.NewContext(ctx, tt.peer)
			}
			req := &request{grpcCtx: true}
			if tt.authorize {
				// As Authorize builds it: md given, never nil.
				req = &request{md: tt.md}
				if req.md == nil {
					req.md = metadata.MD{}
				}
				// Metadata in the context must not count then.
				ctx = metadata.NewIncomingContext(ctx, stated)
			} else if tt.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tt.md)
			}
			got, ok := v.clientCert(ctx, req)
			if ok != (tt.want != "") || got.thumbprint != tt.want || got.serial != tt.wantSerial {
				t.Fatalf("clientCert = %+v, %v; want %q %q", got, ok, tt.want, tt.wantSerial)
			}
		})
	}
}

// TestForwardClientCert: the gateway side states the certificate of the
// request's TLS connection, and nothing without one.
func TestForwardClientCert(t *testing.T) {
	pki := thePKI(t)
	a := pki.clientA.Leaf
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if md := ForwardClientCert(r); md != nil {
		t.Fatalf("plain HTTP: %v", md)
	}
	r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	if md := GatewayClientCertAnnotator(context.Background(), r); md != nil {
		t.Fatalf("TLS without certificate: %v", md)
	}
	r.TLS.PeerCertificates = []*x509.Certificate{a, pki.clientB.Leaf}
	md := ForwardClientCert(r)
	if got := md.Get(MetadataClientCertThumbprint); len(got) != 1 || got[0] != CertThumbprint(a) {
		t.Fatalf("thumbprint %v", got)
	}
	if got := md.Get(MetadataClientCertSerial); len(got) != 1 || got[0] != serialA {
		t.Fatalf("serial %v", got)
	}
	if got := md.Get(MetadataClientCert); len(got) != 1 || got[0] != base64.RawURLEncoding.EncodeToString(a.Raw) {
		t.Fatalf("certificate %v", got)
	}
	if len(md) != 3 {
		t.Fatalf("metadata %v, want the three keys only", md)
	}
	if ForwardClientCert(nil) != nil {
		t.Fatal("nil request")
	}
}

// TestCertThumbprint: x5t#S256 is the unpadded base64url SHA-256 of the
// DER certificate (RFC 8705 §3.1), and the cache answers the same.
func TestCertThumbprint(t *testing.T) {
	pki := thePKI(t)
	for _, c := range []*x509.Certificate{pki.clientA.Leaf, pki.clientB.Leaf} {
		th := CertThumbprint(c)
		raw, err := base64.RawURLEncoding.Strict().DecodeString(th)
		if err != nil || len(th) != thumbprintLen {
			t.Fatalf("thumbprint %q: %v", th, err)
		}
		if want := sha256.Sum256(c.Raw); string(raw) != string(want[:]) {
			t.Fatalf("thumbprint %q is not the SHA-256 of the DER certificate", th)
		}
		if got := certInfos.lookup(c); got.thumbprint != th || got.serial != CertSerial(c) {
			t.Fatalf("cached %+v", got)
		}
	}
	if CertThumbprint(pki.clientA.Leaf) == CertThumbprint(pki.clientB.Leaf) {
		t.Fatal("two certificates, one thumbprint")
	}
}

// TestCertCacheBounded: the certificate cache is emptied when full, and
// still answers right.
func TestCertCacheBounded(t *testing.T) {
	pki := thePKI(t)
	var c certCache
	for range maxCachedCerts + 10 {
		cp := *pki.clientA.Leaf // another pointer, the same certificate
		if got := c.lookup(&cp); got.thumbprint != CertThumbprint(pki.clientA.Leaf) || got.serial != serialA {
			t.Fatalf("lookup %+v", got)
		}
	}
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	if n > maxCachedCerts {
		t.Fatalf("cache holds %d certificates, bound %d", n, maxCachedCerts)
	}
}
