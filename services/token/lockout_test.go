package token_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// agentFrom is a browser whose connections come from the loopback address
// ip.
func (e *env) agentFrom(t *testing.T, ip string) *agent {
	a := e.agent()
	a.hc.Transport = httpFrom(t, ip).Transport
	return a
}

// loginAs submits the login form as email with password from a, after
// loading the login page; it returns the answer.
func (e *env) loginAs(a *agent, email, password string) response {
	e.t.Helper()
	_, ch := pkce("lockout")
	page := a.get(e.authorizeURL(e.spa, spaRedirect, "s", ch, "prompt", "login"))
	if page.status != http.StatusOK {
		e.t.Fatalf("login page: %d %s", page.status, page.body)
	}
	f := fields(page.body)
	f.Set("email", email)
	f.Set("password", password)
	return a.post("/oauth2/login", f, issuerOrigin(e.issuer))
}

func signedInOK(r response) bool {
	return r.status == http.StatusSeeOther && strings.Contains(r.header.Get("Location"), "code=")
}

// TestNoUserLockout is checklist item 89 at the login page: wrong passwords
// for a user from many addresses slow and then refuse those addresses, and
// never the user, who still signs in from a browser that signed in before
// (device cookie) or from an address that has not failed.
func TestNoUserLockout(t *testing.T) {
	e := newEnv(t, withFlow())
	// Alice's own browser, signed in once: it holds her device cookie.
	home := e.agentFrom(t, "127.0.20.1")
	if r := e.loginAs(home, aliceEmail, alicePassword); !signedInOK(r) {
		t.Fatalf("first sign-in: %d %s", r.status, r.header.Get("Location"))
	}
	var device bool
	for _, c := range home.hc.Jar.Cookies(mustURL(t, e.issuer)) {
		device = device || c.Name == "gatehouse_dev_device"
	}
	if !device {
		t.Fatal("no device cookie after a successful sign-in")
	}

	// A stranger spends the account's budget from 25 addresses.
	var attackers []*agent
	for i := range 25 {
		a := e.agentFrom(t, fmt.Sprintf("127.0.21.%d", i+1))
		attackers = append(attackers, a)
		if r := e.loginAs(a, aliceEmail, "not the password"); r.status != http.StatusUnauthorized && r.status != http.StatusTooManyRequests {
			t.Fatalf("wrong password %d: %d", i, r.status)
		}
	}
	calls := e.users.calls.Load()
	// The attackers' addresses now get 429 before any check, even with the
	// right password...
	if r := e.loginAs(attackers[0], aliceEmail, alicePassword); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("the right password from an address that has been guessing: %d", r.status)
	}
	if e.users.calls.Load() != calls {
		t.Error("a refused attempt had its password checked")
	}
	// ...while Alice signs in from her own browser, and from a fresh one
	// at an address that has not failed.
	if r := e.loginAs(home, aliceEmail, alicePassword); !signedInOK(r) {
		t.Errorf("Alice's browser, with its device cookie: %d %s", r.status, r.body)
	}
	if r := e.loginAs(e.agentFrom(t, "127.0.22.1"), aliceEmail, alicePassword); !signedInOK(r) {
		t.Errorf("a fresh browser at a fresh address: %d %s", r.status, r.body)
	}
	// The device cookie also gets Alice past her own address's failures
	// (another tab on a shared network guessed there).
	shared := e.agentFrom(t, "127.0.23.1")
	for range 35 {
		e.loginAs(shared, "someone@example.test", "guess")
	}
	if r := e.loginAs(shared, aliceEmail, alicePassword); r.status != http.StatusTooManyRequests {
		t.Errorf("a fresh browser at a guessing address: %d, want 429", r.status)
	}
	homeOnShared := e.agentFrom(t, "127.0.23.1")
	homeOnShared.hc.Jar = home.hc.Jar
	if r := e.loginAs(homeOnShared, aliceEmail, alicePassword); !signedInOK(r) {
		t.Errorf("Alice's browser at a guessing address: %d", r.status)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
