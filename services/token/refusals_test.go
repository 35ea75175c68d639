package token_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
)

// TestTokenEndpointRefusals covers the negative items of checklist section
// G with raw requests: 52 (bad secret), 53 (Basic encoding), 56 (one method
// per request), 57 (transport hygiene), 58 (grant allow-list), 59
// (client_credentials specifics) and 60 (error format, checked on every
// case by assertOAuthError).
func TestTokenEndpointRefusals(t *testing.T) {
	e := newEnv(t)
	special := "a:b%c+d&e=f"
	withSpecial := e.create(&clientsv1.Client{
		Name: "Special", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"},
	})
	e.setSecret(withSpecial.id, special)
	disabled := e.create(&clientsv1.Client{
		Name: "Disabled", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
	})
	e.update(&clientsv1.Client{ClientId: disabled.id, Disabled: true}, "disabled")

	cc := "grant_type=client_credentials"
	p, po := e.partner, e.poster
	postCreds := "&client_id=" + url.QueryEscape(po.id) + "&client_secret=" + url.QueryEscape(po.secret)
	tests := []struct {
		name      string
		req       request
		status    int
		code      string
		challenge bool
	}{
		// 52: bad client secret.
		{"52 wrong secret via Basic", request{basic: basic(p.id, p.secret+"x"), body: cc}, 401, "invalid_client", true},
		{"52 wrong secret via the body", request{body: cc + "&client_id=" + po.id + "&client_secret=nope"}, 401, "invalid_client", false},
		{"52 unknown client via Basic", request{basic: basic("c_nobody", "secret"), body: cc}, 401, "invalid_client", true},
		{"52 unknown client via the body", request{body: cc + "&client_id=c_nobody&client_secret=x"}, 401, "invalid_client", false},
		{"52 disabled client", request{basic: basic(disabled.id, disabled.secret), body: cc}, 401, "invalid_client", true},
		{"52 no credentials at all", request{body: cc}, 401, "invalid_client", true},
		{"52 client_id without a secret", request{body: cc + "&client_id=" + p.id}, 401, "invalid_client", false},
		{"52 empty secret in Basic", request{basic: basic(p.id, ""), body: cc}, 401, "invalid_client", true},
		{"52 Basic without a colon", request{authz: "Basic " + b64(p.id), body: cc}, 401, "invalid_client", true},
		{"52 Basic that is not base64", request{authz: "Basic %%%", body: cc}, 401, "invalid_client", true},
		{"52 Bearer instead of Basic", request{authz: "Bearer abc", body: cc}, 401, "invalid_client", true},
		{"52 oversized Authorization", request{authz: "Basic " + strings.Repeat("A", 8<<10), body: cc}, 401, "invalid_client", true},
		// 53: a secret with ': % + & =' sent without the form-encoding of
		// §2.3.1 is decoded as the RFC says, and so does not match.
		{"53 special secret not form-encoded", request{authz: "Basic " + b64(withSpecial.id+":"+special), body: cc}, 401, "invalid_client", true},
		// The registered method is the only one accepted.
		{"post client using Basic", request{basic: basic(po.id, po.secret), body: cc}, 401, "invalid_client", true},
		{"basic client using the body", request{body: cc + "&client_id=" + p.id + "&client_secret=" + url.QueryEscape(p.secret)}, 401, "invalid_client", false},
		// 56: exactly one authentication method per request (the mTLS
		// part of 56 arrives with mTLS).
		{"56 Basic plus client_secret in the body", request{basic: basic(p.id, p.secret), body: cc + "&client_secret=" + url.QueryEscape(p.secret)}, 400, "invalid_request", false},
		{"56 Basic plus a wrong body secret", request{basic: basic(p.id, p.secret), body: cc + "&client_id=" + p.id + "&client_secret=x"}, 400, "invalid_request", false},
		{"56 Basic plus another client_id in the body", request{basic: basic(p.id, p.secret), body: cc + "&client_id=" + po.id}, 400, "invalid_request", false},
		{"client_secret without client_id", request{body: cc + "&client_secret=x"}, 400, "invalid_request", false},
		// 57: transport hygiene.
		{"57 grant_type twice", request{basic: basic(p.id, p.secret), body: cc + "&" + cc}, 400, "invalid_request", false},
		{"57 scope twice", request{basic: basic(p.id, p.secret), body: cc + "&scope=orders:read&scope=orders:read"}, 400, "invalid_request", false},
		{"57 empty and non-empty scope", request{basic: basic(p.id, p.secret), body: cc + "&scope=&scope=orders:read"}, 400, "invalid_request", false},
		{"57 JSON body", request{ctype: "application/json", basic: basic(p.id, p.secret), body: `{"grant_type":"client_credentials"}`}, 400, "invalid_request", false},
		{"57 form body labelled JSON", request{ctype: "application/json", basic: basic(p.id, p.secret), body: cc}, 400, "invalid_request", false},
		{"57 missing Content-Type", request{ctype: "-", basic: basic(p.id, p.secret), body: cc}, 400, "invalid_request", false},
		{"57 multipart body", request{ctype: "multipart/form-data; boundary=x", basic: basic(p.id, p.secret), body: cc}, 400, "invalid_request", false},
		{"57 latin-1 charset", request{ctype: "application/x-www-form-urlencoded; charset=iso-8859-1", basic: basic(p.id, p.secret), body: cc}, 400, "invalid_request", false},
		{"57 credentials in the URL query", request{query: "client_id=" + po.id + "&client_secret=" + url.QueryEscape(po.secret), body: cc}, 400, "invalid_request", false},
		{"57 all parameters in the URL query", request{query: cc + postCreds[1:], ctype: "-"}, 400, "invalid_request", false},
		{"57 grant_type in the query, Basic credentials", request{query: cc, basic: basic(p.id, p.secret)}, 400, "invalid_request", false},
		{"57 bad percent-encoding", request{basic: basic(p.id, p.secret), body: cc + "&scope=%zz"}, 400, "invalid_request", false},
		{"57 body over 64 KiB", request{basic: basic(p.id, p.secret), body: cc + "&pad=" + strings.Repeat("a", 64<<10)}, 413, "invalid_request", false},
		// 58: grant allow-list.
		{"58 password grant", request{basic: basic(p.id, p.secret), body: "grant_type=password&username=u&password=p"}, 400, "unsupported_grant_type", false},
		{"58 implicit", request{basic: basic(p.id, p.secret), body: "grant_type=implicit"}, 400, "unsupported_grant_type", false},
		{"58 unknown grant", request{basic: basic(p.id, p.secret), body: "grant_type=urn%3Aexample%3Amagic"}, 400, "unsupported_grant_type", false},
		{"58 password grant without credentials", request{body: "grant_type=password&username=u&password=p"}, 400, "unsupported_grant_type", false},
		{"58 authorization_code, not served yet", request{basic: basic(e.codeClient.id, e.codeClient.secret), body: "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"}, 400, "unsupported_grant_type", false},
		{"58 refresh_token, not served yet", request{basic: basic(e.codeClient.id, e.codeClient.secret), body: "grant_type=refresh_token&refresh_token=x"}, 400, "unsupported_grant_type", false},
		{"58 client not registered for client_credentials", request{basic: basic(e.codeClient.id, e.codeClient.secret), body: cc}, 400, "unauthorized_client", false},
		{"missing grant_type", request{basic: basic(p.id, p.secret), body: "scope=orders:read"}, 400, "invalid_request", false},
		// 59: scopes and audience.
		{"59 scope beyond the allowance", request{basic: basic(p.id, p.secret), body: cc + "&scope=orders:read%20billing:read"}, 400, "invalid_scope", false},
		{"59 unknown scope", request{basic: basic(p.id, p.secret), body: cc + "&scope=nope"}, 400, "invalid_scope", false},
		{"59 scope for a client without scopes", request{basic: basic(e.noScopes.id, e.noScopes.secret), body: cc + "&scope=orders:read"}, 400, "invalid_scope", false},
		{"59 malformed scope, two spaces", request{basic: basic(p.id, p.secret), body: cc + "&scope=orders:read%20%20orders:write"}, 400, "invalid_scope", false},
		{"59 malformed scope, quote", request{basic: basic(p.id, p.secret), body: cc + "&scope=%22orders%22"}, 400, "invalid_scope", false},
		{"RFC 8707 unregistered resource", request{basic: basic(p.id, p.secret), body: cc + "&resource=https%3A%2F%2Fevil.example%2F"}, 400, "invalid_target", false},
		{"RFC 8707 registered resource plus a fragment", request{basic: basic(p.id, p.secret), body: cc + "&resource=" + url.QueryEscape(ordersResource+"#x")}, 400, "invalid_target", false},
		{"RFC 8707 two resources", request{basic: basic(p.id, p.secret), body: cc + "&resource=" + url.QueryEscape(ordersResource) + "&resource=" + url.QueryEscape(billingResource)}, 400, "invalid_target", false},
		{"RFC 8707 resource of another client", request{body: cc + "&resource=" + url.QueryEscape(ordersResource) + postCreds}, 400, "invalid_target", false},
		// 60: attacker-controlled text in a description is sanitised.
		{"60 repeated parameter with quotes, backslash and newline", request{basic: basic(p.id, p.secret), body: cc + "&x%22%5C%0A%09%C3%A9=1&x%22%5C%0A%09%C3%A9=2"}, 400, "invalid_request", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Refill the failure budgets: this test is about answers, not
			// about rate limits (TestFailedAuthenticationBudgets).
			e.clock.Advance(5 * time.Minute)
			tc.req.path = "/oauth2/token"
			r := e.do(nil, tc.req)
			assertOAuthError(t, r, tc.status, tc.code)
			got := r.header.Get("WWW-Authenticate")
			if tc.challenge && got != `Basic realm="gatehouse"` || !tc.challenge && got != "" {
				t.Errorf("WWW-Authenticate %q, challenge wanted: %v", got, tc.challenge)
			}
			for _, secret := range []string{p.secret, po.secret, special, e.codeClient.secret} {
				if strings.Contains(string(r.body), secret) {
					t.Errorf("the response echoes a secret: %s", r.body)
				}
			}
			if strings.Contains(string(r.body), "access_token") {
				t.Errorf("a refusal carries a token: %s", r.body)
			}
		})
	}

	t.Run("56 two Authorization headers", func(t *testing.T) {
		req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url("/oauth2/token"), strings.NewReader(cc))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Add("Authorization", basicHeader(p.id, p.secret))
		req.Header.Add("Authorization", basicHeader(po.id, po.secret))
		r := send(t, req)
		assertOAuthError(t, r, 400, "invalid_request")
	})

	t.Run("57 GET gets 405 with Allow: POST and no token", func(t *testing.T) {
		for _, q := range []string{"", "?" + cc + postCreds} {
			r := e.do(nil, request{method: http.MethodGet, path: "/oauth2/token" + q, basic: basic(p.id, p.secret)})
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
				t.Errorf("GET %s: %d, Allow %q; want 405 and Allow: POST", q, r.status, r.header.Get("Allow"))
			}
			if strings.Contains(string(r.body), "access_token") {
				t.Errorf("GET returned a token: %s", r.body)
			}
		}
	})

	t.Run("the same requests done right succeed", func(t *testing.T) {
		for _, req := range []request{
			{basic: basic(p.id, p.secret), body: cc},
			{basic: basic(p.id, p.secret), body: cc + "&client_id=" + p.id}, // the same client_id in the body is fine
			{body: cc + postCreds},
			{basic: basic(withSpecial.id, special), body: cc}, // 53: form-encoded, then Base64
			{ctype: "application/x-www-form-urlencoded; charset=UTF-8", basic: basic(p.id, p.secret), body: cc},
			{basic: basic(p.id, p.secret), body: cc + "&scope=&resource="}, // empty values are omitted (§3.1)
			{authz: "basic " + b64(url.QueryEscape(p.id)+":"+url.QueryEscape(p.secret)), body: cc},
		} {
			req.path = "/oauth2/token"
			if r := e.do(nil, req); r.status != http.StatusOK {
				t.Errorf("%+v: %d %s", req, r.status, r.body)
			}
		}
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestInvalidClientSaysWhy: a client that authenticated with the right
// secret by the other method learns which one it is registered for; a
// wrong secret and an unknown client still get the same answer.
func TestInvalidClientSaysWhy(t *testing.T) {
	e := newEnv(t)
	cc := "grant_type=client_credentials"
	for _, tc := range []struct {
		name, want string
		req        request
	}{
		{"post client using Basic", "the client is registered for client_secret_post; the request used client_secret_basic",
			request{path: "/oauth2/token", basic: basic(e.poster.id, e.poster.secret), body: cc}},
		{"Basic client using the body", "the client is registered for client_secret_basic; the request used client_secret_post",
			request{path: "/oauth2/token", body: cc + "&client_id=" + url.QueryEscape(e.partner.id) + "&client_secret=" + url.QueryEscape(e.partner.secret)}},
		{"wrong secret", "client authentication failed", request{path: "/oauth2/token", basic: basic(e.poster.id, "wrong"), body: cc}},
		{"unknown client", "client authentication failed", request{path: "/oauth2/token", basic: basic("c_nobody", "wrong"), body: cc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(nil, tc.req)
			if got := r.json(t)["error_description"]; r.status != http.StatusUnauthorized || got != tc.want {
				t.Errorf("%d %q, want 401 %q", r.status, got, tc.want)
			}
		})
	}
}
