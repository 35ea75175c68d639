package conformance

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

var valueTests = []test{
	{"nil and empty lists are stored alike and come back empty, not nil", func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name string
			list []string
		}{{"nil", nil}, {"empty", []string{}}} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.in(t)
				c := sampleClient("c-"+tc.name, t0)
				c.GrantTypes, c.RedirectURIs, c.Scopes = tc.list, tc.list, tc.list
				c.TLS.CertificateThumbprints = tc.list
				c.Resources = tc.list
				c.PostLogoutRedirectURIs = tc.list
				k := sampleKey("k-"+tc.name, c.ID, t0, tc.list...)
				k.Scopes = tc.list
				e.createClient(c, nil, k)

				got := e.getClient(c.ID)
				for name, l := range map[string][]string{
					"GrantTypes": got.GrantTypes, "RedirectURIs": got.RedirectURIs, "Scopes": got.Scopes,
					"CertificateThumbprints": got.TLS.CertificateThumbprints, "Resources": got.Resources,
					"PostLogoutRedirectURIs": got.PostLogoutRedirectURIs,
					"APIKey.Scopes":          e.getKey(k.KeyID).Scopes,
				} {
					if l == nil || len(l) != 0 {
						t.Errorf("%s = %#v, want an empty non-nil slice", name, l)
					}
				}
				assertClient(t, got, c)
			})
		}
	}},

	{"list order is kept for redirect URIs, grant types, thumbprints, resources and post-logout redirect URIs", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		c.RedirectURIs = []string{"https://z.example/cb", "https://a.example/cb", "https://m.example/cb"}
		c.GrantTypes = []string{clients.GrantRefreshToken, clients.GrantAuthorizationCode, clients.GrantClientCredentials}
		c.TLS.CertificateThumbprints = []string{"zzz", "aaa"}
		c.Resources = []string{"https://z.example/api", "https://a.example/api"}
		c.PostLogoutRedirectURIs = []string{"https://z.example/bye", "com.example.app:/bye", "https://a.example/bye"}
		e.createClient(c, nil)
		assertClient(t, e.getClient("c1"), c) // assertClient compares these in order
	}},

	{"times come back in UTC, truncated to microseconds", func(t *testing.T, e *env) {
		for i, ts := range []time.Time{
			t0,
			time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), // before the epoch: truncation direction
			time.Date(2200, 1, 1, 0, 0, 0, 1, zone),
			time.Date(2025, 3, 30, 1, 30, 0, 500, time.FixedZone("-0930", -(9*3600+30*60))),
		} {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				e := e.in(t)
				id := fmt.Sprintf("c%d", i)
				c := sampleClient(id, ts)
				c.UpdatedAt = ts
				sec := sampleSecret(id, ts)
				k := sampleKey("k"+id, id, ts)
				k.ExpiresAt, k.LastUsedAt, k.RevokedAt = ts.Add(time.Hour), ts, ts
				e.createClient(c, &sec, k)

				got := e.getClient(id)
				assertClient(t, got, c)
				if want := ts.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) {
					t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
				}
				assertSecrets(t, e.secrets(id), sec)
				assertKey(t, e.getKey(k.KeyID), k)
			})
		}
	}},

	{"zero optional times stay zero", func(t *testing.T, e *env) {
		k := sampleKey("k1", "c1", t0)
		sec := sampleSecret("c1", t0)
		e.createClient(sampleClient("c1", t0), &sec, k)
		got := e.getKey("k1")
		if !got.ExpiresAt.IsZero() || !got.LastUsedAt.IsZero() || !got.RevokedAt.IsZero() {
			t.Errorf("zero times came back as %v, %v, %v", got.ExpiresAt, got.LastUsedAt, got.RevokedAt)
		}
		if s := e.secrets("c1"); len(s) != 1 || !s[0].ExpiresAt.IsZero() {
			t.Errorf("current secret has an expiry: %+v", s)
		}
	}},

	{"hashes round-trip byte for byte", func(t *testing.T, e *env) {
		hashes := [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), make([]byte, 32)}
		for i := range hashes[2] {
			hashes[2][i] = byte(i * 37) // includes 0x00 and bytes above 0x7f
		}
		for i, h := range hashes {
			id := fmt.Sprintf("c%d", i)
			sec := clients.Secret{ClientID: id, Hash: h, CreatedAt: t0}
			k := sampleKey("k"+id, id, t0)
			k.SecretHash = h
			e.createClient(sampleClient(id, t0), &sec, k)
			if s := e.secrets(id); len(s) != 1 || !bytes.Equal(s[0].Hash, h) { // not-secret: a conformance check of what the store returned
				t.Errorf("secret hash %x came back as %+v", h, s)
			}
			if got := e.getKey(k.KeyID).SecretHash; !bytes.Equal(got, h) { // not-secret: a test checks stored bytes
				t.Errorf("key hash %x came back as %x", h, got)
			}
		}
	}},

	{"access token lifetime is kept to the millisecond", func(t *testing.T, e *env) {
		for i, d := range []time.Duration{time.Millisecond, 10 * time.Minute, time.Hour + 999*time.Millisecond, 0} {
			c := sampleClient(fmt.Sprintf("c%d", i), t0)
			c.AccessTokenLifetime = d
			e.createClient(c, nil)
			if got := e.getClient(c.ID).AccessTokenLifetime; got != d {
				t.Errorf("lifetime %v came back as %v", d, got)
			}
		}
	}},

	{"refresh token delivery round-trips, empty included, and updates", func(t *testing.T, e *env) {
		deliveries := []string{clients.RefreshTokenDeliveryBody, clients.RefreshTokenDeliveryCookie, ""}
		for i, d := range deliveries {
			c := sampleClient(fmt.Sprintf("c%d", i), t0)
			c.RefreshTokenDelivery = d
			e.createClient(c, nil)
			got := e.getClient(c.ID)
			if got.RefreshTokenDelivery != d {
				t.Errorf("delivery %q came back as %q", d, got.RefreshTokenDelivery)
			}
			assertClient(t, got, c)

			// Each value can be changed to the next, "" included.
			next := deliveries[(i+1)%len(deliveries)]
			updated, err := e.s.UpdateClient(e.ctx, c.ID, func(u *clients.Client) error {
				u.RefreshTokenDelivery = next
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			c.RefreshTokenDelivery = next
			assertClient(t, updated, c)
			assertClient(t, e.getClient(c.ID), c)
		}
	}},

	{"ID token lifetime is kept to the millisecond, zero included", func(t *testing.T, e *env) {
		for i, d := range []time.Duration{0, time.Millisecond, 5 * time.Minute, time.Hour + 999*time.Millisecond} {
			c := sampleClient(fmt.Sprintf("c%d", i), t0)
			c.IDTokenLifetime = d
			e.createClient(c, nil)
			if got := e.getClient(c.ID).IDTokenLifetime; got != d {
				t.Errorf("ID token lifetime %v came back as %v", d, got)
			}
		}
	}},

	{"OpenID Connect settings round-trip and update, zero values included", func(t *testing.T, e *env) {
		set := sampleClient("set", t0)
		zero := sampleClient("zero", t0)
		zero.PostLogoutRedirectURIs, zero.BackchannelLogoutURI = nil, ""
		zero.BackchannelLogoutSessionRequired, zero.IDTokenLifetime = false, 0
		e.createClient(set, nil)
		e.createClient(zero, nil)
		assertClient(t, e.getClient("set"), set)
		assertClient(t, e.getClient("zero"), zero)

		// Each to the other's values: set to zero, zero to set.
		for _, tc := range []struct{ id, from string }{{"set", "zero"}, {"zero", "set"}} {
			want := e.getClient(tc.from)
			got, err := e.s.UpdateClient(e.ctx, tc.id, func(u *clients.Client) error {
				u.PostLogoutRedirectURIs = want.PostLogoutRedirectURIs
				u.BackchannelLogoutURI = want.BackchannelLogoutURI
				u.BackchannelLogoutSessionRequired = want.BackchannelLogoutSessionRequired
				u.IDTokenLifetime = want.IDTokenLifetime
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want.ID, want.Name = tc.id, "Client "+tc.id
			assertClient(t, got, want)
			assertClient(t, e.getClient(tc.id), want)
		}
	}},

	{"text round-trips exactly", func(t *testing.T, e *env) {
		c := sampleClient("ünïcode/id with spaces", t0)
		c.Name = "Ünïcødé 名前 'quotes' \"double\" \\ back; DROP TABLE clients; --"
		c.RedirectURIs = []string{`https://a.example/cb?x="1"&y=[2]`, "https://b.example/π"}
		c.PostLogoutRedirectURIs = []string{`https://a.example/bye?x="1"&y=[2]`, "com.example.app:/π", "https://c.example/'quote"}
		c.BackchannelLogoutURI = `https://a.example/bc?x="1"&y=[2]&z=π`
		e.createClient(c, nil)
		assertClient(t, e.getClient(c.ID), c)
	}},
}
