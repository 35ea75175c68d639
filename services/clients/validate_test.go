package clients

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRefreshTokenDeliveryRule checks the delivery rule on its own, with
// custom-scheme redirect URIs of every kind, the ones the redirect-URI rules
// accept for native apps (com.example.app:/cb) and the ones they refuse
// (myapp://callback), so that it holds whatever those rules accept.
func TestRefreshTokenDeliveryRule(t *testing.T) {
	spa := func(edit func(c *Client)) Client {
		c := Client{
			Type: FirstParty, Public: true, AuthMethod: AuthNone,
			GrantTypes:           []string{GrantAuthorizationCode, GrantRefreshToken},
			RedirectURIs:         []string{"https://app.example/cb"},
			RefreshTokenDelivery: RefreshTokenDeliveryCookie,
		}
		edit(&c)
		return c
	}
	tests := []struct {
		name string
		c    Client
		ok   bool
	}{
		{"cookie, public first-party SPA", spa(func(*Client) {}), true},
		{"cookie, custom scheme and https", spa(func(c *Client) { c.RedirectURIs = []string{"com.example.app:/cb", "https://app.example/cb"} }), true},
		{"cookie, custom scheme only", spa(func(c *Client) { c.RedirectURIs = []string{"com.example.app:/cb"} }), false},
		{"cookie, custom scheme with a host only", spa(func(c *Client) { c.RedirectURIs = []string{"myapp://callback"} }), false},
		{"cookie, confidential", spa(func(c *Client) { c.Public, c.AuthMethod = false, AuthSecretBasic }), false},
		{"cookie, public flag with a secret method", spa(func(c *Client) { c.AuthMethod = AuthSecretPost }), false},
		{"cookie, third party", spa(func(c *Client) { c.Type = ThirdParty }), false},
		{"cookie, no refresh_token", spa(func(c *Client) { c.GrantTypes = []string{GrantAuthorizationCode} }), false},
		{"body, custom scheme only", spa(func(c *Client) {
			c.RedirectURIs, c.RefreshTokenDelivery = []string{"com.example.app:/cb"}, RefreshTokenDeliveryBody
		}), true},
		{"body, no refresh_token", spa(func(c *Client) {
			c.GrantTypes, c.RefreshTokenDelivery = []string{GrantAuthorizationCode}, RefreshTokenDeliveryBody
		}), false},
		{"none, no refresh_token", spa(func(c *Client) { c.GrantTypes, c.RefreshTokenDelivery = []string{GrantAuthorizationCode}, "" }), true},
		{"none, refresh_token (normalize fills body)", spa(func(c *Client) { c.RefreshTokenDelivery = "" }), true},
		{"unknown", spa(func(c *Client) { c.RefreshTokenDelivery = "unknown" }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.validateRefreshTokenDelivery()
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "refresh_token_delivery" {
				t.Fatalf("err = %v, want a FieldError on refresh_token_delivery", err)
			}
		})
	}

	c := spa(func(c *Client) { c.RefreshTokenDelivery = "" })
	c.normalize()
	if c.RefreshTokenDelivery != RefreshTokenDeliveryBody {
		t.Errorf("normalize with refresh_token: %q, want body", c.RefreshTokenDelivery)
	}
	c = spa(func(c *Client) { c.GrantTypes, c.RefreshTokenDelivery = []string{GrantAuthorizationCode}, "" })
	c.normalize()
	if c.RefreshTokenDelivery != "" {
		t.Errorf("normalize without refresh_token: %q, want empty", c.RefreshTokenDelivery)
	}
}

// Client kinds for the redirect-URI rules: only a public first-party client
// (a native app of the platform's own) may use private-use URI schemes.
const (
	nativeApp = iota
	confidentialFirstParty
	publicThirdParty
	confidentialThirdParty
)

var kindNames = map[int]string{
	nativeApp: "public first-party", confidentialFirstParty: "confidential first-party",
	publicThirdParty: "public third-party", confidentialThirdParty: "confidential third-party",
}

// codeClient is a valid authorization_code client of the kind.
func codeClient(kind int) Client {
	c := Client{
		Name: "App", Type: FirstParty,
		GrantTypes:   []string{GrantAuthorizationCode, GrantRefreshToken},
		RedirectURIs: []string{"https://app.example/cb"},
	}
	if kind == publicThirdParty || kind == confidentialThirdParty {
		c.Type = ThirdParty
	}
	c.Public = kind == nativeApp || kind == publicThirdParty
	return c
}

// validated is c after the registry's normalize and validate, with an
// empty scope catalogue.
func validated(c Client) (Client, error) {
	c.normalize()
	return c, c.validate(map[string]bool{})
}

// redirectCases are the redirect-URI rules, for redirect_uris and
// post_logout_redirect_uris alike: what a public first-party client (native)
// and every other kind of client (others) get, ok or a part of the error.
var redirectCases = []struct {
	name, uri      string
	native, others string
}{
	// https and loopback http, for every kind of client.
	{"https", "https://app.example/cb", ok, ok},
	{"https with a query", "https://app.example/cb?tenant=a", ok, ok},
	{"http on IPv4 loopback", "http://127.0.0.1:8080/cb", ok, ok},
	{"http on IPv6 loopback", "http://[::1]/cb", ok, ok},

	// Private-use schemes (RFC 8252 §7.1): public first-party only.
	{"private-use scheme", "com.example.app:/oauth2redirect", ok, notNative},
	{"private-use scheme, RFC 8252 example", "com.example.app:/oauth2redirect/example-provider", ok, notNative},
	{"private-use scheme, root path", "com.example.app:/", ok, notNative},
	{"private-use scheme with a query", "com.example.app:/cb?x=1", ok, notNative},
	{"private-use scheme, hyphen and digits", "io.example-2.app:/cb", ok, notNative},
	{"private-use scheme, two labels", "example.app:/cb", ok, notNative},
	{"private-use scheme, unicode path", "com.example.app:/π", ok, notNative},

	// Refused for native apps too (other clients may have no private-use
	// scheme at all).
	{"authority", "com.example.app://oauth2redirect", "single slash", notNative},
	{"authority with userinfo and host", "com.example.app://user@host.example/cb", "single slash", notNative},
	{"empty authority", "com.example.app:///cb", "single slash", notNative},
	{"no slash", "com.example.app:oauth2redirect", "single slash", notNative},
	{"scheme only", "com.example.app:", "single slash", notNative},
	{"fragment", "com.example.app:/cb#x", "fragment", notNative},
	{"empty fragment", "com.example.app:/cb#", "fragment", notNative},
	{"wildcard in the path", "com.example.app:/*", "wildcard", "wildcard"},
	{"wildcard in the scheme", "com.example.*:/cb", "wildcard", "wildcard"},
	{"upper case scheme", "com.Example.app:/cb", "lower case", notNative},
	{"no period", "myapp:/cb", "no period", notNative},
	{"no period, with a host", "myapp://callback", "no period", notNative},
	{"javascript", "javascript:alert(1)", "browsers handle", notNative},
	{"javascript with slashes", "javascript://%0Aalert(1)", "browsers handle", notNative},
	{"data", "data:text/html,<script>alert(1)</script>", "browsers handle", notNative},
	{"file", "file:///etc/passwd", "browsers handle", notNative},
	{"vbscript", "vbscript:msgbox(1)", "browsers handle", notNative},
	{"blob", "blob:https://app.example/uuid", "browsers handle", notNative},
	{"https look-alike", "https.evil:/cb", "browsers handle", notNative},
	{"http look-alike", "http.example.app:/cb", "browsers handle", notNative},
	{"javascript look-alike", "javascript.example:/cb", "browsers handle", notNative},
	{"out-of-band URN", "urn:ietf:wg:oauth:2.0:oob", "no period", notNative},
	{"empty label", "com..app:/cb", "not a domain name", notNative},
	{"trailing period", "com.example.:/cb", "not a domain name", notNative},
	{"leading period", ".com.example:/cb", "starts with a letter", notNative},
	{"label starting with a hyphen", "com.-example.app:/cb", "not a domain name", notNative},
	{"label ending with a hyphen", "com.example-.app:/cb", "not a domain name", notNative},
	{"plus sign", "com.example+x.app:/cb", "not a domain name", notNative},
	{"leading digit", "1com.example:/cb", "starts with a letter", notNative},
	{"underscore", "com.example_app.x:/cb", "not valid", notNative},
	{"label too long", "com." + strings.Repeat("a", 64) + ":/cb", "not a domain name", notNative},
	{"white space", "com.example.app:/a b", "white space", notNative},
	{"backslash", `com.example.app:/a\b`, "backslash", notNative},
	{"bad percent-encoding", "com.example.app:/%zz", "not a URI", notNative},
	{"NUL", "com.example.app:/\x00", "NUL", notNative},

	// What is refused today stays refused.
	{"http on a host name", "http://app.example/cb", "loopback", "loopback"},
	{"http on localhost", "http://localhost:8080/cb", "loopback", "loopback"},
	{"https fragment", "https://app.example/cb#x", "fragment", "fragment"},
	{"https userinfo", "https://app.example@evil.example/cb", "userinfo", "userinfo"},
	{"https wildcard", "https://*.example/cb", "wildcard", "wildcard"},
	{"https without host", "https:/app.example/cb", "with a host", "with a host"},
	{"https opaque", "https:app.example", "with a host", "with a host"},
	{"relative", "/cb", "with a host", "with a host"},
	{"empty", "", "with a host", "with a host"},
	{"no scheme", ":/cb", "not a URI", "not a URI"},
}

const (
	ok = ""
	// notNative is the refusal of a private-use scheme for any client but
	// a public first-party one.
	notNative = "only for public first-party clients"
)

// TestRedirectURIRules runs every redirect-URI case for every kind of
// client, as redirect_uris and as post_logout_redirect_uris.
func TestRedirectURIRules(t *testing.T) {
	for _, field := range []string{"redirect_uris", "post_logout_redirect_uris"} {
		for _, tc := range redirectCases {
			for kind := nativeApp; kind <= confidentialThirdParty; kind++ {
				t.Run(fmt.Sprintf("%s/%s/%s", field, tc.name, kindNames[kind]), func(t *testing.T) {
					c := codeClient(kind)
					if field == "redirect_uris" {
						c.RedirectURIs = []string{tc.uri}
					} else {
						c.PostLogoutRedirectURIs = []string{tc.uri}
					}
					want := tc.others
					if kind == nativeApp {
						want = tc.native
					}
					_, err := validated(c)
					if want == ok {
						if err != nil {
							t.Fatalf("%q refused: %v", tc.uri, err)
						}
						return
					}
					var fe *FieldError
					if !errors.As(err, &fe) || fe.Field != field {
						t.Fatalf("%q: err = %v, want a FieldError on %s", tc.uri, err, field)
					}
					if !strings.Contains(fe.Reason, want) {
						t.Fatalf("%q: %v, want it to say %q", tc.uri, err, want)
					}
				})
			}
		}
	}
}

// TestPrivateUseSchemeOncePerList: at most one redirect URI per private-use
// scheme in each list; the two lists are separate.
func TestPrivateUseSchemeOncePerList(t *testing.T) {
	tests := []struct {
		name                 string
		redirects, postLogin []string
		field                string // refused on; "" when accepted
	}{
		{"two schemes", []string{"com.example.app:/cb", "com.example.other:/cb"}, nil, ""},
		{"one scheme and https", []string{"com.example.app:/cb", "https://app.example/cb"}, nil, ""},
		{"one scheme twice", []string{"com.example.app:/cb", "com.example.app:/other"}, nil, "redirect_uris"},
		{"one scheme twice, post-logout", []string{"https://app.example/cb"}, []string{"com.example.app:/a", "com.example.app:/b"}, "post_logout_redirect_uris"},
		{"the same scheme in both lists", []string{"com.example.app:/cb"}, []string{"com.example.app:/logged-out"}, ""},
		{"the same URI twice is one", []string{"com.example.app:/cb", "com.example.app:/cb"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := codeClient(nativeApp)
			c.RedirectURIs, c.PostLogoutRedirectURIs = tc.redirects, tc.postLogin
			_, err := validated(c)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, "at most one per scheme") {
				t.Fatalf("err = %v, want a FieldError on %s (one per scheme)", err, tc.field)
			}
		})
	}
}

// TestNativeAppCookieDelivery: the full validation of a native app with
// private-use redirects only, now that they are accepted: refresh tokens in
// the body, never as a cookie.
func TestNativeAppCookieDelivery(t *testing.T) {
	c := codeClient(nativeApp)
	c.RedirectURIs = []string{"com.example.app:/oauth2redirect"}
	got, err := validated(c)
	if err != nil || got.RefreshTokenDelivery != RefreshTokenDeliveryBody {
		t.Fatalf("native app: delivery %q, %v; want body, accepted", got.RefreshTokenDelivery, err)
	}
	c.RefreshTokenDelivery = RefreshTokenDeliveryCookie
	_, err = validated(c)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "refresh_token_delivery" {
		t.Fatalf("cookie for a native app: %v, want a FieldError on refresh_token_delivery", err)
	}
	c.RedirectURIs = append(c.RedirectURIs, "https://app.example/cb")
	if _, err := validated(c); err != nil {
		t.Fatalf("cookie with an https redirect besides: %v", err)
	}
}

// TestOpenIDSettingsRules checks the OpenID Connect settings: only with the
// authorization_code grant, at most 20 post-logout redirect URIs, the
// back-channel logout URI's rules, and the ID token lifetime's bounds.
func TestOpenIDSettingsRules(t *testing.T) {
	code := func(edit func(c *Client)) Client {
		c := codeClient(confidentialThirdParty)
		edit(&c)
		return c
	}
	machine := func(edit func(c *Client)) Client {
		c := Client{Name: "Batch", Type: ThirdParty, GrantTypes: []string{GrantClientCredentials}}
		edit(&c)
		return c
	}
	uris := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("https://app.example/logged-out/%d", i))
		}
		return out
	}
	tests := []struct {
		name  string
		c     Client
		field string // refused on; "" when accepted
	}{
		{"none of them", code(func(*Client) {}), ""},
		{"all of them", code(func(c *Client) {
			c.PostLogoutRedirectURIs = []string{"https://app.example/bye"}
			c.BackchannelLogoutURI = "https://app.example/backchannel"
			c.BackchannelLogoutSessionRequired = true
			c.IDTokenLifetime = 10 * time.Minute
		}), ""},

		// authorization_code only.
		{"post-logout URIs without authorization_code", machine(func(c *Client) { c.PostLogoutRedirectURIs = []string{"https://app.example/bye"} }), "post_logout_redirect_uris"},
		{"back-channel URI without authorization_code", machine(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/bc" }), "backchannel_logout_uri"},
		{"session required without authorization_code", machine(func(c *Client) { c.BackchannelLogoutSessionRequired = true }), "backchannel_logout_session_required"},
		{"ID token lifetime without authorization_code", machine(func(c *Client) { c.IDTokenLifetime = 5 * time.Minute }), "id_token_lifetime"},
		{"client_credentials and authorization_code", code(func(c *Client) {
			c.GrantTypes = append(c.GrantTypes, GrantClientCredentials)
			c.BackchannelLogoutURI = "https://app.example/bc"
		}), ""},

		// Post-logout redirect URIs: at most 20 (after deduplication).
		{"20 post-logout URIs", code(func(c *Client) { c.PostLogoutRedirectURIs = uris(20) }), ""},
		{"21 post-logout URIs", code(func(c *Client) { c.PostLogoutRedirectURIs = uris(21) }), "post_logout_redirect_uris"},
		{"20 post-logout URIs and a repeat", code(func(c *Client) { c.PostLogoutRedirectURIs = append(uris(20), uris(1)...) }), ""},

		// Back-channel logout URI (Back-Channel Logout 1.0 §2.2).
		{"back-channel with a query", code(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/bc?tenant=a" }), ""},
		{"back-channel on loopback http", code(func(c *Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9000/bc" }), ""},
		{"back-channel on http", code(func(c *Client) { c.BackchannelLogoutURI = "http://app.example/bc" }), "backchannel_logout_uri"},
		{"back-channel on localhost", code(func(c *Client) { c.BackchannelLogoutURI = "http://localhost/bc" }), "backchannel_logout_uri"},
		{"back-channel with a fragment", code(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/bc#x" }), "backchannel_logout_uri"},
		{"back-channel with an empty fragment", code(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/bc#" }), "backchannel_logout_uri"},
		{"back-channel relative", code(func(c *Client) { c.BackchannelLogoutURI = "/bc" }), "backchannel_logout_uri"},
		{"back-channel with userinfo", code(func(c *Client) { c.BackchannelLogoutURI = "https://u:p@app.example/bc" }), "backchannel_logout_uri"},
		{"back-channel with white space", code(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/b c" }), "backchannel_logout_uri"},
		{"back-channel private-use scheme, native app", func() Client {
			c := codeClient(nativeApp)
			c.BackchannelLogoutURI = "com.example.app:/bc"
			return c
		}(), "backchannel_logout_uri"},
		{"back-channel too long", code(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/" + strings.Repeat("a", 2000) }), "backchannel_logout_uri"},
		{"back-channel NUL", code(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/\x00" }), "backchannel_logout_uri"},
		{"session required without a back-channel URI", code(func(c *Client) { c.BackchannelLogoutSessionRequired = true }), "backchannel_logout_session_required"},
		{"back-channel URI without session required", code(func(c *Client) { c.BackchannelLogoutURI = "https://app.example/bc" }), ""},

		// ID token lifetime: zero (the server default) or 1 to 60 minutes.
		{"ID token 1m", code(func(c *Client) { c.IDTokenLifetime = time.Minute }), ""},
		{"ID token 60m", code(func(c *Client) { c.IDTokenLifetime = time.Hour }), ""},
		{"ID token 59s", code(func(c *Client) { c.IDTokenLifetime = 59 * time.Second }), "id_token_lifetime"},
		{"ID token 60m1ms", code(func(c *Client) { c.IDTokenLifetime = time.Hour + time.Millisecond }), "id_token_lifetime"},
		{"ID token negative", code(func(c *Client) { c.IDTokenLifetime = -5 * time.Minute }), "id_token_lifetime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := validated(tc.c)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}
