package token_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// benchClients is how many clients the concurrent runs of the user-grant
// benchmarks have, whatever GOMAXPROCS is: enough to show what the store
// does with concurrent commits.
const benchClients = 8

// flowBackends are the grant stores the user-grant benchmarks run on.
var flowBackends = []struct {
	name string
	opt  envOption
}{{"sqlite", withFlow()}, {"postgres", withPostgresGrants()}}

// serve runs one request through the service's handlers in process.
func serve(mux *http.ServeMux, issuer, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

// BenchmarkAuthorizationCodeExchange is the authorization_code grant of a
// public client with PKCE: code redemption, the family and its first
// refresh token written, an ES256 access token signed. The codes are
// stored beforehand; the front channel is not measured.
//
//	go test -run '^$' -bench 'CodeExchange|RefreshGrant' ./services/token/
//
// The openid runs add the OpenID Connect ID token: a second signature, and
// (with profile) the user's claims.
func BenchmarkAuthorizationCodeExchange(b *testing.B) {
	for _, be := range flowBackends {
		for _, v := range []struct {
			name     string
			parallel bool
			scopes   []string
		}{
			{"serial", false, []string{"orders:read"}},
			{"parallel", true, []string{"orders:read"}},
			{"serial-openid", false, []string{"openid", "profile", "orders:read"}},
		} {
			b.Run(be.name+"/"+v.name, func(b *testing.B) { benchCodeExchange(b, be.opt, v.parallel, v.scopes) })
		}
	}
}

func benchCodeExchange(b *testing.B, opt envOption, parallel bool, scopes []string) {
	e := newEnv(b, opt, withUnlimitedClients())
	mux := http.NewServeMux()
	e.svc.Routes(mux)
	verifier, challenge := pkce("bench")
	now := e.clock.Now()
	codes := make([]string, b.N)
	for i := range codes {
		code, hash := newBenchSecret(b, i)
		codes[i] = code
		if err := e.grants.CreateCode(context.Background(), grantstore.Code{
			Hash: hash, ClientID: e.spa.id, RedirectURI: spaRedirect, Challenge: challenge, UserID: aliceID,
			Scopes: scopes, FamilyID: "g_bench_" + code[:16], AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			Nonce: "n-0S6_WzA2Mj", SessionID: "bench-session",
		}); err != nil {
			b.Fatal(err)
		}
	}
	exchange := func(code string) error {
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {e.spa.id}, "code_verifier": {verifier}, "redirect_uri": {spaRedirect}, "code": {code}}
		if w := serve(mux, e.issuer, form.Encode()); w.Code != http.StatusOK {
			return fmt.Errorf("%d %s", w.Code, w.Body)
		}
		return nil
	}
	b.ResetTimer()
	if parallel {
		concurrently(b, benchClients, func(_, i int) error { return exchange(codes[i]) })
	} else {
		for i := range b.N {
			if err := exchange(codes[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkRefreshGrant is one rotation after another on a family:
// lookup, rotation, a new access token. The parallel runs have
// benchClients clients, each rotating a family of its own.
func BenchmarkRefreshGrant(b *testing.B) {
	for _, be := range flowBackends {
		b.Run(be.name, func(b *testing.B) { benchRefresh(b, be.opt, 1) })
		b.Run(be.name+"/parallel", func(b *testing.B) { benchRefresh(b, be.opt, benchClients) })
	}
}

func benchRefresh(b *testing.B, opt envOption, clients int) {
	e := newEnv(b, opt, withUnlimitedClients())
	mux := http.NewServeMux()
	e.svc.Routes(mux)
	rts := make([]string, clients)
	for i := range rts {
		v, ch := pkce("refresh-bench-" + strconv.Itoa(i))
		rts[i] = e.exchange(e.spa, e.codeFor(e.agent(), e.spa, ch), v, spaRedirect).json(b)["refresh_token"].(string)
	}
	refresh := func(client, _ int) error {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {e.spa.id}, "refresh_token": {rts[client]}}
		w := serve(mux, e.issuer, form.Encode())
		if w.Code != http.StatusOK {
			return fmt.Errorf("%d %s", w.Code, w.Body)
		}
		body := w.Body.String()
		i := strings.Index(body, `"refresh_token":"`) + len(`"refresh_token":"`)
		rts[client] = body[i : i+43]
		return nil
	}
	b.ResetTimer()
	if clients == 1 {
		for i := range b.N {
			if err := refresh(0, i); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		concurrently(b, clients, refresh)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// concurrently runs op b.N times in all, from clients goroutines; i counts
// the operations across them, client is the goroutine's own index.
func concurrently(b *testing.B, clients int, op func(client, i int) error) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
				if err := op(c, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// newBenchSecret makes a code as the service would: 43 base64url
// characters, stored as their SHA-256.
func newBenchSecret(b *testing.B, i int) (string, []byte) {
	b.Helper()
	seed := sha256.Sum256([]byte(b.Name() + "/" + strconv.Itoa(i)))
	code := base64.RawURLEncoding.EncodeToString(seed[:])
	sum := sha256.Sum256([]byte(code))
	return code, sum[:]
}
