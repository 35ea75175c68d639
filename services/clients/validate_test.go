package clients

import (
	"errors"
	"testing"
)

// TestRefreshTokenDeliveryRule checks the delivery rule on its own, with
// redirect URIs the redirect-URI rules refuse today (custom schemes of
// native apps), so that it holds whatever those rules come to accept.
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
