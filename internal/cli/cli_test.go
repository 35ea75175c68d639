package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// testKey is the API key the test server demands. The real authentication
// interceptors live elsewhere; this one only proves the CLI sends the key.
const testKey = "gth_testAdminKey00000_notARealSecret"

// harness is an in-process gRPC server with the real Registry over the
// real SQLite store, and a credentials file pointing at it.
type harness struct {
	t     *testing.T
	reg   *clients.Registry
	users *usersFixture
	addr  string
	creds string

	mu   sync.Mutex
	last map[string]proto.Message // last request per method
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	store, err := sqlstore.New(t.Context(), dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, reg: clients.New(store), last: map[string]proto.Message{}}
	ctx := t.Context()
	if err := h.reg.SeedScopes(ctx, []string{clients.AdminScope, clients.ValidatorScope}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders:read", "orders:write"} {
		if _, err := h.reg.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: name, Description: "test scope " + name}}); err != nil {
			t.Fatal(err)
		}
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(h.requireKey))
	clientsv1.RegisterClientRegistryServiceServer(srv, h.reg)
	revocationv1.RegisterRevocationServiceServer(srv, &fakeRevocations{})
	h.users = newUsersFixture(t, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	h.addr = lis.Addr().String()
	h.creds = writeCreds(t, map[string]string{"api_key": testKey, "grpc_addr": h.addr, "http_addr": "127.0.0.1:1"})
	return h
}

func writeCreds(t *testing.T, fields map[string]string) string {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "admin-credentials.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// requireKey refuses calls without "authorization: ApiKey <testKey>" and
// records each request.
func (h *harness) requireKey(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "ApiKey "+testKey {
		return nil, status.Error(codes.Unauthenticated, "missing or invalid API key")
	}
	h.mu.Lock()
	h.last[info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]] = proto.Clone(req.(proto.Message))
	h.mu.Unlock()
	return handler(ctx, req)
}

func (h *harness) lastRequest(method string) proto.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last[method]
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI with the harness's credentials file and no environment.
func (h *harness) run(args ...string) result {
	return h.runEnv(nil, append(args, "--credentials", h.creds)...)
}

// runEnv runs the CLI with exactly args and the given environment.
func (h *harness) runEnv(env map[string]string, args ...string) result {
	h.t.Helper()
	var out, errOut bytes.Buffer
	code := Run(h.t.Context(), args, strings.NewReader(""), &out, &errOut, func(k string) string { return env[k] })
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// ok runs a command that must succeed and returns its stdout.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 || r.stderr != "" {
		h.t.Fatalf("gatehouse %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// okJSON runs a command with -o json and decodes its output.
func (h *harness) okJSON(args ...string) map[string]any {
	h.t.Helper()
	out := h.ok(append(args, "-o", "json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		h.t.Fatalf("gatehouse %s -o json: not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok || s == "" {
		t.Fatalf("field %q missing or not a string in %v", key, m)
	}
	return s
}

// kvValue returns the value of the "key: value" line of text output, or ""
// when there is none.
func kvValue(out, key string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// assertFailed checks a failure: the exit code, one line on stderr
// starting with "gatehouse: " and containing each of want, nothing on
// stdout, and no Go or gRPC internals.
func assertFailed(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout on failure: %q", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") || !strings.HasPrefix(r.stderr, "gatehouse: ") {
		t.Errorf("stderr %q: want one line starting with 'gatehouse: '", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not contain %q", r.stderr, w)
		}
	}
	for _, bad := range []string{"rpc error", "code = ", "*status", "goroutine", testKey} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr %q contains %q", r.stderr, bad)
		}
	}
}

func TestScopes(t *testing.T) {
	h := newHarness(t)

	steps := []struct {
		name    string
		args    []string
		wantOut []string
		notOut  []string
	}{
		{"create, flag after name", []string{"scopes", "create", "invoices:read", "--description", "Read invoices"}, []string{"Created scope invoices:read.", "Read invoices"}, nil},
		{"create, flag before name", []string{"scopes", "create", "--description=Pay invoices", "invoices:pay"}, []string{"invoices:pay", "Pay invoices"}, nil},
		{"list", []string{"scopes", "list"}, []string{"NAME", "DESCRIPTION", "invoices:read", "Read invoices", "invoices:pay", "gatehouse:admin", "orders:read"}, nil},
		{"delete", []string{"scopes", "delete", "invoices:pay"}, []string{"Deleted scope invoices:pay."}, nil},
		{"list after delete", []string{"scopes", "list"}, []string{"invoices:read"}, []string{"invoices:pay"}},
	}
	for _, st := range steps {
		out := h.ok(st.args...)
		for _, w := range st.wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", st.name, w, out)
			}
		}
		for _, w := range st.notOut {
			if strings.Contains(out, w) {
				t.Errorf("%s: output has %q:\n%s", st.name, w, out)
			}
		}
	}

	if r := h.runEnv(nil, "scopes", "create", "--credentials", h.creds, "--", "reports:read"); r.code != 0 || !strings.Contains(r.stdout, "Created scope reports:read.") {
		t.Errorf("scopes create -- NAME: %+v", r)
	}

	created := h.okJSON("scopes", "create", "billing:admin", "--description", "Billing")
	if str(t, created, "name") != "billing:admin" || str(t, created, "description") != "Billing" || created["create_time"] == nil {
		t.Errorf("scopes create -o json: %v", created)
	}
	list := h.okJSON("scopes", "list")
	byName := map[string]map[string]any{}
	for _, s := range list["scopes"].([]any) {
		m := s.(map[string]any)
		byName[m["name"].(string)] = m
	}
	if byName["gatehouse:admin"]["system"] != true || byName["billing:admin"]["description"] != "Billing" || byName["invoices:pay"] != nil {
		t.Errorf("scopes list -o json: %v", list)
	}
	if del := h.okJSON("scopes", "delete", "billing:admin"); len(del) != 0 {
		t.Errorf("scopes delete -o json: %v, want {}", del)
	}

	failures := []struct {
		name string
		args []string
		want []string
	}{
		{"duplicate", []string{"scopes", "create", "invoices:read"}, []string{"create scope invoices:read", "already exists"}},
		{"reserved prefix", []string{"scopes", "create", "gatehouse:root"}, []string{"scope.name", "reserved"}},
		{"system scope", []string{"scopes", "delete", "gatehouse:admin"}, []string{"system scope"}},
		{"unknown scope", []string{"scopes", "delete", "nope:none"}, []string{"not found"}},
		{"missing name", []string{"scopes", "create"}, []string{"missing NAME"}},
		{"extra argument", []string{"scopes", "delete", "a", "b"}, []string{`unexpected argument "b"`}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) { assertFailed(t, h.run(f.args...), 1, f.want...) })
	}
}

func TestClients(t *testing.T) {
	h := newHarness(t)

	// Text create: the secret is shown once, with a warning.
	out := h.ok("clients", "create", "--name", "Partner", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read,gatehouse:admin", "--rate-limit-tier", "high")
	var textSecret, textID string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "client_secret:"); ok {
			textSecret = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "client_id:"); ok {
			textID = strings.TrimSpace(v)
		}
	}
	if len(textSecret) < 43 || textID == "" || !strings.Contains(out, "will not be shown again") || !strings.Contains(out, "rate_limit_tier:") {
		t.Fatalf("clients create (text):\n%s", out)
	}

	// JSON create: client_id and client_secret at the top level.
	created := h.okJSON("clients", "create", "--name", "Web app", "--type", "first_party",
		"--grant-types", "authorization_code,refresh_token", "--scopes", "orders:read",
		"--redirect-uris", "https://app.example/cb,http://127.0.0.1:8000/cb", "--access-token-lifetime", "15m",
		"--resources", "https://api.example/orders,http://127.0.0.1:9000/")
	id, secret := str(t, created, "client_id"), str(t, created, "client_secret")
	if len(secret) < 43 || created["client"] != nil || created["name"] != "Web app" || created["type"] != "first_party" ||
		created["access_token_lifetime"] != "15m" || !slices.Equal(strs(created["redirect_uris"]), []string{"https://app.example/cb", "http://127.0.0.1:8000/cb"}) ||
		!slices.Equal(strs(created["resources"]), []string{"https://api.example/orders", "http://127.0.0.1:9000/"}) ||
		created["refresh_token_delivery"] != "body" {
		t.Fatalf("clients create -o json: %v", created)
	}
	if _, err := h.reg.VerifyClientSecret(t.Context(), &clientsv1.VerifyClientSecretRequest{ClientId: id, ClientSecret: secret}); err != nil {
		t.Fatalf("secret from clients create does not verify: %v", err)
	}

	// A public client has no secret; a browser SPA gets its refresh tokens
	// as a cookie.
	public := h.okJSON("clients", "create", "--name", "SPA", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", "https://spa.example/cb",
		"--refresh-token-delivery", "cookie")
	if public["client_secret"] != nil || public["public"] != true || public["token_endpoint_auth_method"] != "none" ||
		public["refresh_token_delivery"] != "cookie" {
		t.Fatalf("public client: %v", public)
	}
	if req := h.lastRequest("CreateClient").(*clientsv1.CreateClientRequest); req.GetClient().GetRefreshTokenDelivery() != clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_COOKIE {
		t.Fatalf("create --refresh-token-delivery cookie sent %v", req.GetClient().GetRefreshTokenDelivery())
	}
	if g := h.ok("clients", "get", str(t, public, "client_id")); kvValue(g, "refresh_token_delivery") != "cookie" {
		t.Fatalf("clients get of the SPA:\n%s", g)
	}

	// get, text and JSON; no secret ever.
	got := h.ok("clients", "get", id)
	if !strings.Contains(got, "Web app") || !strings.Contains(got, "15m") || !strings.Contains(got, "https://api.example/orders") || strings.Contains(got, secret) || strings.Contains(got, "client_secret:") ||
		kvValue(got, "refresh_token_delivery") != "body" {
		t.Fatalf("clients get:\n%s", got)
	}
	if g := h.okJSON("clients", "get", id); g["client_id"] != id || g["name"] != "Web app" || g["refresh_token_delivery"] != "body" {
		t.Fatalf("clients get -o json: %v", g)
	}
	if g := h.ok("clients", "get", textID); kvValue(g, "refresh_token_delivery") != "-" {
		t.Fatalf("clients get of a client without refresh_token:\n%s", g)
	}

	// list: pages of one, following the token, and --all.
	var ids []string
	token := ""
	for range 5 {
		args := []string{"clients", "list", "--page-size", "1"}
		if token != "" {
			args = append(args, "--page-token", token)
		}
		page := h.okJSON(args...)
		items := page["clients"].([]any)
		if len(items) != 1 {
			t.Fatalf("page of %d clients, want 1: %v", len(items), page)
		}
		ids = append(ids, items[0].(map[string]any)["client_id"].(string))
		token, _ = page["next_page_token"].(string)
		if token == "" {
			break
		}
	}
	if !slices.Equal(ids, []string{textID, id, str(t, public, "client_id")}) {
		t.Fatalf("paged list: %v", ids)
	}
	all := h.okJSON("clients", "list", "--all", "--page-size", "2")
	if n := len(all["clients"].([]any)); n != 3 || all["next_page_token"] != nil {
		t.Fatalf("clients list --all: %d clients, %v", n, all["next_page_token"])
	}
	text := h.ok("clients", "list", "--page-size", "2")
	if !strings.Contains(text, "CLIENT_ID") || !strings.Contains(text, "Partner") || strings.Contains(text, "SPA") || !strings.Contains(text, "--page-token ") {
		t.Fatalf("clients list (text):\n%s", text)
	}
	for _, o := range []string{text, h.ok("clients", "list", "-o", "json")} {
		if strings.Contains(o, secret) || strings.Contains(o, textSecret) {
			t.Fatal("clients list shows a secret")
		}
	}

	// update: only the given fields go into the mask and change.
	upd := h.okJSON("clients", "update", id, "--name", "Web app 2", "--disabled=true")
	mask := h.lastRequest("UpdateClient").(*clientsv1.UpdateClientRequest).GetUpdateMask().GetPaths()
	if !slices.Equal(mask, []string{"name", "disabled"}) {
		t.Fatalf("update_mask %v, want [name disabled]", mask)
	}
	if upd["name"] != "Web app 2" || upd["disabled"] != true || !slices.Equal(strs(upd["scopes"]), []string{"orders:read"}) ||
		upd["access_token_lifetime"] != "15m" || len(strs(upd["redirect_uris"])) != 2 || len(strs(upd["resources"])) != 2 {
		t.Fatalf("clients update: %v", upd)
	}
	updText := h.ok("clients", "update", "--scopes", "orders:read,orders:write", id, "--disabled=false")
	mask = h.lastRequest("UpdateClient").(*clientsv1.UpdateClientRequest).GetUpdateMask().GetPaths()
	if !slices.Equal(mask, []string{"scopes", "disabled"}) || !strings.Contains(updText, "Updated client "+id) {
		t.Fatalf("update_mask %v; output:\n%s", mask, updText)
	}
	if g := h.okJSON("clients", "get", id); g["name"] != "Web app 2" || g["disabled"] != false ||
		!slices.Equal(strs(g["scopes"]), []string{"orders:read", "orders:write"}) {
		t.Fatalf("after updates: %v", g)
	}
	upd = h.okJSON("clients", "update", id, "--resources", "https://api.example/billing")
	mask = h.lastRequest("UpdateClient").(*clientsv1.UpdateClientRequest).GetUpdateMask().GetPaths()
	if !slices.Equal(mask, []string{"resources"}) || !slices.Equal(strs(upd["resources"]), []string{"https://api.example/billing"}) ||
		!slices.Equal(strs(upd["scopes"]), []string{"orders:read", "orders:write"}) {
		t.Fatalf("update --resources: mask %v, client %v", mask, upd)
	}
	upd = h.okJSON("clients", "update", id, "--resources", "")
	if upd["resources"] == nil || len(strs(upd["resources"])) != 0 {
		t.Fatalf("update --resources '' did not clear them: %v", upd)
	}
	assertFailed(t, h.run("clients", "update", id, "--resources", "https://api.example/#frag"), 1, "resources", "fragment")

	// --refresh-token-delivery: the mask names it; '' goes back to the
	// default; cookie is only for public first-party clients.
	spaID := str(t, public, "client_id")
	upd = h.okJSON("clients", "update", spaID, "--refresh-token-delivery", "body")
	mask = h.lastRequest("UpdateClient").(*clientsv1.UpdateClientRequest).GetUpdateMask().GetPaths()
	if !slices.Equal(mask, []string{"refresh_token_delivery"}) || upd["refresh_token_delivery"] != "body" {
		t.Fatalf("update --refresh-token-delivery body: mask %v, client %v", mask, upd)
	}
	updText = h.ok("clients", "update", spaID, "--refresh-token-delivery", "cookie")
	if kvValue(updText, "refresh_token_delivery") != "cookie" || !strings.Contains(updText, "(refresh_token_delivery)") {
		t.Fatalf("update --refresh-token-delivery cookie:\n%s", updText)
	}
	upd = h.okJSON("clients", "update", spaID, "--refresh-token-delivery", "", "--name", "SPA 2")
	mask = h.lastRequest("UpdateClient").(*clientsv1.UpdateClientRequest).GetUpdateMask().GetPaths()
	if !slices.Equal(mask, []string{"name", "refresh_token_delivery"}) || upd["refresh_token_delivery"] != "body" {
		t.Fatalf("update --refresh-token-delivery '': mask %v, client %v", mask, upd)
	}
	assertFailed(t, h.run("clients", "update", id, "--refresh-token-delivery", "cookie"), 1, "refresh_token_delivery", "public clients")
	if g := h.okJSON("clients", "get", id); g["refresh_token_delivery"] != "body" {
		t.Fatalf("a refused update changed the delivery: %v", g)
	}

	// The certificate binding: one --tls-* flag changes one field.
	mtls := h.okJSON("clients", "create", "--name", "Service", "--type", "first_party", "--grant-types", "client_credentials",
		"--auth-method", "tls_client_auth", "--tls-san-dns", "svc.example")
	if mtls["client_secret"] != nil || mtls["tls_client_auth"].(map[string]any)["san_dns"] != "svc.example" {
		t.Fatalf("mTLS client: %v", mtls)
	}
	bound := h.okJSON("clients", "update", str(t, mtls, "client_id"), "--bound-access-tokens")
	if tls := bound["tls_client_auth"].(map[string]any); tls["san_dns"] != "svc.example" || tls["bound_access_tokens"] != true {
		t.Fatalf("update --bound-access-tokens: %v", bound)
	}

	// rotate-secret with no grace: the old secret stops at once.
	rot := h.okJSON("clients", "rotate-secret", id, "--grace", "0")
	newSecret := str(t, rot, "client_secret")
	exp, err := time.Parse(time.RFC3339Nano, str(t, rot, "previous_secret_expire_time"))
	if newSecret == secret || rot["client_id"] != id || err != nil || time.Since(exp).Abs() > time.Minute {
		t.Fatalf("rotate-secret: %v (%v)", rot, err)
	}
	req := h.lastRequest("RotateClientSecret").(*clientsv1.RotateClientSecretRequest)
	if req.GetGracePeriod() == nil || req.GetGracePeriod().AsDuration() != 0 {
		t.Fatalf("grace_period sent: %v, want 0s", req.GetGracePeriod())
	}
	h.ok("clients", "update", id, "--disabled=false") // VerifyClientSecret refuses disabled clients
	if _, err := h.reg.VerifyClientSecret(t.Context(), &clientsv1.VerifyClientSecretRequest{ClientId: id, ClientSecret: secret}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("old secret after rotation with no grace: %v", err)
	}
	if _, err := h.reg.VerifyClientSecret(t.Context(), &clientsv1.VerifyClientSecretRequest{ClientId: id, ClientSecret: newSecret}); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	rotText := h.ok("clients", "rotate-secret", id, "--grace", "1d")
	if !strings.Contains(rotText, "client_secret:") || !strings.Contains(rotText, "will not be shown again") {
		t.Fatalf("rotate-secret (text):\n%s", rotText)
	}
	if g := h.lastRequest("RotateClientSecret").(*clientsv1.RotateClientSecretRequest).GetGracePeriod().AsDuration(); g != 24*time.Hour {
		t.Fatalf("--grace 1d sent %v", g)
	}
	h.ok("clients", "rotate-secret", id)
	if h.lastRequest("RotateClientSecret").(*clientsv1.RotateClientSecretRequest).GetGracePeriod() != nil {
		t.Fatal("rotate-secret without --grace sent a grace period")
	}

	// delete, then the client is gone.
	if del := h.ok("clients", "delete", id); !strings.Contains(del, "Deleted client "+id) {
		t.Fatalf("clients delete: %q", del)
	}
	assertFailed(t, h.run("clients", "get", id), 1, "client "+id, "not found")
}

func TestAPIKeys(t *testing.T) {
	h := newHarness(t)
	c := h.okJSON("clients", "create", "--name", "Partner", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read,orders:write")
	client := str(t, c, "client_id")

	created := h.okJSON("apikeys", "create", "--client", client, "--scopes", "orders:read", "--ttl", "90d", "--description", "reporting")
	raw, keyID := str(t, created, "api_key"), str(t, created, "key_id")
	exp, err := time.Parse(time.RFC3339Nano, str(t, created, "expire_time"))
	if err != nil || exp.Sub(time.Now().Add(90*24*time.Hour)).Abs() > time.Minute {
		t.Fatalf("expire_time %v (%v), want now+90d", created["expire_time"], err)
	}
	if !strings.HasPrefix(raw, "gth_"+keyID+"_") || created["client_id"] != client || created["key"] != nil ||
		!slices.Equal(strs(created["scopes"]), []string{"orders:read"}) || created["description"] != "reporting" {
		t.Fatalf("apikeys create -o json: %v", created)
	}
	verify := func(key string) clientsv1.APIKeyFailure {
		t.Helper()
		resp, err := h.reg.VerifyAPIKey(t.Context(), &clientsv1.VerifyAPIKeyRequest{ApiKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetFailure()
	}
	if f := verify(raw); f != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED {
		t.Fatalf("created key refused: %v", f)
	}

	text := h.ok("apikeys", "create", "--client", client, "--scopes", "orders:read,orders:write")
	if !strings.Contains(text, "api_key:") || !strings.Contains(text, "gth_") || !strings.Contains(text, "will not be shown again") || !strings.Contains(text, "expire_time: ") {
		t.Fatalf("apikeys create (text):\n%s", text)
	}

	// list never shows a secret.
	for _, format := range []string{"text", "json"} {
		out := h.ok("apikeys", "list", "--client", client, "-o", format)
		if !strings.Contains(out, keyID) || strings.Contains(out, raw) || strings.Contains(out, "api_key") {
			t.Fatalf("apikeys list -o %s:\n%s", format, out)
		}
	}
	list := h.okJSON("apikeys", "list", "--client", client)
	if n := len(list["keys"].([]any)); n != 2 {
		t.Fatalf("apikeys list: %d keys, want 2", n)
	}

	// rotate with no grace: the old key stops, the new one works.
	rot := h.okJSON("apikeys", "rotate", "--client", client, "--key", keyID, "--grace", "0s")
	newRaw, newID := str(t, rot, "api_key"), str(t, rot, "key_id")
	if newID == keyID || newRaw == raw || rot["previous_key_expire_time"] == nil || rot["key"] != nil {
		t.Fatalf("apikeys rotate: %v", rot)
	}
	if newExp, err := time.Parse(time.RFC3339Nano, str(t, rot, "expire_time")); err != nil || newExp.Sub(time.Now().Add(90*24*time.Hour)).Abs() > time.Minute {
		t.Fatalf("rotated key expire_time %v (%v)", rot["expire_time"], err)
	}
	if verify(raw) == clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED || verify(newRaw) != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED {
		t.Fatal("rotation with no grace: old key still works or new key does not")
	}
	listText := h.ok("apikeys", "list", "--client", client)
	if !strings.Contains(listText, "rotated") && !strings.Contains(listText, "expired") {
		t.Fatalf("apikeys list after rotation:\n%s", listText)
	}

	// revoke: the key stops at once.
	rev := h.okJSON("apikeys", "revoke", "--client", client, "--key", newID)
	if rev["revoked"] != true || rev["key_id"] != newID || rev["revoke_time"] == nil {
		t.Fatalf("apikeys revoke: %v", rev)
	}
	if f := verify(newRaw); f != clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED {
		t.Fatalf("revoked key: %v", f)
	}
	if out := h.ok("apikeys", "revoke", "--key", newID, "--client", client); !strings.Contains(out, "Revoked API key "+newID) || !strings.Contains(out, "revoked") {
		t.Fatalf("apikeys revoke (text):\n%s", out)
	}

	failures := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"scope not allowed", []string{"apikeys", "create", "--client", client, "--scopes", "gatehouse:admin"}, 1, []string{"scopes", "not allowed"}},
		{"unknown client", []string{"apikeys", "list", "--client", "c_nope"}, 1, []string{"c_nope", "not found"}},
		{"unknown key", []string{"apikeys", "revoke", "--client", client, "--key", "nope"}, 1, []string{"revoke API key nope", "not found"}},
		{"missing --client", []string{"apikeys", "list"}, 1, []string{"--client is required"}},
		{"missing --key", []string{"apikeys", "rotate", "--client", client}, 1, []string{"--key is required"}},
		{"missing --scopes", []string{"apikeys", "create", "--client", client}, 1, []string{"--scopes is required"}},
		{"ttl too long", []string{"apikeys", "create", "--client", client, "--scopes", "orders:read", "--ttl", "1000d"}, 1, []string{"ttl"}},
		{"bad ttl", []string{"apikeys", "create", "--client", client, "--scopes", "orders:read", "--ttl", "90days"}, 2, []string{"-ttl", "invalid duration"}},
		{"negative grace", []string{"apikeys", "rotate", "--client", client, "--key", keyID, "--grace", "-1h"}, 2, []string{"-grace", "negative"}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) { assertFailed(t, h.run(f.args...), f.code, f.want...) })
	}
}

func TestErrors(t *testing.T) {
	h := newHarness(t)
	noKey := writeCreds(t, map[string]string{"grpc_addr": h.addr})
	wrongKey := writeCreds(t, map[string]string{"api_key": "gth_wrong", "grpc_addr": h.addr})
	missing := filepath.Join(t.TempDir(), "absent.json")
	notJSON := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(notJSON, []byte(`{"api_key": "gth_secretpart`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvAPIKey: testKey}
	silent := silentServer(t)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{"unknown client", nil, []string{"clients", "get", "c_unknown", "--credentials", h.creds}, 1, []string{"client c_unknown: not found"}},
		{"invalid grant type", nil, []string{"clients", "create", "--name", "x", "--type", "third_party", "--grant-types", "password", "--credentials", h.creds}, 1, []string{"grant_types", "password"}},
		{"unknown scope on create", nil, []string{"clients", "create", "--name", "x", "--type", "third_party", "--grant-types", "client_credentials", "--scopes", "nope:x", "--credentials", h.creds}, 1, []string{"scopes", "nope:x"}},
		{"bad page size", nil, []string{"clients", "list", "--page-size", "1000", "--credentials", h.creds}, 1, []string{"page_size"}},
		{"missing --type", nil, []string{"clients", "create", "--name", "x", "--grant-types", "client_credentials", "--credentials", h.creds}, 1, []string{"--type is required"}},
		{"bad --type", nil, []string{"clients", "create", "--type", "partner", "--credentials", h.creds}, 2, []string{"-type", "first_party, third_party or service"}},
		{"bad tier", nil, []string{"clients", "update", "c_x", "--rate-limit-tier", "huge", "--credentials", h.creds}, 2, []string{"rate-limit-tier"}},
		{"bad delivery", nil, []string{"clients", "create", "--refresh-token-delivery", "header", "--credentials", h.creds}, 2, []string{"-refresh-token-delivery", "body or cookie"}},
		{"cookie delivery on a third-party client", nil, []string{"clients", "create", "--name", "x", "--type", "third_party", "--public", "--grant-types", "authorization_code,refresh_token", "--redirect-uris", "https://x.example/cb", "--refresh-token-delivery", "cookie", "--credentials", h.creds}, 1, []string{"refresh_token_delivery", "first-party"}},
		{"update without fields", nil, []string{"clients", "update", "c_x", "--credentials", h.creds}, 1, []string{"nothing to change", "--name"}},
		{"update unknown client", nil, []string{"clients", "update", "c_x", "--name", "y", "--credentials", h.creds}, 1, []string{"update client c_x", "not found"}},
		{"rotate unknown client", nil, []string{"clients", "rotate-secret", "c_x", "--grace", "1d12h", "--credentials", h.creds}, 1, []string{"not found"}},
		{"bad duration", nil, []string{"clients", "rotate-secret", "c_x", "--grace", "soon", "--credentials", h.creds}, 2, []string{"-grace", "invalid duration"}},
		{"bad timeout", nil, []string{"scopes", "list", "--timeout", "0s", "--credentials", h.creds}, 2, []string{"-timeout"}},
		{"bad output", nil, []string{"scopes", "list", "-o", "yaml", "--credentials", h.creds}, 2, []string{"text or json"}},
		{"unknown flag", nil, []string{"scopes", "list", "--verbose", "--credentials", h.creds}, 2, []string{"verbose"}},
		{"unknown group", nil, []string{"tokens", "list"}, 1, []string{`unknown command "tokens"`}},
		{"unknown command", nil, []string{"clients", "show", "x"}, 1, []string{`unknown command "show"`, "rotate-secret"}},
		{"missing command", nil, []string{"apikeys"}, 1, []string{"missing command"}},
		{"missing API key", nil, []string{"scopes", "list", "--credentials", noKey}, 1, []string{"no API key", EnvAPIKey}},
		{"missing credentials file", nil, []string{"scopes", "list", "--credentials", missing}, 1, []string{"no API key", EnvAPIKey, missing}},
		{"key but no server", env, []string{"scopes", "list", "--credentials", missing}, 1, []string{"--server"}},
		{"credentials not JSON", nil, []string{"scopes", "list", "--credentials", notJSON}, 1, []string{"not valid JSON"}},
		{"wrong key in file", nil, []string{"scopes", "list", "--credentials", wrongKey}, 1, []string{"refused the API key", "missing or invalid API key", "api_key in " + wrongKey}},
		{"wrong key in env", map[string]string{EnvAPIKey: "gth_wrong"}, []string{"scopes", "list", "--credentials", h.creds}, 1, []string{"refused the API key", "check $" + EnvAPIKey}},
		{"server silent", env, []string{"scopes", "list", "--server", silent, "--timeout", "300ms", "--credentials", missing}, 1, []string{"no answer from " + silent + " within 300ms"}},
		{"server down", env, []string{"scopes", "list", "--server", "127.0.0.1:1", "--credentials", missing}, 1, []string{"cannot reach", "127.0.0.1:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.runEnv(tc.env, tc.args...)
			assertFailed(t, r, tc.code, tc.want...)
			if strings.Contains(r.stderr, "gth_secretpart") {
				t.Error("stderr quotes the credentials file")
			}
		})
	}

	successes := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"env key overrides the file", env, []string{"scopes", "list", "--credentials", wrongKey}},
		{"env key, no key in file", env, []string{"scopes", "list", "--credentials", noKey}},
		{"env key and --server, no file", env, []string{"scopes", "list", "--server", h.addr, "--credentials", missing}},
		{"--server with the file's key", nil, []string{"scopes", "list", "--server", h.addr, "--credentials", h.creds}},
	}
	for _, tc := range successes {
		t.Run(tc.name, func(t *testing.T) {
			r := h.runEnv(tc.env, tc.args...)
			if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "orders:read") {
				t.Fatalf("exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
			}
		})
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return lis.Addr().String()
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"gatehouse scopes create NAME", "gatehouse clients rotate-secret ID", "gatehouse apikeys revoke --client ID --key KEY_ID", EnvAPIKey}},
		{[]string{"-h"}, []string{"gatehouse clients list"}},
		{[]string{"help", "clients"}, []string{"create", "get", "list", "update", "delete", "rotate-secret"}},
		{[]string{"clients", "-h"}, []string{"create", "rotate-secret", "--credentials"}},
		{[]string{"scopes", "help"}, []string{"create", "list", "delete"}},
		{[]string{"apikeys", "--help"}, []string{"create", "list", "rotate", "revoke"}},
		{[]string{"clients", "create", "-h"}, []string{"-tls-subject-dn", "-grant-types", "-access-token-lifetime", "-refresh-token-delivery", "-server", "-timeout"}},
		{[]string{"apikeys", "create", "--help"}, []string{"-ttl", "-client"}},
		{[]string{"help", "clients", "update"}, []string{"-disabled", "-tls-clear", "-refresh-token-delivery"}},
		{[]string{"revoke", "-h"}, []string{"access-token", "refresh-family", "api-key", "client", "subject", "certificate", "signing-key"}},
		{[]string{"revoke", "client", "-h"}, []string{"CLIENT_ID", "-reason", "-expires-in"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(t.Context(), tc.args, strings.NewReader(""), &out, &errOut, func(string) string { return "" })
			if code != 0 || errOut.Len() != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("usage lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
