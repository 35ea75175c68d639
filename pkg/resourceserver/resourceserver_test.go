package resourceserver

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

func testRules(t *testing.T) *authn.Rules {
	t.Helper()
	r, err := authn.NewRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestConfigCheck: New refuses an incomplete or unsafe configuration
// before it calls anything, naming what is wrong.
func TestConfigCheck(t *testing.T) {
	rules := testRules(t)
	good := Config{
		Issuer: "https://gatehouse.example", Audience: "https://orders.example", Service: "orders", Rules: rules,
		Gatehouse: "gatehouse.example:9443", Credentials: Credentials{ClientID: "svc", ClientSecret: "s"},
	}
	cert := &tls.Certificate{}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" means accepted
	}{
		{"complete", func(*Config) {}, ""},
		{"no issuer", func(c *Config) { c.Issuer = "" }, "Issuer is required"},
		{"no audience", func(c *Config) { c.Audience = "" }, "Audience is required"},
		{"bad service name", func(c *Config) { c.Service = "Orders API" }, `the Service name "Orders API"`},
		{"no rules", func(c *Config) { c.Rules = nil }, "the Rules are required"},
		{"no gatehouse", func(c *Config) { c.Gatehouse = "" }, "the Gatehouse gRPC address is required"},
		{"no credentials", func(c *Config) { c.Credentials = Credentials{} }, "a validator certificate, or a service client"},
		{"both credentials", func(c *Config) { c.Credentials.Certificate = cert }, "a certificate or a client, not both"},
		{"insecure elsewhere", func(c *Config) { c.Insecure = true }, "is not a loopback address"},
		{"insecure on loopback", func(c *Config) { c.Insecure = true; c.Gatehouse = "127.0.0.1:9090" }, ""},
		{"certificate without TLS", func(c *Config) {
			c.Insecure, c.Gatehouse, c.Credentials = true, "127.0.0.1:9090", Credentials{Certificate: cert}
		}, "a certificate needs TLS"},
		{"everything that calls gatehouse off", func(c *Config) {
			c.Gatehouse, c.Credentials = "", Credentials{}
			c.Disable = Disable{APIKeys: true, Revocation: true, Tiers: true}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDiscover: the document must name the issuer it was fetched from and
// a JWKS; RFC 8414's document is read when OpenID Connect's is absent.
func TestDiscover(t *testing.T) {
	var body map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := body[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(doc))
	}))
	defer srv.Close()
	iss := srv.URL
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		docs map[string]string
		want string // error substring; "" means the JWKS URI below
	}{
		{"openid configuration", map[string]string{"/.well-known/openid-configuration": `{"issuer":"` + iss + `","jwks_uri":"` + iss + `/jwks"}`}, ""},
		{"oauth authorization server", map[string]string{"/.well-known/oauth-authorization-server": `{"issuer":"` + iss + `","jwks_uri":"` + iss + `/jwks"}`}, ""},
		{"another issuer", map[string]string{"/.well-known/openid-configuration": `{"issuer":"https://evil.example","jwks_uri":"` + iss + `/jwks"}`}, "names issuer"},
		{"no jwks", map[string]string{"/.well-known/openid-configuration": `{"issuer":"` + iss + `"}`}, "no jwks_uri"},
		{"not json", map[string]string{"/.well-known/openid-configuration": `<html>`}, "not a metadata document"},
		{"none", map[string]string{}, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body = tc.docs
			m, err := Discover(ctx, srv.Client(), iss)
			if tc.want == "" {
				if err != nil || m.JWKSURI != iss+"/jwks" {
					t.Fatalf("Discover: %v %+v", err, m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Discover(ctx, nil, "http://gatehouse.example"); err == nil || !strings.Contains(err.Error(), "must be https") {
		t.Fatalf("plain http issuer: %v", err)
	}
}
