package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// doHTTP sends a request with the X-Request-Id header id (none when "")
// and returns the response's status and id.
func doHTTP(t *testing.T, method, rawURL, id string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if id != "" {
		req.Header.Set(requestid.Header, id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(requestid.Header)
}

// auditLine is the auth_failure log line with request_id id.
func auditLine(t *testing.T, logs *logtest.Buffer, id string) map[string]any {
	t.Helper()
	for _, l := range logs.Records(t) {
		if l["event"] == "auth_failure" && l["request_id"] == id {
			return l
		}
	}
	t.Fatalf("no auth_failure log line with request_id %q", id)
	return nil
}

// TestRequestIDHTTP: every HTTP response carries a request id, the
// caller's when well formed; a refused request's audit line names it, on
// the REST facade (refused before the gRPC call and by the gRPC side
// behind it) and on the OAuth endpoints.
func TestRequestIDHTTP(t *testing.T) {
	logs := &logtest.Buffer{}
	a := startTraced(t, logs, "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	base := "http://" + a.HTTPAddr()

	_, first := doHTTP(t, http.MethodGet, base+"/healthz", "", nil)
	_, second := doHTTP(t, http.MethodGet, base+"/healthz", "", nil)
	if !requestid.Valid(first) || len(first) != 32 || first == second {
		t.Fatalf("generated ids %q, %q", first, second)
	}
	if _, got := doHTTP(t, http.MethodGet, base+"/healthz", "caller-id:42.a_b", nil); got != "caller-id:42.a_b" {
		t.Fatalf("a well-formed id came back as %q", got)
	}
	for _, bad := range []string{"two words", "<script>", strings.Repeat("x", requestid.MaxLen+1)} {
		if _, got := doHTTP(t, http.MethodGet, base+"/healthz", bad, nil); got == bad || !requestid.Valid(got) {
			t.Fatalf("malformed id %q came back as %q", bad, got)
		}
	}
	if _, got := doHTTP(t, http.MethodGet, base+"/no/such/route", "", nil); !requestid.Valid(got) {
		t.Fatalf("an unmatched route has no id: %q", got)
	}

	if code, got := doHTTP(t, http.MethodGet, base+"/v1/clients", "rest-refused-1", nil); code != http.StatusUnauthorized || got != "rest-refused-1" {
		t.Fatalf("REST without a credential: %d, id %q", code, got)
	}
	auditLine(t, logs, "rest-refused-1")

	// The gRPC handler behind the REST facade got the same id: it returns
	// it in its header metadata, which the gateway passes on.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/v1/scopes", nil)
	req.Header.Set("Authorization", "ApiKey "+adminKeyOf(t, a.cfg.DataDir))
	req.Header.Set(requestid.Header, "rest-ok-1")
	req.Header.Set("Grpc-Metadata-X-Request-Id", "spoofed")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(requestid.Header) != "rest-ok-1" || resp.Header.Get("Grpc-Metadata-X-Request-Id") != "rest-ok-1" {
		t.Fatalf("REST call: %d, headers %v", resp.StatusCode, resp.Header)
	}

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"wrong"}}
	if code, got := doHTTP(t, http.MethodPost, base+"/oauth2/token", "token-refused-1", form); code != http.StatusUnauthorized || got != "token-refused-1" {
		t.Fatalf("token endpoint with a wrong secret: %d, id %q", code, got)
	}
	auditLine(t, logs, "token-refused-1")
}

// TestRequestIDGRPC: every gRPC response's header metadata carries a
// request id, the caller's x-request-id or request-id when well formed;
// the refused call's audit line names it.
func TestRequestIDGRPC(t *testing.T) {
	logs := &logtest.Buffer{}
	a := startTraced(t, logs, "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	rc := clientsv1.NewClientRegistryServiceClient(conn)
	call := func(kv ...string) string {
		t.Helper()
		var hdr metadata.MD
		ctx := metadata.AppendToOutgoingContext(context.Background(), kv...)
		_, err := rc.ListClients(ctx, &clientsv1.ListClientsRequest{}, grpc.Header(&hdr))
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("ListClients without a credential: %v", err)
		}
		v := hdr.Get(requestid.Metadata)
		if len(v) != 1 {
			t.Fatalf("x-request-id in the header metadata: %v", hdr)
		}
		return v[0]
	}
	if first, second := call(), call(); !requestid.Valid(first) || first == second {
		t.Fatalf("generated ids %q, %q", first, second)
	}
	if got := call(requestid.Metadata, "grpc-refused-1"); got != "grpc-refused-1" {
		t.Fatalf("x-request-id came back as %q", got)
	}
	auditLine(t, logs, "grpc-refused-1")
	if got := call(requestid.AltMetadata, "grpc-alt-1"); got != "grpc-alt-1" {
		t.Fatalf("request-id came back as %q", got)
	}
	if got := call(requestid.Metadata, "bad id"); got == "bad id" || !requestid.Valid(got) {
		t.Fatalf("a malformed id came back as %q", got)
	}
}

// scrape returns the process's /metrics.
func scrape(t *testing.T, a *App) string {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sample is the value of the series whose line starts with series (name
// and labels, in the exposition's label order), or -1.
func sample(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return f
		}
	}
	return -1
}

// TestMetrics: the HTTP metrics count every request under its route
// pattern (an unknown path under one label), the gRPC metrics are
// go-grpc-middleware's, and promlint finds nothing in the exposition.
func TestMetrics(t *testing.T) {
	a, key := startApp(t)
	base := "http://" + a.HTTPAddr()
	doHTTP(t, http.MethodGet, base+"/healthz", "", nil)
	doHTTP(t, http.MethodGet, base+"/.well-known/openid-configuration", "", nil)
	doHTTP(t, http.MethodGet, base+"/no/such/route/a1", "", nil)
	doHTTP(t, http.MethodGet, base+"/no/such/route/b2", "", nil)
	doHTTP(t, http.MethodPost, base+"/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"x"}})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/v1/clients", nil)
	req.Header.Set("Authorization", "ApiKey "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	m := scrape(t, a)
	for series, atLeast := range map[string]float64{
		`http_server_requests_total{code="200",method="GET",route="/healthz"}`:                                                                            1,
		`http_server_requests_total{code="200",method="GET",route="/.well-known/openid-configuration"}`:                                                   1,
		`http_server_requests_total{code="404",method="GET",route="unmatched"}`:                                                                           2,
		`http_server_requests_total{code="401",method="POST",route="/oauth2/token"}`:                                                                      1,
		`http_server_requests_total{code="200",method="GET",route="/v1/clients"}`:                                                                         1,
		`http_server_request_duration_seconds_count{method="GET",route="/healthz"}`:                                                                       1,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="ListClients",grpc_service="gatehouse.clients.v1.ClientRegistryService",grpc_type="unary"}`: 1,
		`grpc_server_started_total{grpc_method="ListClients",grpc_service="gatehouse.clients.v1.ClientRegistryService",grpc_type="unary"}`:                1,
		`grpc_server_handling_seconds_count{grpc_method="ListClients",grpc_service="gatehouse.clients.v1.ClientRegistryService",grpc_type="unary"}`:       1,
		// Every grant served from the start.
		`gatehouse_tokens_issued_total{grant_type="client_credentials"}`: 0,
		`gatehouse_tokens_issued_total{grant_type="authorization_code"}`: 0,
	} {
		if got := sample(m, series); got < atLeast {
			t.Errorf("%s = %v, want at least %v", series, got, atLeast)
		}
	}
	if strings.Contains(m, "/no/such/route") {
		t.Error("a raw path is a label value")
	}

	problems, err := promlint.New(strings.NewReader(m)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestRequestIDSplitGateway: `serve gateway` forwards the caller's id to
// the service behind it, which returns it in its header metadata.
func TestRequestIDSplitGateway(t *testing.T) {
	a1 := startTraced(t, io.Discard, "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	split := startSplitLogged(t, a1.nc.ConnectedUrl(), io.Discard, "gateway")
	admin := adminKeyOf(t, split["clients"].cfg.DataDir)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+split["gateway"].HTTPAddr()+"/v1/scopes", nil)
	req.Header.Set("Authorization", "ApiKey "+admin)
	req.Header.Set(requestid.Header, "split-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(requestid.Header) != "split-1" || resp.Header.Get("Grpc-Metadata-X-Request-Id") != "split-1" {
		t.Fatalf("through the gateway: %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// TestRequestIDBusy: a request refused as busy, before any route, has an
// id too.
func TestRequestIDBusy(t *testing.T) {
	h := withRequestID(limitInFlight(http.NotFoundHandler(), 0))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !requestid.Valid(rec.Header().Get(requestid.Header)) {
		t.Fatalf("busy: %d, id %q", rec.Code, rec.Header().Get(requestid.Header))
	}
}
