package token_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/services/token"
)

// TestMetadata is checklist items 75 and 76: the RFC 8414 document at both
// well-known URLs, byte for byte the same, with the issuer exactly as
// configured and only what is implemented.
func TestMetadata(t *testing.T) {
	for _, tc := range []struct {
		name       string
		issuerPath string
	}{
		{"issuer without a path", ""},
		{"issuer with a path (RFC 8414 §3 path insertion)", "/tenants/acme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withIssuerPath(tc.issuerPath))
			// The endpoints live under the issuer.
			rs := e.tokenFor(nil, e.partner, "")
			if rs.status != http.StatusOK {
				t.Fatalf("token endpoint under %s: %d %s", e.issuer, rs.status, rs.body)
			}
			host := strings.TrimSuffix(e.issuer, tc.issuerPath)
			get := func(path string) response {
				return e.do(nil, request{method: http.MethodGet, ctype: "-", rawURL: host + path})
			}
			oauth := get("/.well-known/oauth-authorization-server" + tc.issuerPath)
			oidc := get(tc.issuerPath + "/.well-known/openid-configuration")
			for _, r := range []response{oauth, oidc} {
				if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" ||
					r.header.Get("Cache-Control") != "public, max-age=3600" {
					t.Fatalf("%d %v %s", r.status, r.header, r.body)
				}
			}
			if !bytes.Equal(oauth.body, oidc.body) || !bytes.Equal(oauth.body, e.svc.Metadata()) {
				t.Fatal("the two well-known documents differ")
			}
			// 75: issuer byte-identical, in the raw bytes too.
			if !bytes.Contains(oauth.body, []byte(`"issuer":"`+e.issuer+`"`)) {
				t.Errorf("issuer not byte-identical to %s: %s", e.issuer, oauth.body)
			}
			var m map[string]any
			if err := json.Unmarshal(oauth.body, &m); err != nil {
				t.Fatal(err)
			}
			list := func(k string) []string {
				var out []string
				for _, v := range m[k].([]any) {
					out = append(out, v.(string))
				}
				return out
			}
			want := map[string]any{
				"issuer":                 e.issuer,
				"token_endpoint":         e.issuer + "/oauth2/token",
				"introspection_endpoint": e.issuer + "/oauth2/introspect",
				"jwks_uri":               e.issuer + "/.well-known/jwks.json",
				"revocation_endpoint":    e.issuer + "/oauth2/revoke",
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			// 76.
			for k, v := range map[string][]string{
				"code_challenge_methods_supported":              {"S256"},
				"grant_types_supported":                         {"client_credentials"},
				"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post"},
				"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
				"revocation_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post"},
				"scopes_supported":                              {"orders:read", "orders:write"},
				// REQUIRED by RFC 8414, but no authorization endpoint yet:
				// nothing is listed until ["code"] can be honoured.
				"response_types_supported": {},
			} {
				if got := list(k); !slices.Equal(got, v) && (len(got) != 0 || len(v) != 0) {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, g := range list("grant_types_supported") {
				if g == "password" || g == "implicit" {
					t.Errorf("grant_types_supported lists %s", g)
				}
			}
			// Every listed auth method is accepted (and Basic/body are all
			// there is, as the refusal tests show).
			po := e.poster
			if r := e.do(nil, request{path: "/oauth2/token", body: "grant_type=client_credentials&client_id=" + po.id + "&client_secret=" + po.secret}); r.status != http.StatusOK {
				t.Errorf("client_secret_post listed but refused: %d", r.status)
			}
			if r := e.do(nil, request{rawURL: host + "/.well-known/oauth-authorization-server" + tc.issuerPath, body: "x=1"}); r.status != http.StatusMethodNotAllowed {
				t.Errorf("POST to the metadata: %d, want 405", r.status)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	signer := fixedSigner{}
	tests := []struct {
		name   string
		issuer string
		aud    string
		ok     bool
	}{
		{"https issuer", "https://auth.example", "https://api.example", true},
		{"https issuer with a path", "https://auth.example/t/acme", "https://api.example", true},
		{"loopback http", "http://127.0.0.1:8080", "https://api.example", true},
		{"localhost http", "http://localhost:8080", "https://api.example", true},
		{"http elsewhere", "http://auth.example", "https://api.example", false},
		{"query", "https://auth.example?x=1", "https://api.example", false},
		{"empty query", "https://auth.example?", "https://api.example", false},
		{"fragment", "https://auth.example#x", "https://api.example", false},
		{"trailing slash", "https://auth.example/", "https://api.example", false},
		{"relative", "/auth", "https://api.example", false},
		{"userinfo", "https://u@auth.example", "https://api.example", false},
		{"pattern characters in the path", "https://auth.example/{x}", "https://api.example", false},
		{"no default audience", "https://auth.example", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := token.New(token.Config{Issuer: tc.issuer, DefaultAudience: tc.aud}, &countingClients{}, signer, &jwxVerifier{})
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
	if _, err := token.New(token.Config{Issuer: "https://a.example", DefaultAudience: "x"}, nil, signer, &jwxVerifier{}); err == nil {
		t.Error("nil Clients accepted")
	}
}
