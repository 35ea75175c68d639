package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// A token run over a list of clients sends each client once per pass, in
// turn, and an API run with as many requests as keys sends each key once.
func TestRunOverManyCredentials(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Authorization")
		if id, secret, ok := r.BasicAuth(); ok {
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
			key = id + ":" + secret
		}
		mu.Lock()
		seen[key]++
		mu.Unlock()
		if r.URL.Path == "/oauth2/introspect" {
			_, _ = io.WriteString(w, `{"active":true}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	var creds []ClientCredentials
	for _, id := range []string{"a", "b", "c"} {
		creds = append(creds, ClientCredentials{ID: "c_" + id, Secret: "s&" + id})
	}
	res, err := RunToken(context.Background(), TokenConfig{URL: srv.URL + "/oauth2/token", Clients: creds, Concurrency: 2, Requests: 6})
	if err != nil || res.OK != 6 {
		t.Fatalf("token run: %+v %v", res, err)
	}
	for _, c := range creds {
		if seen[c.ID+":"+c.Secret] != 2 {
			t.Errorf("client %s sent %d times, want 2: %v", c.ID, seen[c.ID+":"+c.Secret], seen)
		}
	}
	if _, err := RunToken(context.Background(), TokenConfig{URL: srv.URL, ClientID: "x", ClientSecret: "y", Clients: creds, Requests: 1}); err == nil {
		t.Error("a client id and a list of clients together: accepted")
	}

	clear(seen)
	keys := []string{"k1", "k2", "k3", "k4"}
	res, err = RunAPI(context.Background(), APIConfig{URL: srv.URL + "/items", Scheme: "ApiKey", Tokens: keys, Concurrency: 3, Requests: len(keys)})
	if err != nil || res.OK != 4 {
		t.Fatalf("API run: %+v %v", res, err)
	}
	for _, k := range keys {
		if seen["ApiKey "+k] != 1 {
			t.Errorf("key %s sent %d times, want once: %v", k, seen["ApiKey "+k], seen)
		}
	}

	clear(seen)
	if res, err = RunAPI(context.Background(), APIConfig{URL: srv.URL + "/jwks", Scheme: SchemeNone, Requests: 3}); err != nil || res.OK != 3 || seen[""] != 3 {
		t.Errorf("unauthenticated run: %+v %v, seen %v", res, err, seen)
	}
	if _, err := RunAPI(context.Background(), APIConfig{URL: srv.URL, Scheme: SchemeNone, Tokens: keys, Requests: 1}); err == nil {
		t.Error("tokens with scheme none: accepted")
	}

	res, err = RunIntrospect(context.Background(), IntrospectConfig{URL: srv.URL + "/oauth2/introspect", Caller: creds[0], Token: "t", Requests: 5, Concurrency: 2})
	if err != nil || res.OK != 5 {
		t.Errorf("introspection run: %+v %v", res, err)
	}
}
