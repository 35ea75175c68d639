package token_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/mtls"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/token"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// This file closes the open items of docs/security.md about the
// authorization_code and refresh_token grants: 43 (state of a denial), 45
// (success response of the user grants), 48 (PKCE downgrade), 49 (code
// reuse, late and concurrent), 51 (code bound to an authenticated client),
// 58 (grant allow-list with the flow served), 61 (entropy of codes and
// refresh tokens), 65 (refresh token bound to an authenticated client), 67
// (an mTLS client's refresh token), 73 (revoked tokens at introspection)
// and 76 (metadata with the flow served).

// tokenForm posts form to the token endpoint, with client_secret_basic
// when auth is set. It does not fail the test, so goroutines may call it.
func (e *env) tokenForm(form url.Values, auth *[2]string) (response, error) {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url("/oauth2/token"), strings.NewReader(form.Encode()))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != nil {
		req.Header.Set("Authorization", basicHeader(auth[0], auth[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// codeForm is an authorization_code exchange; client_id is sent unless
// the client authenticates with Basic (auth set).
func codeForm(cl registered, code, verifier, redirect string, auth bool) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	if redirect != "" {
		f.Set("redirect_uri", redirect)
	}
	if !auth {
		f.Set("client_id", cl.id)
	}
	return f
}

// busyRS is an introspector that sees every token, in the high tier so
// that the tests below never meet its request budget.
func (e *env) busyRS() registered {
	e.t.Helper()
	return e.create(&clientsv1.Client{
		Name: "Busy RS", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{token.ScopeIntrospectAll}, RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH,
	})
}

// assertInactive checks checklist item 73's answer: 200 and exactly
// {"active":false}, nothing else.
func assertInactive(t *testing.T, e *env, rs registered, tok string) {
	t.Helper()
	r := e.introspect(rs, "token="+url.QueryEscape(tok))
	if r.status != http.StatusOK || string(r.body) != `{"active":false}` {
		t.Fatalf("introspection: %d %s, want 200 and exactly {\"active\":false}", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("introspection headers %v", r.header)
	}
}

func assertActive(t *testing.T, e *env, rs registered, tok string) {
	t.Helper()
	r := e.introspect(rs, "token="+url.QueryEscape(tok))
	if r.status != http.StatusOK || r.json(t)["active"] != true {
		t.Fatalf("introspection of a live token: %d %s", r.status, r.body)
	}
}

// TestConsentDenialKeepsState is checklist item 43's denial: the user's
// "deny" goes back to the registered redirect URI as error=access_denied
// with the request's state byte for byte and iss, and no code.
func TestConsentDenialKeepsState(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	const redirect = "https://partner.example/cb"
	_, ch := pkce("deny")
	// Sign in once; every request below then goes straight to consent.
	page := a.get(e.authorizeURL(e.partnerApp, redirect, "first", ch))
	if r := a.signIn(page, alicePassword); r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name, state, decision string
	}{
		{"plain state", "xyzzy", "deny"},
		{"state with reserved and non-ASCII characters", `a b&c=d+e/f?g#h%20i"'<>é~`, "deny"},
		{"state of 1500 characters", strings.Repeat("s0-_", 375), "deny"},
		{"no decision at all", "st", ""},
		{"a decision that is not allow", "st", "Allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			consent := a.get(e.authorizeURL(e.partnerApp, redirect, tc.state, ch))
			if consent.status != http.StatusOK || !strings.Contains(string(consent.body), `action="/oauth2/consent"`) {
				t.Fatalf("consent page: %d %s", consent.status, consent.body)
			}
			f := fields(consent.body)
			if tc.decision == "" {
				f.Del("decision")
			} else {
				f.Set("decision", tc.decision)
			}
			r := a.post("/oauth2/consent", f, issuerOrigin(e.issuer))
			if r.status != http.StatusSeeOther {
				t.Fatalf("denial: %d %s", r.status, r.body)
			}
			loc := r.header.Get("Location")
			target, rawQuery, _ := strings.Cut(loc, "?")
			if target != redirect {
				t.Fatalf("redirected to %q, want the registered %s", loc, redirect)
			}
			q, err := url.ParseQuery(rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if q.Get("error") != "access_denied" || q.Get("iss") != e.issuer {
				t.Errorf("error %q iss %q, want access_denied and %s", q.Get("error"), q.Get("iss"), e.issuer)
			}
			if got := q["state"]; len(got) != 1 || got[0] != tc.state {
				t.Errorf("state %q, want exactly the request's %q", got, tc.state)
			}
			if _, has := q["code"]; has {
				t.Errorf("a denial carries a code: %s", loc)
			}
			assertPageHeaders(t, r)
		})
	}
}

// TestUserGrantResponseFormat is checklist item 45 for every grant: 200,
// Content-Type application/json, Cache-Control no-store, Pragma no-cache,
// token_type Bearer and expires_in equal to the token's lifetime, and
// exactly the members the grant issues.
func TestUserGrantResponseFormat(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	cc := basic(e.codeClient.id, e.codeClient.secret)
	// The first exchanges of each client give the refresh tokens of the
	// refresh cases.
	var publicRT, confidentialRT string

	tests := []struct {
		name    string
		do      func(t *testing.T) response
		members string
		life    int64
	}{
		{"authorization_code, public client", func(t *testing.T) response {
			v, ch := pkce("fmt-public")
			r := e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect)
			publicRT, _ = r.json(t)["refresh_token"].(string)
			return r
		}, "[access_token expires_in refresh_token scope token_type]", 600},
		{"authorization_code, confidential client", func(t *testing.T) response {
			v, ch := pkce("fmt-confidential")
			r, err := e.tokenForm(codeForm(e.codeClient, e.codeFor(a, e.codeClient, ch), v, spaRedirect, true), cc)
			if err != nil {
				t.Fatal(err)
			}
			confidentialRT, _ = r.json(t)["refresh_token"].(string)
			return r
		}, "[access_token expires_in refresh_token scope token_type]", 600},
		{"refresh_token, public client (rotated)", func(t *testing.T) response {
			if publicRT == "" {
				t.Fatal("no refresh token from the public client's exchange")
			}
			return e.refresh(e.spa, publicRT, "")
		}, "[access_token expires_in refresh_token scope token_type]", 600},
		{"refresh_token, confidential client (not rotated)", func(t *testing.T) response {
			if confidentialRT == "" {
				t.Fatal("no refresh token from the confidential client's exchange")
			}
			r, err := e.tokenForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {confidentialRT}}, cc)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, "[access_token expires_in scope token_type]", 600},
		{"client_credentials", func(*testing.T) response {
			return e.tokenFor(nil, e.partner, "")
		}, "[access_token expires_in scope token_type]", 900},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do(t)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			for h, want := range map[string]string{
				"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := r.header.Values(h); len(got) != 1 || got[0] != want {
					t.Errorf("%s %q, want exactly %q", h, got, want)
				}
			}
			m := r.json(t)
			if got := keys(m); got != tc.members {
				t.Errorf("members %s, want %s", got, tc.members)
			}
			if m["token_type"] != "Bearer" {
				t.Errorf("token_type %v, want Bearer", m["token_type"])
			}
			exp, ok := m["expires_in"].(float64)
			integer := regexp.MustCompile(fmt.Sprintf(`"expires_in":%d[,}]`, tc.life)).Match(r.body)
			if !ok || exp != float64(tc.life) || !integer {
				t.Errorf("expires_in %v, want the integer %d", m["expires_in"], tc.life)
			}
			_, claims := decodeJWT(t, m["access_token"].(string))
			if d := num(t, claims["exp"]) - num(t, claims["iat"]); d != tc.life {
				t.Errorf("the token lives %d s, expires_in says %d", d, tc.life)
			}
		})
	}
}

// storeCode writes a code of cl straight into the grant store, as the
// authorization endpoint would but with any challenge, and returns it.
func (e *env) storeCode(t *testing.T, cl registered, challenge string) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	code := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(code))
	now := e.clock.Now()
	err := e.grants.CreateCode(e.ctx, grantstore.Code{
		Hash: sum[:], ClientID: cl.id, RedirectURI: spaRedirect, Challenge: challenge, UserID: aliceID,
		Scopes: []string{"orders:read"}, FamilyID: "g_" + code[:22], AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestPKCEDowngrade is checklist item 48: a code stored without an S256
// challenge (the authorization endpoint issues none: see
// TestAuthorizeRedirectErrors/no_challenge) is refused with invalid_grant
// whatever code_verifier comes with it, and so is one whose stored
// challenge is the verifier itself (plain). On both grant stores:
// PostgreSQL exchanges a code as expected in one statement and checks any
// other.
func TestPKCEDowngrade(t *testing.T) {
	for _, be := range flowBackends {
		t.Run(be.name, func(t *testing.T) { testPKCEDowngrade(t, be.opt) })
	}
}

func testPKCEDowngrade(t *testing.T, opt envOption) {
	e := newEnv(t, opt)
	v, ch := pkce("downgrade")
	cc := basic(e.codeClient.id, e.codeClient.secret)
	tests := []struct {
		name      string
		client    registered
		auth      *[2]string
		challenge string
		verifier  string
		status    int
	}{
		{"no challenge, public client", e.spa, nil, "", v, 400},
		{"no challenge, confidential client", e.codeClient, cc, "", v, 400},
		{"no challenge, the shortest verifier", e.spa, nil, "", strings.Repeat("a", 43), 400},
		{"no challenge, the longest verifier", e.spa, nil, "", strings.Repeat("~", 128), 400},
		{"plain challenge, verifier equal to it", e.spa, nil, v, v, 400},
		// The same code written the same way with its S256 challenge is
		// redeemed: the refusals above are the downgrade's.
		{"S256 challenge (control)", e.spa, nil, ch, v, 200},
		{"S256 challenge, confidential client (control)", e.codeClient, cc, ch, v, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := e.storeCode(t, tc.client, tc.challenge)
			r, err := e.tokenForm(codeForm(tc.client, code, tc.verifier, spaRedirect, tc.auth != nil), tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == 200 {
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			assertOAuthError(t, r, tc.status, "invalid_grant")
		})
	}
}

// pausingGrants pauses the first code exchange inside its transaction,
// when the code is spent and its grant about to be stored, until the test
// lets it go on. It wraps the check, which a SQLite store always runs
// inside the transaction.
type pausingGrants struct {
	grantstore.Store
	armed   atomic.Bool
	entered chan struct{}
	proceed chan struct{}
}

func (p *pausingGrants) ExchangeCode(ctx context.Context, hash []byte, now time.Time, x *grantstore.CodeExchange) (grantstore.Code, error) {
	paused := *x
	paused.Check = func(c grantstore.Code) error {
		if p.armed.CompareAndSwap(true, false) {
			close(p.entered)
			<-p.proceed
		}
		return x.Check(c)
	}
	return p.Store.ExchangeCode(ctx, hash, now, &paused)
}

// TestCodeReplay is checklist item 49: a code presented again, at once or
// later (the clock is the service's, moved by hand), is invalid_grant and
// revokes what its first redemption issued: the access token is inactive
// at introspection and the refresh token refused. Of concurrent
// redemptions exactly one issues tokens, and a replay that lands while the
// first redemption is still being stored waits for it, then revokes it.
func TestCodeReplay(t *testing.T) {
	pause := &pausingGrants{entered: make(chan struct{}), proceed: make(chan struct{})}
	e := newEnv(t, withGrantsWrapper(func(s grantstore.Store) grantstore.Store { pause.Store = s; return pause }))
	a := e.agent()
	rs := e.busyRS()

	for i, delay := range []time.Duration{0, time.Second, 30 * time.Second, 90 * time.Second} {
		name := "replay after " + delay.String()
		if delay == 0 {
			name = "replay at once"
		}
		t.Run(name, func(t *testing.T) {
			v, ch := pkce(fmt.Sprintf("replay%d", i))
			code := e.codeFor(a, e.spa, ch)
			first := e.exchange(e.spa, code, v, spaRedirect)
			if first.status != http.StatusOK {
				t.Fatalf("first redemption: %d %s", first.status, first.body)
			}
			tok := first.json(t)
			at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
			assertActive(t, e, rs, at)

			e.clock.Advance(delay)
			assertOAuthError(t, e.exchange(e.spa, code, v, spaRedirect), http.StatusBadRequest, "invalid_grant")
			assertInactive(t, e, rs, at)
			assertOAuthError(t, e.refresh(e.spa, rt, ""), http.StatusBadRequest, "invalid_grant")
			_, claims := decodeJWT(t, at)
			if !e.revokedKind(revocationv1.Kind_KIND_REFRESH_FAMILY, claims[token.FamilyClaim].(string)) {
				t.Error("the grant is not in the revocation list")
			}
		})
	}

	t.Run("concurrent redemptions", func(t *testing.T) {
		for round, n := range []int{2, 2, 2, 8, 8} {
			v, ch := pkce(fmt.Sprintf("race%d", round))
			code := e.codeFor(a, e.spa, ch)
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				got   = make([]response, n)
				errs  = make([]error, n)
			)
			for i := range n {
				wg.Go(func() {
					<-start
					got[i], errs[i] = e.tokenForm(codeForm(e.spa, code, v, spaRedirect, false), nil)
				})
			}
			close(start)
			wg.Wait()
			var won []response
			for i, r := range got {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if r.status == http.StatusOK {
					won = append(won, r)
					continue
				}
				assertOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
			}
			// Exactly one redemption wins (checklist item 92); the
			// replays, all after it, then revoke what it got.
			if len(won) != 1 {
				t.Fatalf("%d of %d concurrent redemptions of one code succeeded, want exactly 1", len(won), n)
			}
			tok := won[0].json(t)
			assertInactive(t, e, rs, tok["access_token"].(string))
			assertOAuthError(t, e.refresh(e.spa, tok["refresh_token"].(string), ""), http.StatusBadRequest, "invalid_grant")
		}
	})

	t.Run("replay while the first redemption is being stored", func(t *testing.T) {
		v, ch := pkce("inflight")
		code := e.codeFor(a, e.spa, ch)
		pause.armed.Store(true)
		var release sync.Once
		defer release.Do(func() { close(pause.proceed) }) // never leave the redemption blocked
		type result struct {
			r   response
			err error
		}
		done := make(chan result, 1)
		go func() {
			r, err := e.tokenForm(codeForm(e.spa, code, v, spaRedirect, false), nil)
			done <- result{r, err}
		}()
		select {
		case <-pause.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the first redemption never reached its grant")
		}
		// The code is spent in the first's open transaction: the replay
		// waits for it.
		replay := make(chan response, 1)
		go func() { replay <- e.exchange(e.spa, code, v, spaRedirect) }()
		select {
		case r := <-replay:
			t.Fatalf("the replay did not wait for the first redemption: %d %s", r.status, r.body)
		case <-time.After(200 * time.Millisecond):
		}
		release.Do(func() { close(pause.proceed) })
		first := <-done
		if first.err != nil {
			t.Fatal(first.err)
		}
		if first.r.status != http.StatusOK {
			t.Fatalf("the first redemption: %d %s", first.r.status, first.r.body)
		}
		assertOAuthError(t, <-replay, http.StatusBadRequest, "invalid_grant")
		tok := first.r.json(t)
		assertInactive(t, e, rs, tok["access_token"].(string))
		if r := e.refresh(e.spa, tok["refresh_token"].(string), ""); r.status != http.StatusBadRequest {
			t.Fatalf("the first redemption's refresh token outlived the replay: %d %s", r.status, r.body)
		}
	})
}

// TestCodeBoundToClientAndRedirect is checklist item 51: a code is
// redeemed only by the client it was issued to — another client that
// authenticates correctly gets invalid_grant, not invalid_client — and
// only with the redirect_uri of its authorization request.
func TestCodeBoundToClientAndRedirect(t *testing.T) {
	for _, be := range flowBackends {
		t.Run(be.name, func(t *testing.T) { testCodeBoundToClientAndRedirect(t, be.opt) })
	}
}

func testCodeBoundToClientAndRedirect(t *testing.T, opt envOption) {
	e := newEnv(t, opt)
	a := e.agent()
	spa2 := e.create(&clientsv1.Client{
		Name: "SPA 2", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{spaRedirect}, Scopes: []string{"orders:read", "orders:write"},
	})
	web2 := e.create(&clientsv1.Client{
		Name: "Web app 2", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{spaRedirect}, Scopes: []string{"orders:read"},
	})
	tests := []struct {
		name      string
		owner     registered // the code is issued to it
		presenter registered // and redeemed by it
		auth      bool       // presenter authenticates with Basic
		redirect  string
		ok        bool
	}{
		{"the public client itself (control)", e.spa, e.spa, false, spaRedirect, true},
		{"the confidential client itself (control)", e.codeClient, e.codeClient, true, spaRedirect, true},
		{"public client's code, authenticated confidential client", e.spa, e.codeClient, true, spaRedirect, false},
		{"public client's code, another public client", e.spa, spa2, false, spaRedirect, false},
		{"confidential client's code, another authenticated confidential client", e.codeClient, web2, true, spaRedirect, false},
		{"confidential client's code, a public client", e.codeClient, e.spa, false, spaRedirect, false},
		{"another registered redirect_uri", e.spa, e.spa, false, "http://127.0.0.1:49152/cb", false},
		{"redirect_uri with a trailing slash", e.spa, e.spa, false, spaRedirect + "/", false},
		{"redirect_uri in another case", e.spa, e.spa, false, "https://APP.example/cb", false},
		{"redirect_uri missing", e.spa, e.spa, false, "", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ch := pkce(fmt.Sprintf("bind%d", i))
			code := e.codeFor(a, tc.owner, ch)
			var auth *[2]string
			if tc.auth {
				auth = basic(tc.presenter.id, tc.presenter.secret)
			}
			r, err := e.tokenForm(codeForm(tc.presenter, code, v, tc.redirect, tc.auth), auth)
			if err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				if r.status != http.StatusOK {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			assertOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
		})
	}
}

// TestGrantAllowListWithFlow is checklist item 58 with the
// authorization-code flow served: a client registered for
// client_credentials only asking the user grants, and a public client
// asking client_credentials, are unauthorized_client — even a public
// client whose record lists client_credentials behind the registry's
// back (RFC 6749 §4.4: confidential clients only).
func TestGrantAllowListWithFlow(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	v, ch := pkce("allowlist")
	code := e.codeFor(a, e.spa, ch)
	// A public client the registry would refuse to register so: its
	// record is edited in the store directly.
	rogue := e.create(&clientsv1.Client{
		Name: "Public with client_credentials", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true,
		GrantTypes: []string{"authorization_code"}, RedirectUris: []string{spaRedirect}, Scopes: []string{"orders:read"},
	})
	if _, err := e.store.UpdateClient(e.ctx, rogue.id, func(c *clients.Client) error {
		c.GrantTypes = append(c.GrantTypes, "client_credentials")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p := basic(e.partner.id, e.partner.secret)
	tests := []struct {
		name   string
		form   url.Values
		auth   *[2]string
		status int
		code   string
	}{
		{"58 client_credentials-only client asks authorization_code", codeForm(e.partner, code, v, spaRedirect, true), p, 400, "unauthorized_client"},
		{"58 client_credentials-only client asks refresh_token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, p, 400, "unauthorized_client"},
		{"58 authorization_code-only client asks refresh_token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}},
			basic(e.partnerApp.id, e.partnerApp.secret), 400, "unauthorized_client"},
		{"58 public client sends client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.spa.id}}, nil, 400, "unauthorized_client"},
		{"58 public client sends client_credentials with a secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.spa.id}, "client_secret": {"guess"}}, nil, 401, "invalid_client"},
		{"58 public client registered for client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {rogue.id}}, nil, 400, "unauthorized_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.tokenForm(tc.form, tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			assertOAuthError(t, r, tc.status, tc.code)
		})
	}
	// The code was not spent by the refusals: its own client redeems it.
	if r := e.exchange(e.spa, code, v, spaRedirect); r.status != http.StatusOK {
		t.Fatalf("the SPA's own exchange after the refusals: %d %s", r.status, r.body)
	}
}

// checkSecrets is checklist item 61 for opaque secrets: each of the n
// samples is 43 base64url characters holding 256 bits (at least 128), no
// two are equal, every position but the last (4 bits) uses nearly all 64
// symbols, and the symbols are spread evenly.
func checkSecrets(t *testing.T, what string, samples []string) {
	t.Helper()
	n := len(samples)
	seen := make(map[string]bool, n)
	perPos := make([]map[byte]bool, 43)
	for i := range perPos {
		perPos[i] = map[byte]bool{}
	}
	counts := map[byte]int{}
	for _, s := range samples {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if len(s) != 43 || err != nil || len(b) != 32 {
			t.Fatalf("%s %q: want 43 base64url characters of 32 bytes (256 bits)", what, s)
		}
		if seen[s] {
			t.Fatalf("%s %q issued twice in %d", what, s, n)
		}
		seen[s] = true
		for i := range 43 {
			perPos[i][s[i]] = true
			if i < 42 {
				counts[s[i]]++
			}
		}
	}
	// A position is a fresh 6-bit draw each time: over 1000 samples a
	// symbol is missing with probability (63/64)^1000, about 1.5e-7.
	for i, set := range perPos[:42] {
		if len(set) < 56 {
			t.Errorf("%s position %d takes %d distinct symbols over %d samples, want nearly 64", what, i, len(set), n)
		}
	}
	if len(perPos[42]) < 12 {
		t.Errorf("%s last position takes %d of its 16 symbols", what, len(perPos[42]))
	}
	// 42n symbols over 64: about 656 each for n = 1000, sd about 25.
	mean := float64(42*n) / 64
	for c, k := range counts {
		if float64(k) < 0.7*mean || float64(k) > 1.3*mean {
			t.Errorf("%s symbol %q appears %d times, about %.0f expected: not uniform", what, c, k, mean)
		}
	}
	if len(counts) != 64 {
		t.Errorf("%s uses %d of the 64 base64url symbols", what, len(counts))
	}
}

// TestCodeAndRefreshTokenEntropy is checklist item 61 for authorization
// codes and refresh tokens as issued: 1000 of each.
func TestCodeAndRefreshTokenEntropy(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	const n = 1000
	_, ch := pkce("entropy")
	codes := make([]string, 0, n)
	for range n {
		codes = append(codes, e.codeFor(a, e.spa, ch))
	}
	checkSecrets(t, "authorization code", codes)

	v, ch := pkce("entropy-rt")
	r := e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect)
	rt, _ := r.json(t)["refresh_token"].(string)
	rts := []string{rt}
	for len(rts) < n {
		// Within the client's budget of 50 requests a second.
		e.clock.Advance(25 * time.Millisecond)
		r := e.refresh(e.spa, rts[len(rts)-1], "")
		if r.status != http.StatusOK {
			t.Fatalf("refresh %d: %d %s", len(rts), r.status, r.body)
		}
		rts = append(rts, r.json(t)["refresh_token"].(string))
	}
	checkSecrets(t, "refresh token", rts)
}

// TestRefreshTokenBoundToClient is checklist item 65: a refresh token is
// refused with invalid_grant to any client but its own, even one that
// authenticates correctly, and changes nothing; a confidential client's
// token without the client's authentication is invalid_client.
func TestRefreshTokenBoundToClient(t *testing.T) {
	for _, be := range flowBackends {
		t.Run(be.name, func(t *testing.T) { testRefreshTokenBoundToClient(t, be.opt) })
	}
}

func testRefreshTokenBoundToClient(t *testing.T, opt envOption) {
	e := newEnv(t, opt)
	a := e.agent()
	spa2 := e.create(&clientsv1.Client{
		Name: "SPA 2", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{spaRedirect}, Scopes: []string{"orders:read", "orders:write"},
	})
	web2 := e.create(&clientsv1.Client{
		Name: "Web app 2", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{spaRedirect}, Scopes: []string{"orders:read"},
	})
	cc := basic(e.codeClient.id, e.codeClient.secret)
	v, ch := pkce("bound-public")
	publicRT := e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect).json(t)["refresh_token"].(string)
	v, ch = pkce("bound-confidential")
	r, err := e.tokenForm(codeForm(e.codeClient, e.codeFor(a, e.codeClient, ch), v, spaRedirect, true), cc)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("exchange: %v %d %s", err, r.status, r.body)
	}
	confidentialRT := r.json(t)["refresh_token"].(string)

	refresh := func(rt string, id string) url.Values {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if id != "" {
			f.Set("client_id", id)
		}
		return f
	}
	tests := []struct {
		name   string
		form   url.Values
		auth   *[2]string
		status int
		code   string
	}{
		{"public client's token, authenticated confidential client", refresh(publicRT, ""), cc, 400, "invalid_grant"},
		{"public client's token, another public client", refresh(publicRT, spa2.id), nil, 400, "invalid_grant"},
		{"confidential client's token, another authenticated confidential client", refresh(confidentialRT, ""), basic(web2.id, web2.secret), 400, "invalid_grant"},
		{"confidential client's token, a public client", refresh(confidentialRT, e.spa.id), nil, 400, "invalid_grant"},
		{"confidential client's token, its client_id without authentication", refresh(confidentialRT, e.codeClient.id), nil, 401, "invalid_client"},
		{"confidential client's token, its client_id and a wrong secret", refresh(confidentialRT, ""), basic(e.codeClient.id, "wrong"), 401, "invalid_client"},
		{"confidential client's token, no client at all", refresh(confidentialRT, ""), nil, 401, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.tokenForm(tc.form, tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			assertOAuthError(t, r, tc.status, tc.code)
		})
	}
	// The attempts changed nothing: each token still works for its own
	// client (the public one is rotated, so it was not retired either).
	if r := e.refresh(e.spa, publicRT, ""); r.status != http.StatusOK {
		t.Errorf("the SPA's own refresh after the refusals: %d %s", r.status, r.body)
	}
	if r, err := e.tokenForm(refresh(confidentialRT, ""), cc); err != nil || r.status != http.StatusOK {
		t.Errorf("the web app's own refresh after the refusals: %v %d %s", err, r.status, r.body)
	}
}

// TestIntrospectRevokedIsOnlyActiveFalse is checklist item 73 for revoked
// and unknown tokens: each was active (or is no token at all) and is then
// answered exactly {"active":false}, no other member.
func TestIntrospectRevokedIsOnlyActiveFalse(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	rs := e.busyRS()
	var spaRT string
	tests := []struct {
		name string
		// live returns a token active now; kill makes it inactive (nil
		// for a string that never was a token).
		live func(t *testing.T) string
		kill func(t *testing.T, tok string)
	}{
		{"access token revoked by its client (RFC 7009)", func(*testing.T) string {
			return e.accessToken(e.partner, "")
		}, func(t *testing.T, tok string) {
			assertEmpty200(t, e.revokeAs(e.partner, "token="+tok))
		}},
		{"access token whose refresh token was revoked (RFC 7009)", func(t *testing.T) string {
			v, ch := pkce("introspect-rt")
			m := e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect).json(t)
			spaRT = m["refresh_token"].(string)
			return m["access_token"].(string)
		}, func(t *testing.T, _ string) {
			// The SPA is public: client_id alone at the revocation endpoint.
			assertEmpty200(t, e.do(nil, request{path: "/oauth2/revoke", body: "token=" + spaRT + "&client_id=" + e.spa.id}))
		}},
		{"access token whose user signed out", func(t *testing.T) string {
			v, ch := pkce("introspect-logout")
			return e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect).json(t)["access_token"].(string)
		}, func(t *testing.T, _ string) {
			lf := fields(a.get(e.url("/oauth2/logout")).body)
			if r := a.post("/oauth2/logout", lf, issuerOrigin(e.issuer)); r.status != http.StatusOK {
				t.Fatalf("sign-out: %d", r.status)
			}
		}},
		{"a refresh token (not an access token)", func(t *testing.T) string {
			v, ch := pkce("introspect-opaque")
			return e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect).json(t)["refresh_token"].(string)
		}, nil},
		{"an authorization code", func(t *testing.T) string {
			_, ch := pkce("introspect-code")
			return e.codeFor(a, e.spa, ch)
		}, nil},
		{"an unknown opaque string", func(*testing.T) string { return strings.Repeat("Zm9v", 11) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.live(t)
			if tc.kill != nil {
				assertActive(t, e, rs, tok)
				tc.kill(t, tok)
			}
			assertInactive(t, e, rs, tok)
		})
	}
}

// TestMetadataWithFlow is checklist item 76 with the authorization-code
// flow served: code only, S256 only, no password or implicit grant, iss in
// authorization responses, and none for the public clients at the token
// and revocation endpoints (not at introspection, which refuses them).
func TestMetadataWithFlow(t *testing.T) {
	e := newEnv(t, withFlow())
	r := e.do(nil, request{method: http.MethodGet, ctype: "-", path: "/.well-known/oauth-authorization-server"})
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := r.json(t)
	list := func(k string) []string {
		v, ok := m[k].([]any)
		if !ok {
			t.Fatalf("%s is %v, want a list", k, m[k])
		}
		return strs(v)
	}
	for k, want := range map[string][]string{
		"response_types_supported":                      {"code"},
		"code_challenge_methods_supported":              {"S256"},
		"grant_types_supported":                         {"authorization_code", "client_credentials", "refresh_token"},
		"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
	} {
		if got := list(k); !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, g := range list("grant_types_supported") {
		if g == "password" || g == "implicit" {
			t.Errorf("grant_types_supported lists %s", g)
		}
	}
	if m["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("authorization_response_iss_parameter_supported = %v, want true", m["authorization_response_iss_parameter_supported"])
	}
	if m["authorization_endpoint"] != e.issuer+"/oauth2/authorize" {
		t.Errorf("authorization_endpoint = %v", m["authorization_endpoint"])
	}
	// What is listed is honoured: none at the token endpoint (the code
	// flow of a public client), and a public client is refused at
	// introspection, where none is not listed.
	a := e.agent()
	v, ch := pkce("metadata")
	if r := e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect); r.status != http.StatusOK {
		t.Errorf("none at the token endpoint: %d %s", r.status, r.body)
	}
	r = e.do(nil, request{path: "/oauth2/introspect", body: "token=x&client_id=" + e.spa.id})
	assertOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
}

// TestMTLSRefreshTokenNeedsTheCertificate is checklist item 67: a refresh
// token issued to a tls_client_auth client is refused without the
// client's certificate — over TLS without one, over plain HTTP, with
// another trusted certificate — and to another mTLS client with its own.
func TestMTLSRefreshTokenNeedsTheCertificate(t *testing.T) {
	ca := newTestCA(t, "Partner CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	trust := mtls.NewTrust(pool, nil)
	e := newEnv(t, withFlow(), withClientCerts(trust))
	m := e.mtlsServer(t, trust)
	certA := leaf(t, ca, pkix.Name{CommonName: "mtls-web", Organization: []string{"Test"}})
	certB := leaf(t, ca, pkix.Name{CommonName: "mtls-other", Organization: []string{"Test"}})
	mk := func(name, cn string) registered {
		return e.create(&clientsv1.Client{
			Name: name, Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"authorization_code", "refresh_token"},
			RedirectUris: []string{spaRedirect}, Scopes: []string{"orders:read"}, TokenEndpointAuthMethod: "tls_client_auth",
			TlsClientAuth:       &clientsv1.TLSClientAuth{SubjectDn: "CN=" + cn + ",O=Test", BoundAccessTokens: true},
			AccessTokenLifetime: durationpb.New(5 * time.Minute),
		})
	}
	web, other := mk("mTLS web app", "mtls-web"), mk("Other mTLS app", "mtls-other")

	a := e.agent()
	v, ch := pkce("mtls-refresh")
	code := e.codeFor(a, web, ch)
	status, body, err := m.token(t, &certA, codeForm(web, code, v, spaRedirect, false), nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("exchange with the certificate: %d %v %v", status, body, err)
	}
	rt, _ := body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token: %v", body)
	}
	_, claims := decodeJWT(t, body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprintOf(certA) {
		t.Errorf("the code's access token: cnf %v, want x5t#S256 of the client's certificate", claims["cnf"])
	}
	form := func(id string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {id}}
	}

	for _, tc := range []struct {
		name   string
		do     func() (int, map[string]any)
		status int
		code   string
	}{
		{"over TLS without a certificate", func() (int, map[string]any) {
			s, b, _ := m.token(t, nil, form(web.id), nil)
			return s, b
		}, 401, "invalid_client"},
		{"over plain HTTP", func() (int, map[string]any) {
			r := e.do(nil, request{path: "/oauth2/token", body: form(web.id).Encode()})
			return r.status, r.json(t)
		}, 401, "invalid_client"},
		{"with another trusted certificate", func() (int, map[string]any) {
			s, b, _ := m.token(t, &certB, form(web.id), nil)
			return s, b
		}, 401, "invalid_client"},
		{"another mTLS client with its own certificate", func() (int, map[string]any) {
			s, b, _ := m.token(t, &certB, form(other.id), nil)
			return s, b
		}, 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.do()
			if status != tc.status || body["error"] != tc.code || body["access_token"] != nil {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}

	// With the certificate the token works, and the new access token is
	// bound to it.
	status, body, err = m.token(t, &certA, form(web.id), nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("refresh with the certificate: %d %v %v", status, body, err)
	}
	_, claims = decodeJWT(t, body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprintOf(certA) {
		t.Fatalf("the refreshed access token: cnf %v, want x5t#S256 of the client's certificate", claims["cnf"])
	}
}
