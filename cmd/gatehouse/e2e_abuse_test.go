package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"golang.org/x/oauth2"
)

// The attacks below run from many loopback addresses (127.0.0.0/8 all
// reaches the server's 127.0.0.1 listener; the client binds its source
// address), at a fixed pace and for a fixed time: every loop is bounded.
const (
	attackAddresses = 50
	attackRate      = 10 // wrong credentials a second, over all addresses
	attackFor       = 10 * time.Second
)

// peer is an HTTP client whose connections leave from one loopback
// address, with its own cookies, that never follows a redirect.
type peer struct {
	hc     *http.Client
	origin string
}

func newPeer(t *testing.T, s *server, ip string) *peer {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &peer{
		hc: &http.Client{
			Jar: jar, Transport: tr, Timeout: 20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		origin: "http://" + s.creds.HTTPAddr,
	}
}

type reply struct {
	status     int
	location   string
	retryAfter string
	body       string
}

func (p *peer) do(req *http.Request) (reply, error) {
	resp, err := p.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Retry-After"), string(b)}, err
}

func (p *peer) postForm(path string, form url.Values, header func(*http.Request)) (reply, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, p.origin+path, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if header != nil {
		header(req)
	}
	return p.do(req)
}

// token asks for a client-credentials token: the status.
func (p *peer) token(id, secret string) (int, error) {
	r, err := p.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, func(req *http.Request) {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	})
	return r.status, err
}

// loginForm fetches the login page of an authorization request: its form.
func (p *peer) loginForm(authURL string) (url.Values, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	r, err := p.do(req)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK || !strings.Contains(r.body, `action="/oauth2/login"`) {
		return nil, fmt.Errorf("authorize: %d, no login form", r.status)
	}
	return formFields(r.body), nil
}

// login submits the form: the reply, a 303 to the client on success.
func (p *peer) login(form url.Values, email, password string) (reply, error) {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("email", email)
	f.Set("password", password)
	return p.postForm("/oauth2/login", f, func(req *http.Request) { req.Header.Set("Origin", p.origin) })
}

// loginRefused is a sign-in that did not reach the client.
type loginRefused struct{ reply }

func (e *loginRefused) Error() string {
	return fmt.Sprintf("login: %d %q (Retry-After %q)", e.status, e.location, e.retryAfter)
}

// tally counts statuses from many goroutines.
type tally struct {
	mu     sync.Mutex
	counts map[int]int
	errs   []error
}

func (c *tally) add(status int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	if c.counts == nil {
		c.counts = map[int]int{}
	}
	c.counts[status]++
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%v (errors %v)", c.counts, c.errs)
}

func (c *tally) only(statuses ...int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		return false
	}
	for s := range c.counts {
		ok := false
		for _, want := range statuses {
			ok = ok || s == want
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c *tally) count(status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[status]
}

// spray sends attackRate attempts a second for attackFor, each from the
// next of attackAddresses addresses 127.0.<octet>.1..50, and waits for
// the answers.
func spray(t *testing.T, s *server, octet int, attempt func(p *peer) (int, error)) *tally {
	t.Helper()
	peers := make([]*peer, attackAddresses)
	for i := range peers {
		peers[i] = newPeer(t, s, fmt.Sprintf("127.0.%d.%d", octet, i+1))
	}
	res := &tally{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / attackRate)
	defer tick.Stop()
	for i := range int(attackFor.Seconds()) * attackRate {
		<-tick.C
		wg.Add(1)
		go func(p *peer) {
			defer wg.Done()
			res.add(attempt(p))
		}(peers[i%len(peers)])
	}
	wg.Wait()
	return res
}

// randomAPIKey is a well-formed API key nobody issued.
func randomAPIKey(t *testing.T) string {
	t.Helper()
	k, err := apikey.New()
	if err != nil {
		t.Fatal(err)
	}
	return k.String()
}

// plainBinary is gatehouse built without the race detector, for the
// attacks: it makes argon2id (the login page's cost) several times slower,
// and a password attack's outcome depends on how many checks the server
// gets through. The other end-to-end tests keep the race-detecting build.
var plainBinary = sync.OnceValues(func() (string, error) {
	// Next to the race-detecting build, removed with it.
	bin := filepath.Join(filepath.Dir(binary), "gatehouse-plain")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// TestEndToEndNoLockout attacks the binary as a stranger who knows a
// client_id and a user's email would: wrong secrets and passwords from 50
// addresses at 10 a second, and a guesser hammering from one address. The
// owners keep signing in and getting tokens the whole time, from their
// own address and from the guesser's (checklist item 89); a guesser's
// correct guess is not answered.
func TestEndToEndNoLockout(t *testing.T) {
	bin, err := plainBinary()
	if err != nil {
		t.Fatal(err)
	}
	// A short API-key cache, so that the REST attack below outlasts it.
	s := startBinary(t, bin, t.TempDir(), "--example-inventory", "--apikey-cache-ttl", "1s")

	t.Run("client secret", func(t *testing.T) {
		var victim, neighbour createdClient
		s.cliJSON(t, &victim, "clients", "create", "--name", "Victim", "--type", "third_party",
			"--grant-types", "client_credentials", "--scopes", "inventory:read")
		s.cliJSON(t, &neighbour, "clients", "create", "--name", "Neighbour", "--type", "third_party",
			"--grant-types", "client_credentials", "--scopes", "inventory:read")
		leaks.add("client secret", victim.ClientSecret)
		leaks.add("client secret", neighbour.ClientSecret)

		// A guesser at 127.0.3.1 spends its budget on the victim's
		// client_id, then one on a client_id nobody has; the neighbour
		// shares that address (a NAT).
		guesser := newPeer(t, s, "127.0.3.1")
		var guesses tally
		for i := range 45 {
			id := victim.ClientID
			if i >= 15 {
				id = "no-such-client"
			}
			guesses.add(guesser.token(id, "wrong-secret"))
		}
		if !guesses.only(http.StatusUnauthorized, http.StatusTooManyRequests) || guesses.count(http.StatusTooManyRequests) == 0 {
			t.Fatalf("guesser's wrong secrets: %s, want 401s then 429s", &guesses)
		}
		if st, err := guesser.token(victim.ClientID, victim.ClientSecret); err != nil || st == http.StatusOK {
			t.Fatalf("the guesser's correct guess: %d %v, want it refused", st, err)
		}

		owner := newPeer(t, s, "127.0.0.2")
		behindNAT := newPeer(t, s, "127.0.3.1")
		var good, nat tally
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					good.add(owner.token(victim.ClientID, victim.ClientSecret))
					nat.add(behindNAT.token(neighbour.ClientID, neighbour.ClientSecret))
				}
			}
		}()
		attack := spray(t, s, 1, func(p *peer) (int, error) { return p.token(victim.ClientID, "wrong-secret") })
		close(done)
		wg.Wait()

		if !attack.only(http.StatusUnauthorized, http.StatusTooManyRequests) || attack.count(http.StatusTooManyRequests) == 0 {
			t.Errorf("the attack's wrong secrets: %s, want 401s and, once the client's budget is spent, 429s", attack)
		}
		if !good.only(http.StatusOK) || good.count(http.StatusOK) < 20 {
			t.Errorf("the owner during the attack: %s, want every request answered 200", &good)
		}
		if !nat.only(http.StatusOK) || nat.count(http.StatusOK) < 20 {
			t.Errorf("a client behind the guessing address: %s, want every request answered 200", &nat)
		}
		t.Logf("attack %s; owner %s; neighbour behind the guesser %s", attack, &good, &nat)
	})

	t.Run("REST validator", func(t *testing.T) {
		var app createdClient
		var key createdKey
		s.cliJSON(t, &app, "clients", "create", "--name", "Reader", "--type", "third_party",
			"--grant-types", "client_credentials", "--scopes", "inventory:read")
		s.cliJSON(t, &key, "apikeys", "create", "--client", app.ClientID, "--scopes", "inventory:read")
		leaks.add("client secret", app.ClientSecret)
		leaks.add("API key", key.APIKey)
		get := func(p *peer, authz string) (int, error) {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, p.origin+"/v1/inventory/items", nil)
			if err != nil {
				return 0, err
			}
			req.Header.Set("Authorization", authz)
			r, err := p.do(req)
			return r.status, err
		}
		form := url.Values{"grant_type": {"client_credentials"}}
		home := newPeer(t, s, "127.0.0.2")
		r, err := home.postForm("/oauth2/token", form, func(req *http.Request) { req.SetBasicAuth(app.ClientID, app.ClientSecret) })
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("token: %d %v", r.status, err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(r.body), &tok); err != nil {
			t.Fatal(err)
		}
		// The key works, and this server has seen it.
		if st, err := get(home, "ApiKey "+key.APIKey); st != http.StatusOK {
			t.Fatalf("the API key: %d %v", st, err)
		}

		// A guesser at 127.0.9.1 sends made-up API keys until its address
		// is over budget.
		guesser := newPeer(t, s, "127.0.9.1")
		var guesses tally
		for range 40 {
			guesses.add(get(guesser, "ApiKey "+randomAPIKey(t)))
		}
		if !guesses.only(http.StatusUnauthorized, http.StatusTooManyRequests) || guesses.count(http.StatusTooManyRequests) == 0 {
			t.Fatalf("made-up API keys: %s, want 401s then 429s", &guesses)
		}
		time.Sleep(1500 * time.Millisecond) // the key's cache entry expires
		// Good callers behind the same address (a NAT) keep working: a
		// JWT, and the API key (known to this server, its cache entry
		// gone); the guesser's next made-up key is still refused.
		nat := newPeer(t, s, "127.0.9.1")
		for name, authz := range map[string]string{"access token": "Bearer " + tok.AccessToken, "API key": "ApiKey " + key.APIKey} {
			if st, err := get(nat, authz); st != http.StatusOK {
				t.Errorf("%s behind the guessing address: %d %v", name, st, err)
			}
		}
		if st, err := get(guesser, "ApiKey "+randomAPIKey(t)); st != http.StatusTooManyRequests {
			t.Errorf("the guesser's next key: %d %v, want 429", st, err)
		}
	})

	t.Run("password", func(t *testing.T) {
		const email, password = "grace@example.test", "a password only grace knows"
		const otherEmail, otherPassword = "linus@example.test", "linus has a password too"
		s.createUser(t, email, password)
		s.createUser(t, otherEmail, otherPassword)
		var app createdClient
		s.cliJSON(t, &app, "clients", "create", "--name", "Web app", "--type", "first_party", "--public",
			"--grant-types", "authorization_code", "--redirect-uris", "http://127.0.0.1:1/callback",
			"--scopes", "openid")
		cfg := &oauth2.Config{
			ClientID:    app.ClientID,
			Endpoint:    oauth2.Endpoint{AuthURL: "http://" + s.creds.HTTPAddr + "/oauth2/authorize"},
			RedirectURL: "http://127.0.0.1:1/callback",
			Scopes:      []string{"openid"},
		}
		authURL := func() string {
			return cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("nonce", "n"))
		}
		// signIn is a whole sign-in: nil when it reached the client with
		// a code, a *loginRefused when the login page said no.
		signIn := func(p *peer, email, pw string) error {
			form, err := p.loginForm(authURL())
			if err != nil {
				return err
			}
			r, err := p.login(form, email, pw)
			if err != nil {
				return err
			}
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, cfg.RedirectURL+"?code=") {
				return &loginRefused{r}
			}
			return nil
		}

		// The owner's browser signed in once before: it holds the
		// account's device cookie. Its sessions are dropped so that every
		// sign-in below goes through the password.
		home := newPeer(t, s, "127.0.0.2")
		if err := signIn(home, email, password); err != nil {
			t.Fatalf("first sign-in: %v", err)
		}
		origin, _ := url.Parse(home.origin)
		var device []*http.Cookie
		for _, c := range home.hc.Jar.Cookies(origin) {
			if strings.Contains(c.Name, "device") {
				device = append(device, c)
			}
		}
		if len(device) != 1 {
			t.Fatalf("cookies after sign-in: %v, want one device cookie", home.hc.Jar.Cookies(origin))
		}

		// A guesser at 127.0.5.1 fails until its budget for the account is
		// spent for a while; its correct guess is then not checked.
		guesser := newPeer(t, s, "127.0.5.1")
		form, err := guesser.loginForm(authURL())
		if err != nil {
			t.Fatal(err)
		}
		var guesses tally
		for range 40 {
			r, err := guesser.login(form, email, "not-the-password")
			guesses.add(r.status, err)
			// A failure's answer waits a second: a Retry-After of 4 leaves
			// the guess below well inside the refusal.
			if secs, _ := strconv.Atoi(r.retryAfter); r.status == http.StatusTooManyRequests && secs >= 4 {
				break
			}
		}
		if !guesses.only(http.StatusUnauthorized, http.StatusTooManyRequests) || guesses.count(http.StatusTooManyRequests) == 0 {
			t.Fatalf("guesser's wrong passwords: %s, want 401s then 429s", &guesses)
		}
		if r, err := guesser.login(form, email, password); err != nil || r.status != http.StatusTooManyRequests {
			t.Fatalf("the guesser's correct guess: %d %q %v, want 429", r.status, r.location, err)
		}

		// During the attack, each in its own loop: the owner signs in
		// with the device cookie from the guesser's own address (a shared
		// NAT); another user signs in from a fresh address; and the owner
		// tries from a fresh address, without the cookie.
		var withCookie, bystander, fresh tally
		done := make(chan struct{})
		var wg sync.WaitGroup
		each := func(octet int, try func(p *peer) error, res *tally, mayWait bool) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 1; n <= 250; n++ {
					select {
					case <-done:
						return
					case <-time.After(300 * time.Millisecond):
					}
					p := newPeer(t, s, fmt.Sprintf("127.0.%d.%d", octet, n))
					if octet == 5 {
						p = newPeer(t, s, "127.0.5.1")
						p.hc.Jar.SetCookies(origin, device)
					}
					err := try(p)
					var lr *loginRefused
					if mayWait && errors.As(err, &lr) && (lr.status == http.StatusTooManyRequests || lr.status == http.StatusServiceUnavailable) && lr.retryAfter != "" {
						res.add(lr.status, nil)
						continue
					}
					res.add(http.StatusOK, err)
				}
			}()
		}
		each(5, func(p *peer) error { return signIn(p, email, password) }, &withCookie, false)
		each(6, func(p *peer) error { return signIn(p, otherEmail, otherPassword) }, &bystander, false)
		each(7, func(p *peer) error { return signIn(p, email, password) }, &fresh, true)
		attack := spray(t, s, 4, func(p *peer) (int, error) {
			form, err := p.loginForm(authURL())
			if err != nil {
				return 0, err
			}
			r, err := p.login(form, email, "not-the-password")
			return r.status, err
		})
		close(done)
		wg.Wait()
		t.Logf("attack %s; owner with device cookie %s; another user %s; owner from fresh addresses %s", attack, &withCookie, &bystander, &fresh)

		// 503: the line for a check was full (a loaded machine gets
		// through fewer argon2id hashes); nothing is counted against
		// anyone for it.
		if !attack.only(http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable) || attack.count(http.StatusTooManyRequests) == 0 {
			t.Errorf("the attack's wrong passwords: %s, want 401s and 429s (503s when the line is full)", attack)
		}
		if !withCookie.only(http.StatusOK) || withCookie.count(http.StatusOK) < 3 {
			t.Errorf("the owner's browser behind the guesser: %s, want every sign-in through", &withCookie)
		}
		if !bystander.only(http.StatusOK) || bystander.count(http.StatusOK) < 3 {
			t.Errorf("another user during the attack: %s, want every sign-in through", &bystander)
		}
		// A browser new to the account cannot be told from the attack's
		// fresh addresses: it waits in line with them, and may be told to
		// try again in a moment when the line is long, never locked out.
		if !fresh.only(http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable) || fresh.count(http.StatusOK) == 0 {
			t.Errorf("the owner from fresh addresses during the attack: %s, want a sign-in or a Retry-After", &fresh)
		}
		if err := signIn(newPeer(t, s, "127.0.8.1"), email, password); err != nil {
			t.Errorf("the owner from a fresh address once the attack stops: %v", err)
		}
	})
}
