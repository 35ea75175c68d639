package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// How the tests get the spans: the App's instrumentation (otelhttp,
// otelgrpc, the NATS publisher, the peers' connections) takes the global
// TracerProvider and propagator when the App is started, as `gatehouse
// serve` sets them up with tracing.Setup before app.Start. So a test
// installs an in-memory recorder with tracing.Setup(…, WithSpanProcessor)
// first, then starts its Apps; the recorder gets the spans of every App of
// the process.

// tracedLogger logs JSON to buf with trace_id and span_id, as main does.
func tracedLogger(buf io.Writer) *slog.Logger {
	return slog.New(tracing.LogHandler(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// startTraced starts an App with args (what follows `serve`), logging to
// logs.
func startTraced(t *testing.T, logs io.Writer, args ...string) *App {
	t.Helper()
	return startTracedEnv(t, logs, func(string) string { return "" }, args...)
}

// startTracedEnv is startTraced with an environment.
func startTracedEnv(t *testing.T, logs io.Writer, getenv func(string) string, args ...string) *App {
	t.Helper()
	cfg, err := config.Load(args, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), cfg, tracedLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	return a
}

// traceRecorder installs tracing with an in-memory recorder for the test.
func traceRecorder(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	shutdown, err := tracing.Setup(context.Background(), &config.Config{}, tracing.WithSpanProcessor(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	return rec
}

// tracedGET is a GET a traced caller makes: under a span of the test's
// own, whose traceparent goes with the request. It returns the status and
// the caller's span context.
func tracedGET(t *testing.T, rawURL, authorization string) (int, trace.SpanContext) {
	t.Helper()
	ctx, span := otel.Tracer("test").Start(context.Background(), "test caller", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, span.SpanContext()
}

// spanWant is a span a trace must have: its kind and name.
type spanWant struct {
	kind trace.SpanKind
	name string
}

// traceOf waits until the trace has every span wanted (the server side
// ends its spans after the response has gone), and returns every ended
// span of the trace.
func traceOf(t *testing.T, rec *tracetest.SpanRecorder, tid trace.TraceID, wants ...spanWant) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var spans []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == tid {
				spans = append(spans, s)
			}
		}
		missing := slices.DeleteFunc(slices.Clone(wants), func(w spanWant) bool {
			return slices.ContainsFunc(spans, func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == w.kind && s.Name() == w.name })
		})
		if len(missing) == 0 {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s lacks %v; it has:\n%s", tid, missing, describe(spans))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString("  " + s.SpanKind().String() + " " + strconv.Quote(s.Name()) + " span " + s.SpanContext().SpanID().String() +
			" parent " + s.Parent().SpanID().String() + "\n")
	}
	return b.String()
}

// one finds the trace's one span of that kind and name whose parent is
// parent.
func one(t *testing.T, spans []sdktrace.ReadOnlySpan, kind trace.SpanKind, name string, parent trace.SpanContext) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanKind() == kind && s.Name() == name && s.Parent().SpanID() == parent.SpanID() {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s spans %q under %s, want 1; the trace:\n%s", len(found), kind, name, parent.SpanID(), describe(spans))
	}
	return found[0]
}

// connected checks that the spans form one tree under the root: every
// span's parent is the root or another span of the trace.
func connected(t *testing.T, spans []sdktrace.ReadOnlySpan, root trace.SpanContext) {
	t.Helper()
	ids := map[trace.SpanID]bool{root.SpanID(): true}
	for _, s := range spans {
		ids[s.SpanContext().SpanID()] = true
	}
	for _, s := range spans {
		if s.SpanContext().SpanID() == root.SpanID() {
			continue
		}
		if !ids[s.Parent().SpanID()] {
			t.Fatalf("span %q has a parent outside the trace; the trace:\n%s", s.Name(), describe(spans))
		}
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String(), true
		}
	}
	return "", false
}

// noSecrets fails if any recorded span holds one of the secrets: in its
// name, an attribute, its status, an event or a link.
func noSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets map[string]string) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name(), s.Status().Description}
		for _, kv := range s.Attributes() {
			texts = append(texts, string(kv.Key)+"="+kv.Value.String())
		}
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, string(kv.Key)+"="+kv.Value.String())
			}
		}
		for _, l := range s.Links() {
			for _, kv := range l.Attributes {
				texts = append(texts, string(kv.Key)+"="+kv.Value.String())
			}
		}
		for what, secret := range secrets {
			if secret == "" {
				t.Fatalf("secret %s is empty", what)
			}
			for _, text := range texts {
				if strings.Contains(text, secret) {
					t.Fatalf("span %q holds the %s: %q", s.Name(), what, text)
				}
			}
		}
	}
}

// tracedAdmin is a gRPC client of a, with the admin key, whose calls are
// client spans of the caller's trace.
func tracedAdmin(t *testing.T, a *App, adminKey string) (*grpc.ClientConn, context.Context) {
	t.Helper()
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+adminKey)
}

func adminKeyOf(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	key := between(string(b), `"api_key": "`, `"`)
	if key == "" {
		t.Fatalf("no api_key in %s", CredentialsFile)
	}
	return key
}

// serviceCertificate registers a client for a split service (scope
// gatehouse:internal) and has the platform CA issue its certificate: it
// returns the certificate, key and CA files, as `serve inventory` takes
// them.
func serviceCertificate(t *testing.T, rc clientsv1.ClientRegistryServiceClient, kc keysv1.KeyManagementServiceClient, ctx context.Context) (certFile, keyFile, caFile string) {
	t.Helper()
	svc, err := rc.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "inventory service", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"gatehouse:internal"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "inventory service"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := kc.IssueClientCertificate(ctx, &keysv1.IssueClientCertificateRequest{
		ClientId: svc.GetClient().GetClientId(),
		CsrPem:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
	})
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, caFile = filepath.Join(dir, "svc.pem"), filepath.Join(dir, "svc-key.pem"), filepath.Join(dir, "ca.pem")
	for f, b := range map[string][]byte{
		certFile: issued.GetCertificatePem(),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		caFile:   issued.GetCaCertificatePem(),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, caFile
}

func waitReady(t *testing.T, httpAddr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz") //nolint:noctx // test
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", httpAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTracingConnectedTrace: one request makes one connected trace, from
// the caller through the HTTP listener, the gateway's gRPC hop and the
// server, and, in split mode, on through the peer call to the client
// registry in the other process (one trace id across two Apps, parent
// links intact); a registry change's NATS publish is a span of the
// request that made it; the log lines of a request carry its trace_id and
// span_id; and no span holds a credential, a token or a query.
func TestTracingConnectedTrace(t *testing.T) {
	rec := traceRecorder(t)
	logs1, logs2 := &logtest.Buffer{}, &logtest.Buffer{}
	dataDir := t.TempDir()
	a1 := startTraced(t, logs1, "--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--mtls-addr", "127.0.0.1:0", "--example-inventory")
	admin := adminKeyOf(t, dataDir)
	conn, ctx := tracedAdmin(t, a1, admin)
	rc, kc := clientsv1.NewClientRegistryServiceClient(conn), keysv1.NewKeyManagementServiceClient(conn)

	// A registry change under the test's span: the CreateClient call and
	// its ClientChanged publish on NATS are spans of that trace.
	callerCtx, caller := otel.Tracer("test").Start(ctx, "test admin")
	reader, err := rc.CreateClient(callerCtx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "Reporting", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"inventory:read"},
	}})
	caller.End()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("NATS publish in the request's trace", func(t *testing.T) {
		const create = "gatehouse.clients.v1.ClientRegistryService/CreateClient"
		spans := traceOf(t, rec, caller.SpanContext().TraceID(), spanWant{trace.SpanKindClient, create},
			spanWant{trace.SpanKindServer, create}, spanWant{trace.SpanKindProducer, "send gatehouse.clients.v1"})
		connected(t, spans, caller.SpanContext())
		cli := one(t, spans, trace.SpanKindClient, create, caller.SpanContext())
		srv := one(t, spans, trace.SpanKindServer, create, cli.SpanContext())
		pub := one(t, spans, trace.SpanKindProducer, "send gatehouse.clients.v1", srv.SpanContext())
		if v, _ := attr(pub, "messaging.destination.name"); v != "gatehouse.clients.v1" {
			t.Fatalf("messaging.destination.name %q", v)
		}
	})
	key, err := rc.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: reader.GetClient().GetClientId(), Scopes: []string{"inventory:read"}})
	if err != nil {
		t.Fatal(err)
	}
	apiKey := key.GetApiKey()

	t.Run("gateway hop", func(t *testing.T) {
		const list = "gatehouse.inventory.v1.InventoryService/ListItems"
		code, root := tracedGET(t, "http://"+a1.HTTPAddr()+"/v1/inventory/items", "ApiKey "+apiKey)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/inventory/items: %d", code)
		}
		spans := traceOf(t, rec, root.TraceID(), spanWant{trace.SpanKindServer, "GET /v1/inventory/items"},
			spanWant{trace.SpanKindClient, list}, spanWant{trace.SpanKindServer, list})
		connected(t, spans, root)
		h := one(t, spans, trace.SpanKindServer, "GET /v1/inventory/items", root)
		if !h.Parent().IsRemote() {
			t.Fatal("the HTTP span does not continue the caller's trace")
		}
		if v, _ := attr(h, "http.route"); v != "/v1/inventory/items" {
			t.Fatalf("http.route %q", v)
		}
		cli := one(t, spans, trace.SpanKindClient, list, h.SpanContext())
		srv := one(t, spans, trace.SpanKindServer, list, cli.SpanContext())
		if !srv.Parent().IsRemote() {
			t.Fatal("the gRPC server span's parent is not the gateway's call")
		}
	})

	t.Run("log lines carry the trace", func(t *testing.T) {
		// A refused key: the validator logs the failure with the
		// request's context.
		code, root := tracedGET(t, "http://"+a1.HTTPAddr()+"/v1/inventory/items", "ApiKey gth_nosuchkey_notasecret")
		if code != http.StatusUnauthorized {
			t.Fatalf("a wrong key: %d", code)
		}
		spans := traceOf(t, rec, root.TraceID(), spanWant{trace.SpanKindServer, "GET /v1/inventory/items"},
			spanWant{trace.SpanKindServer, "gatehouse.inventory.v1.InventoryService/ListItems"})
		ids := map[string]bool{}
		for _, s := range spans {
			ids[s.SpanContext().SpanID().String()] = true
		}
		var lines []string
		for _, l := range logs1.Records(t) {
			if l["trace_id"] == root.TraceID().String() {
				lines = append(lines, l["msg"].(string))
				if sid, _ := l["span_id"].(string); !ids[sid] {
					t.Fatalf("log line %v: span_id not a span of the trace", l)
				}
			}
		}
		if len(lines) == 0 {
			t.Fatalf("no log line carries trace_id %s", root.TraceID())
		}
		t.Logf("the request's log lines: %q", lines)
	})

	t.Run("OAuth endpoints", func(t *testing.T) {
		// The token endpoint (the client secret in Basic, the token in
		// the body) and the authorization endpoint (state and PKCE in
		// the query).
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"inventory:read"}}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+a1.HTTPAddr()+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(reader.GetClient().GetClientId(), reader.GetClientSecret())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		code, root := tracedGET(t, "http://"+a1.HTTPAddr()+"/oauth2/authorize?response_type=code&client_id="+reader.GetClient().GetClientId()+
			"&state=statenotforspans&code_challenge=challengenotforspans&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb", "")
		if code == 0 {
			t.Fatal("no answer from /oauth2/authorize")
		}
		spans := traceOf(t, rec, root.TraceID(), spanWant{trace.SpanKindServer, "GET /oauth2/authorize"})
		h := one(t, spans, trace.SpanKindServer, "GET /oauth2/authorize", root)
		if v, _ := attr(h, "url.path"); v != "/oauth2/authorize" {
			t.Fatalf("url.path %q", v)
		}
		if _, ok := attr(h, "url.query"); ok {
			t.Fatal("the query is recorded")
		}
		var tokenSpan bool
		for _, s := range rec.Ended() {
			tokenSpan = tokenSpan || (s.SpanKind() == trace.SpanKindServer && s.Name() == "POST /oauth2/token")
		}
		if !tokenSpan {
			t.Fatal("no span of the token request")
		}
		noSecrets(t, rec.Ended(), map[string]string{
			"access token": tok.AccessToken, "client secret": reader.GetClientSecret(),
			"state": "statenotforspans", "code challenge": "challengenotforspans",
		})
	})

	t.Run("split mode: one token request, one trace across the services", func(t *testing.T) {
		// A split deployment in this process: the revocation, client
		// registry, key, token and inventory services each an App of its
		// own with its identity certificate, calling one another over
		// mTLS gRPC, on a1's NATS as the processes of a deployment share
		// theirs.
		split := startSplitTraced(t, a1.nc.ConnectedUrl())
		tokSrv, reg, keySrv, inv := split["token"], split["clients"], split["keys"], split["inventory"]
		sadmin := adminKeyOf(t, reg.cfg.DataDir)
		sconn, sctx := tracedAdmin(t, reg, sadmin)
		sreader, err := clientsv1.NewClientRegistryServiceClient(sconn).CreateClient(sctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
			Name: "Reporting", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"inventory:read"},
		}})
		if err != nil {
			t.Fatal(err)
		}

		// The token request: the token service checks the secret at the
		// registry and, for its first token, reads the signing key at the
		// key service; all of it one trace.
		const verifySecret, signingKey = "gatehouse.clients.v1.ClientRegistryService/VerifyClientSecret", "gatehouse.keys.v1.KeyManagementService/GetSigningKey"
		code, body, root := tracedPOSTForm(t, "http://"+tokSrv.HTTPAddr()+"/oauth2/token",
			url.Values{"grant_type": {"client_credentials"}, "scope": {"inventory:read"}},
			sreader.GetClient().GetClientId(), sreader.GetClientSecret())
		if code != http.StatusOK {
			t.Fatalf("token at the token service: %d %s\n%s", code, body, describe(rec.Ended()))
		}
		spans := traceOf(t, rec, root.TraceID(), spanWant{trace.SpanKindServer, "POST /oauth2/token"},
			spanWant{trace.SpanKindClient, verifySecret}, spanWant{trace.SpanKindServer, verifySecret},
			spanWant{trace.SpanKindClient, signingKey}, spanWant{trace.SpanKindServer, signingKey})
		connected(t, spans, root)
		h := one(t, spans, trace.SpanKindServer, "POST /oauth2/token", root)
		for _, hop := range []struct {
			method string
			at     *App
		}{{verifySecret, reg}, {signingKey, keySrv}} {
			cli := one(t, spans, trace.SpanKindClient, hop.method, h.SpanContext())
			srv := one(t, spans, trace.SpanKindServer, hop.method, cli.SpanContext())
			if !srv.Parent().IsRemote() {
				t.Fatalf("%s: the server span does not continue the peer call", hop.method)
			}
			_, port, _ := net.SplitHostPort(hop.at.MTLSAddr())
			if v, _ := attr(srv, "server.port"); v != port {
				t.Fatalf("%s served on port %q, want its service's mTLS port %s", hop.method, v, port)
			}
		}
		t.Logf("one token request, one trace across three services:\n%s", describe(spans))
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("token response: %v", err)
		}

		// The token at the inventory service, from a gRPC caller: the
		// trace continues into it the same way.
		const list = "gatehouse.inventory.v1.InventoryService/ListItems"
		ictx, icaller := otel.Tracer("test").Start(context.Background(), "test gRPC caller")
		iconn, err := grpc.NewClient(inv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
		if err != nil {
			t.Fatal(err)
		}
		defer iconn.Close()
		_, err = inventoryv1.NewInventoryServiceClient(iconn).ListItems(
			metadata.AppendToOutgoingContext(ictx, "authorization", "Bearer "+tok.AccessToken), &inventoryv1.ListItemsRequest{})
		icaller.End()
		if err != nil {
			t.Fatal(err)
		}
		spans = traceOf(t, rec, icaller.SpanContext().TraceID(), spanWant{trace.SpanKindClient, list}, spanWant{trace.SpanKindServer, list})
		connected(t, spans, icaller.SpanContext())
		one(t, spans, trace.SpanKindServer, list, one(t, spans, trace.SpanKindClient, list, icaller.SpanContext()).SpanContext())
		noSecrets(t, rec.Ended(), map[string]string{
			"access token": tok.AccessToken, "client secret": sreader.GetClientSecret(),
			"admin key": sadmin, "admin key secret": sadmin[strings.LastIndex(sadmin, "_")+1:],
		})
	})

	t.Run("split mode: an API key at the inventory service, verified at the registry", func(t *testing.T) {
		// `serve inventory` with a1 as its registry, as a platform
		// service with a registered client and a platform-CA
		// certificate: a1's registry verifies the key in the same trace.
		cert, keyFile, ca := serviceCertificate(t, rc, kc, ctx)
		a2 := startTraced(t, logs2, "inventory", "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
			"--mtls-addr", "127.0.0.1:0", "--nats-url", a1.nc.ConnectedUrl(), "--issuer", "http://"+a1.HTTPAddr(),
			"--peer-clients", a1.MTLSAddr(), "--peer-revocation", a1.MTLSAddr(),
			"--peer-cert", cert, "--peer-key", keyFile, "--peer-ca", ca)
		waitReady(t, a2.HTTPAddr())

		const list, verify = "gatehouse.inventory.v1.InventoryService/ListItems", "gatehouse.clients.v1.ClientRegistryService/VerifyAPIKey"
		// a2 has never seen the key: it asks a1's registry.
		code, root := tracedGET(t, "http://"+a2.HTTPAddr()+"/v1/inventory/items", "ApiKey "+apiKey)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/inventory/items at the inventory service: %d\n%s", code, describe(rec.Ended()))
		}
		spans := traceOf(t, rec, root.TraceID(), spanWant{trace.SpanKindServer, "GET /v1/inventory/items"},
			spanWant{trace.SpanKindClient, list}, spanWant{trace.SpanKindServer, list},
			spanWant{trace.SpanKindClient, verify}, spanWant{trace.SpanKindServer, verify})
		connected(t, spans, root)
		h := one(t, spans, trace.SpanKindServer, "GET /v1/inventory/items", root)
		gw := one(t, spans, trace.SpanKindClient, list, h.SpanContext())
		srv := one(t, spans, trace.SpanKindServer, list, gw.SpanContext())
		peer := one(t, spans, trace.SpanKindClient, verify, srv.SpanContext())
		reg := one(t, spans, trace.SpanKindServer, verify, peer.SpanContext())
		if !reg.Parent().IsRemote() {
			t.Fatal("the registry's span does not continue the peer call")
		}
		// The registry's span is a1's: served on a1's mTLS listener.
		_, port, _ := net.SplitHostPort(a1.MTLSAddr())
		if v, _ := attr(reg, "server.port"); v != port {
			t.Fatalf("VerifyAPIKey served on port %q, want a1's mTLS port %s", v, port)
		}
		if v, _ := attr(srv, "server.port"); v == port {
			t.Fatal("ListItems served by a1")
		}
	})
	noSecrets(t, rec.Ended(), map[string]string{
		"API key": apiKey, "API key secret": apiKey[strings.LastIndex(apiKey, "_")+1:],
		"admin key": admin, "admin key secret": admin[strings.LastIndex(admin, "_")+1:],
		"client secret": reader.GetClientSecret(),
	})
}

// TestTracingPostgres: on PostgreSQL, the queries a traced request makes
// are client spans of its trace, named by operation, with no SQL text.
// Skipped without a server (GATEHOUSE_TEST_DATABASE_URL), except under
// CI=true.
func TestTracingPostgres(t *testing.T) {
	// The URL reaches the App as GATEHOUSE_DATABASE_URL, as in a
	// deployment.
	t.Setenv("GATEHOUSE_DATABASE_URL", dbtest.PostgresURL(t))
	getenv := func(k string) string {
		if k == "GATEHOUSE_DATABASE_URL" {
			return os.Getenv(k)
		}
		return ""
	}
	rec := traceRecorder(t)
	dataDir := t.TempDir()
	a := startTracedEnv(t, io.Discard, getenv, "--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--mtls-addr", "")
	admin := adminKeyOf(t, dataDir)

	const listScopes = "gatehouse.clients.v1.ClientRegistryService/ListScopes"
	code, root := tracedGET(t, "http://"+a.HTTPAddr()+"/v1/scopes", "ApiKey "+admin)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/scopes: %d", code)
	}
	spans := traceOf(t, rec, root.TraceID(), spanWant{trace.SpanKindServer, listScopes}, spanWant{trace.SpanKindClient, "postgres SELECT"})
	connected(t, spans, root)
	srv := one(t, spans, trace.SpanKindServer, listScopes, one(t, spans, trace.SpanKindClient, listScopes,
		one(t, spans, trace.SpanKindServer, "GET /v1/scopes", root).SpanContext()).SpanContext())
	var queries int
	for _, s := range spans {
		if !strings.HasPrefix(s.Name(), "postgres ") {
			continue
		}
		queries++
		if s.Parent().SpanID() != srv.SpanContext().SpanID() {
			t.Fatalf("query span %q is not a child of the RPC's span:\n%s", s.Name(), describe(spans))
		}
		if v, _ := attr(s, "db.system.name"); v != "postgresql" {
			t.Fatalf("db.system.name %q", v)
		}
		for _, kv := range s.Attributes() {
			if strings.Contains(strings.ToUpper(kv.Value.String()), " FROM ") {
				t.Fatalf("SQL text recorded: %s=%q", kv.Key, kv.Value.String())
			}
		}
	}
	t.Logf("%d queries traced under %s", queries, listScopes)
	noSecrets(t, rec.Ended(), map[string]string{"admin key": admin, "admin key secret": admin[strings.LastIndex(admin, "_")+1:]})
}

// startSplitTraced starts a split deployment in this process: revocation,
// clients, keys, token and inventory, each an App with its identity
// certificate (IssueServiceCertificate, on the key service's store) and its
// own SQLite store, on natsURL.
func startSplitTraced(t *testing.T, natsURL string) map[string]*App {
	t.Helper()
	return startSplitLogged(t, natsURL, io.Discard)
}

// startSplitLogged is startSplitTraced logging to logs, with the services extra
// (such as the gateway) too.
func startSplitLogged(t *testing.T, natsURL string, logs io.Writer, extra ...string) map[string]*App {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	dir := func(svc string) string { return filepath.Join(root, svc) }
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	kekFile := filepath.Join(root, "kek")
	if err := os.WriteFile(kekFile, kek, 0o600); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(root, "certs")
	order := append([]string{"revocation", "clients", "keys", "token", "inventory"}, extra...)
	mtlsAddr, httpAddr := map[string]string{}, map[string]string{}
	for _, svc := range order {
		if err := IssueServiceCertificate(ctx, &config.Config{DataDir: dir("keys"), KEKFile: kekFile}, slog.New(slog.DiscardHandler),
			svc, []string{"127.0.0.1"}, 0, certs); err != nil {
			t.Fatal(err)
		}
		mtlsAddr[svc], httpAddr[svc] = freeLoopbackAddr(t), freeLoopbackAddr(t)
	}
	apps := map[string]*App{}
	for _, svc := range order {
		crt, key, ca := ServiceCertFiles(certs, svc)
		args := []string{svc, "--data-dir", dir(svc), "--grpc-addr", "127.0.0.1:0", "--http-addr", httpAddr[svc],
			"--mtls-addr", mtlsAddr[svc], "--nats-url", natsURL, "--issuer", "http://" + httpAddr["token"],
			"--peer-cert", crt, "--peer-key", key, "--peer-ca", ca, "--kek-file", kekFile}
		for _, p := range config.SplitPeers[svc] {
			args = append(args, "--peer-"+p, mtlsAddr[p])
		}
		if svc == "inventory" {
			args = append(args, "--peer-keys", mtlsAddr["keys"])
		}
		apps[svc] = startTraced(t, logs, args...)
		waitReady(t, apps[svc].HTTPAddr())
	}
	return apps
}

// freeLoopbackAddr is a loopback address whose port was free a moment ago:
// a split service is told its peers' addresses before they listen.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tracedPOSTForm is a form POST a traced caller makes with HTTP Basic
// client authentication; it returns the status, the body and the caller's
// span context.
func tracedPOSTForm(t *testing.T, rawURL string, form url.Values, user, password string) (int, []byte, trace.SpanContext) {
	t.Helper()
	ctx, span := otel.Tracer("test").Start(context.Background(), "test caller", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, password)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, span.SpanContext()
}
