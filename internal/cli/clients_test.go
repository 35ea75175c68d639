package cli

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
)

// TestClientsOpenID covers the OpenID Connect flags of clients create and
// update: what they send, what the printout shows, and that update puts
// only the given ones in the mask.
func TestClientsOpenID(t *testing.T) {
	h := newHarness(t)

	// A native app: a private-use scheme redirect, post-logout redirects
	// from both spellings of the flag (comma-separated and repeated), a
	// back-channel logout URI with a query.
	created := h.okJSON("clients", "create", "--name", "Mobile", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", "com.example.app:/oauth2redirect",
		"--post-logout-redirect-uris", "com.example.app:/logged-out,https://app.example/bye",
		"--post-logout-redirect-uri", "https://app.example/bye2",
		"--backchannel-logout-uri", "https://app.example/backchannel?tenant=a",
		"--backchannel-logout-session-required", "--id-token-lifetime", "10m")
	id := str(t, created, "client_id")
	wantPostLogout := []string{"com.example.app:/logged-out", "https://app.example/bye", "https://app.example/bye2"}
	if !slices.Equal(strs(created["post_logout_redirect_uris"]), wantPostLogout) ||
		created["backchannel_logout_uri"] != "https://app.example/backchannel?tenant=a" ||
		created["backchannel_logout_session_required"] != true || created["id_token_lifetime"] != "10m" ||
		!slices.Equal(strs(created["redirect_uris"]), []string{"com.example.app:/oauth2redirect"}) ||
		created["refresh_token_delivery"] != "body" {
		t.Fatalf("clients create -o json: %v", created)
	}
	sent := h.lastRequest("CreateClient").(*clientsv1.CreateClientRequest).GetClient()
	if !slices.Equal(sent.GetPostLogoutRedirectUris(), wantPostLogout) || sent.GetIdTokenLifetime().AsDuration() != 10*time.Minute ||
		!sent.GetBackchannelLogoutSessionRequired() {
		t.Fatalf("create sent %v", sent)
	}

	// The printout, each setting on its own line.
	got := h.ok("clients", "get", id)
	for key, want := range map[string]string{
		"post_logout_redirect_uris":           strings.Join(wantPostLogout, ","),
		"backchannel_logout_uri":              "https://app.example/backchannel?tenant=a",
		"backchannel_logout_session_required": "yes",
		"id_token_lifetime":                   "10m",
		"redirect_uris":                       "com.example.app:/oauth2redirect",
	} {
		if v := kvValue(got, key); v != want {
			t.Errorf("clients get: %s = %q, want %q\n%s", key, v, want, got)
		}
	}
	// Each after the row it belongs with.
	var keys []string
	for _, line := range strings.Split(got, "\n") {
		if k, _, ok := strings.Cut(line, ":"); ok {
			keys = append(keys, k)
		}
	}
	for _, pair := range [][2]string{
		{"redirect_uris", "post_logout_redirect_uris"},
		{"access_token_lifetime", "id_token_lifetime"},
		{"id_token_lifetime", "backchannel_logout_uri"},
		{"backchannel_logout_uri", "backchannel_logout_session_required"},
	} {
		if slices.Index(keys, pair[0])+1 != slices.Index(keys, pair[1]) {
			t.Errorf("clients get: %s is not right after %s:\n%s", pair[1], pair[0], got)
		}
	}

	// Without a create flag, nothing is sent: the ID token lifetime is the
	// server's default.
	plain := h.okJSON("clients", "create", "--name", "Web", "--type", "first_party",
		"--grant-types", "authorization_code", "--redirect-uris", "https://web.example/cb")
	if sent := h.lastRequest("CreateClient").(*clientsv1.CreateClientRequest).GetClient(); sent.GetIdTokenLifetime() != nil ||
		sent.GetPostLogoutRedirectUris() != nil || sent.GetBackchannelLogoutUri() != "" || sent.GetBackchannelLogoutSessionRequired() {
		t.Fatalf("create without OpenID Connect flags sent %v", sent)
	}
	plainText := h.ok("clients", "get", str(t, plain, "client_id"))
	for key, want := range map[string]string{
		"post_logout_redirect_uris": "-", "backchannel_logout_uri": "-", "backchannel_logout_session_required": "no", "id_token_lifetime": "default",
	} {
		if v := kvValue(plainText, key); v != want {
			t.Errorf("clients get without settings: %s = %q, want %q\n%s", key, v, want, plainText)
		}
	}

	// update: only the given flags, in the mask's order.
	steps := []struct {
		name  string
		args  []string
		mask  []string
		check func(c map[string]any) bool
	}{
		{"ID token lifetime", []string{"--id-token-lifetime", "1h"}, []string{"id_token_lifetime"},
			func(c map[string]any) bool {
				return c["id_token_lifetime"] == "1h" && len(strs(c["post_logout_redirect_uris"])) == 3
			}},
		{"ID token lifetime back to the default", []string{"--id-token-lifetime", "0"}, []string{"id_token_lifetime"},
			func(c map[string]any) bool { return c["id_token_lifetime"] == nil }},
		{"post-logout URIs, singular flag", []string{"--post-logout-redirect-uri", "https://app.example/only"}, []string{"post_logout_redirect_uris"},
			func(c map[string]any) bool {
				return slices.Equal(strs(c["post_logout_redirect_uris"]), []string{"https://app.example/only"})
			}},
		{"back-channel logout off", []string{"--backchannel-logout-session-required=false", "--backchannel-logout-uri", ""},
			[]string{"backchannel_logout_uri", "backchannel_logout_session_required"},
			func(c map[string]any) bool {
				return c["backchannel_logout_uri"] == "" && c["backchannel_logout_session_required"] == false
			}},
		{"post-logout URIs cleared with a name", []string{"--post-logout-redirect-uris", "", "--name", "Mobile 2"}, []string{"name", "post_logout_redirect_uris"},
			func(c map[string]any) bool {
				return c["post_logout_redirect_uris"] != nil && len(strs(c["post_logout_redirect_uris"])) == 0 && c["name"] == "Mobile 2"
			}},
		{"back-channel logout on", []string{"--backchannel-logout-uri", "http://127.0.0.1:9000/bc"}, []string{"backchannel_logout_uri"},
			func(c map[string]any) bool {
				return c["backchannel_logout_uri"] == "http://127.0.0.1:9000/bc" && c["backchannel_logout_session_required"] == false
			}},
	}
	for _, st := range steps {
		upd := h.okJSON(append([]string{"clients", "update", id}, st.args...)...)
		mask := h.lastRequest("UpdateClient").(*clientsv1.UpdateClientRequest).GetUpdateMask().GetPaths()
		if !slices.Equal(mask, st.mask) {
			t.Fatalf("%s: update_mask %v, want %v", st.name, mask, st.mask)
		}
		if !st.check(upd) {
			t.Fatalf("%s: %v", st.name, upd)
		}
	}
	updText := h.ok("clients", "update", id, "--id-token-lifetime", "90s")
	if !strings.Contains(updText, "(id_token_lifetime)") || kvValue(updText, "id_token_lifetime") != "1m30s" {
		t.Fatalf("clients update (text):\n%s", updText)
	}

	// The server's refusals reach the user; nothing changes.
	before := h.okJSON("clients", "get", id)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"ID token lifetime too short", []string{"clients", "update", id, "--id-token-lifetime", "30s"}, 1, []string{"id_token_lifetime", "between"}},
		{"ID token lifetime not a duration", []string{"clients", "update", id, "--id-token-lifetime", "soon"}, 2, []string{"-id-token-lifetime", "invalid duration"}},
		{"ID token lifetime negative", []string{"clients", "update", id, "--id-token-lifetime", "-5m"}, 2, []string{"-id-token-lifetime", "negative"}},
		{"session required without a URI", []string{"clients", "update", id, "--backchannel-logout-uri", "", "--backchannel-logout-session-required"}, 1, []string{"backchannel_logout_session_required"}},
		{"back-channel URI with a fragment", []string{"clients", "update", id, "--backchannel-logout-uri", "https://app.example/bc#x"}, 1, []string{"backchannel_logout_uri", "fragment"}},
		{"two redirects with one private-use scheme", []string{"clients", "update", id, "--redirect-uris", "com.example.app:/a,com.example.app:/b"}, 1, []string{"redirect_uris", "one per scheme"}},
		{"private-use scheme on a third party", []string{"clients", "create", "--name", "P", "--type", "third_party", "--public",
			"--grant-types", "authorization_code", "--redirect-uris", "com.partner.app:/cb"}, 1, []string{"redirect_uris", "public first-party"}},
		{"OpenID Connect settings on client_credentials", []string{"clients", "create", "--name", "M", "--type", "third_party",
			"--grant-types", "client_credentials", "--backchannel-logout-uri", "https://m.example/bc"}, 1, []string{"backchannel_logout_uri", "authorization_code"}},
	} {
		t.Run(tc.name, func(t *testing.T) { assertFailed(t, h.run(tc.args...), tc.code, tc.want...) })
	}
	if after := h.okJSON("clients", "get", id); after["update_time"] != before["update_time"] {
		t.Fatalf("a refused update changed the client:\n%v\n%v", before, after)
	}
}

func TestClientsOpenIDHelp(t *testing.T) {
	for _, args := range [][]string{{"clients", "create", "-h"}, {"help", "clients", "update"}} {
		var out, errOut bytes.Buffer
		if code := Run(t.Context(), args, strings.NewReader(""), &out, &errOut, func(string) string { return "" }); code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
		for _, w := range []string{"-post-logout-redirect-uris", "-post-logout-redirect-uri ", "-backchannel-logout-uri", "-backchannel-logout-session-required", "-id-token-lifetime", "com.example.app:/"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: usage lacks %q:\n%s", args, w, out.String())
			}
		}
	}
}

// TestClientsCreateService: --type service registers what a resource
// service's validator needs, a confidential client_credentials client
// whose one scope is gatehouse:validator, and refuses anything more.
func TestClientsCreateService(t *testing.T) {
	h := newHarness(t)
	internal, high := clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL, clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH
	for _, tc := range []struct {
		name       string
		args       []string
		wantTier   clientsv1.RateLimitTier
		wantMethod string
	}{
		{"defaults", nil, internal, ""},
		{"the grant and scope it has anyway", []string{"--grant-types", "client_credentials", "--scopes", "gatehouse:validator"}, internal, ""},
		{"a tier and an auth method", []string{"--rate-limit-tier", "high", "--auth-method", "client_secret_post"}, high, "client_secret_post"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := h.okJSON(append([]string{"clients", "create", "--name", "orders", "--type", "service"}, tc.args...)...)
			sent := h.lastRequest("CreateClient").(*clientsv1.CreateClientRequest).GetClient()
			if sent.GetType() != clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY || sent.GetPublic() ||
				!slices.Equal(sent.GetGrantTypes(), []string{"client_credentials"}) || !slices.Equal(sent.GetScopes(), []string{"gatehouse:validator"}) ||
				sent.GetRateLimitTier() != tc.wantTier || sent.GetTokenEndpointAuthMethod() != tc.wantMethod {
				t.Fatalf("create sent %v", sent)
			}
			if created["client_secret"] == nil || str(t, created, "client_id") == "" {
				t.Fatalf("no client secret: %v", created)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"another scope", []string{"--scopes", "orders:read"}, []string{"--type service", "gatehouse:validator alone", "orders:read"}},
		{"one scope more", []string{"--scopes", "gatehouse:validator,gatehouse:admin"}, []string{"gatehouse:validator alone"}},
		{"another grant", []string{"--grant-types", "authorization_code"}, []string{"client_credentials grant alone"}},
		{"public", []string{"--public"}, []string{"--public does not apply to --type service"}},
		{"redirect URIs", []string{"--redirect-uris", "https://orders.example/cb"}, []string{"--redirect-uris does not apply"}},
		{"resources", []string{"--resources", "https://orders.example"}, []string{"--resources does not apply"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertFailed(t, h.run(append([]string{"clients", "create", "--name", "orders", "--type", "service"}, tc.args...)...), 1, tc.want...)
		})
	}
	assertFailed(t, h.run("clients", "create", "--type", "service"), 1, "--name is required")
	assertFailed(t, h.run("clients", "create", "--name", "x", "--type", "services"), 2, "first_party, third_party or service")
}

// clientJSONFlags maps each field of `clients get -o json` to the
// `clients update` flag that sets it; clientJSONReadOnly are the fields no
// update changes.
var (
	clientJSONFlags = map[string]string{
		"name":                                    "name",
		"grant_types":                             "grant-types",
		"redirect_uris":                           "redirect-uris",
		"resources":                               "resources",
		"scopes":                                  "scopes",
		"token_endpoint_auth_method":              "auth-method",
		"access_token_lifetime":                   "access-token-lifetime",
		"rate_limit_tier":                         "rate-limit-tier",
		"require_consent":                         "require-consent",
		"disabled":                                "disabled",
		"refresh_token_delivery":                  "refresh-token-delivery",
		"post_logout_redirect_uris":               "post-logout-redirect-uris",
		"backchannel_logout_uri":                  "backchannel-logout-uri",
		"backchannel_logout_session_required":     "backchannel-logout-session-required",
		"id_token_lifetime":                       "id-token-lifetime",
		"dpop_bound_access_tokens":                "dpop-bound-access-tokens",
		"require_pushed_authorization_requests":   "require-pushed-authorization-requests",
		"tls_client_auth.subject_dn":              "tls-subject-dn",
		"tls_client_auth.san_dns":                 "tls-san-dns",
		"tls_client_auth.san_uri":                 "tls-san-uri",
		"tls_client_auth.san_ip":                  "tls-san-ip",
		"tls_client_auth.san_email":               "tls-san-email",
		"tls_client_auth.certificate_thumbprints": "tls-thumbprints",
		"tls_client_auth.bound_access_tokens":     "bound-access-tokens",
	}
	clientJSONReadOnly = []string{"client_id", "type", "public", "create_time", "update_time"}
)

// updateArgs turns a client's JSON into `clients update` flags, failing
// on a field that no flag sets or a value of a kind flags do not take.
func updateArgs(t *testing.T, prefix string, m map[string]any) []string {
	t.Helper()
	var args []string
	for k, v := range m {
		key := prefix + k
		if slices.Contains(clientJSONReadOnly, key) {
			continue
		}
		if inner, ok := v.(map[string]any); ok {
			args = append(args, updateArgs(t, key+".", inner)...)
			continue
		}
		flagName, ok := clientJSONFlags[key]
		if !ok {
			t.Errorf("clients get -o json: field %q has no clients update flag", key)
			continue
		}
		var val string
		switch v := v.(type) {
		case string:
			val = v
		case bool:
			val = strconv.FormatBool(v)
		case []any:
			val = strings.Join(strs(v), ",")
		default:
			t.Errorf("field %q: %T %v is not a flag value", key, v, v)
			continue
		}
		args = append(args, "--"+flagName+"="+val)
	}
	return args
}

// TestClientsJSONRoundTrip: what `clients get -o json` prints, given back
// to `clients update` as flags, is accepted and makes another client the
// same: enums, durations and booleans are printed as the flags take them.
func TestClientsJSONRoundTrip(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		create []string
		// bare creates the client the JSON is applied to: the same type
		// and public-ness (which update does not change), nothing else.
		bare []string
	}{
		{
			name: "web app with OpenID Connect settings",
			create: []string{"--type", "first_party", "--grant-types", "authorization_code,refresh_token",
				"--redirect-uris", "https://app.example/cb,http://127.0.0.1:8000/cb", "--scopes", "orders:read,orders:write",
				"--resources", "https://api.example/orders", "--access-token-lifetime", "12m", "--rate-limit-tier", "high",
				"--require-consent", "--refresh-token-delivery", "body", "--post-logout-redirect-uris", "https://app.example/bye",
				"--backchannel-logout-uri", "https://app.example/bc", "--backchannel-logout-session-required",
				"--id-token-lifetime", "90s", "--auth-method", "client_secret_post", "--dpop-bound-access-tokens",
				"--require-pushed-authorization-requests"},
			bare: []string{"--type", "first_party", "--grant-types", "client_credentials"},
		},
		{
			name: "partner over mTLS",
			create: []string{"--type", "third_party", "--grant-types", "client_credentials", "--scopes", "orders:read",
				"--auth-method", "tls_client_auth", "--tls-san-dns", "svc.example", "--bound-access-tokens", "--rate-limit-tier", "low"},
			bare: []string{"--type", "third_party", "--grant-types", "client_credentials"},
		},
		{
			name:   "defaults",
			create: []string{"--type", "third_party", "--grant-types", "client_credentials"},
			bare:   []string{"--type", "third_party", "--grant-types", "client_credentials", "--scopes", "orders:read", "--access-token-lifetime", "5m"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := h.okJSON(append([]string{"clients", "create", "--name", "Source " + tc.name}, tc.create...)...)
			want := h.okJSON("clients", "get", str(t, src, "client_id"))
			if want["disabled"] != false || want["rate_limit_tier"] == "" {
				t.Errorf("clients get -o json: false booleans and the tier must be present: %v", want)
			}
			dst := h.okJSON(append([]string{"clients", "create", "--name", "Target " + tc.name}, tc.bare...)...)
			args := updateArgs(t, "", want)
			h.ok(append([]string{"clients", "update", str(t, dst, "client_id")}, args...)...)
			got := h.okJSON("clients", "get", str(t, dst, "client_id"))
			for _, k := range []string{"client_id", "create_time", "update_time"} {
				delete(got, k)
				delete(want, k)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if !bytes.Equal(gb, wb) {
				t.Errorf("after clients update %s:\n got %s\nwant %s", strings.Join(args, " "), gb, wb)
			}
		})
	}
}
