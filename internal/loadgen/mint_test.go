package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestMintTokens(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if id != "c1" || secret != "s1" || r.PostFormValue("scope") != "a b" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":"t%d"}`, n.Add(1))
	}))
	defer srv.Close()
	cfg := MintConfig{URL: srv.URL + "/oauth2/token", ClientID: "c1", ClientSecret: "s1", Scope: "a b", N: 50, Concurrency: 4}
	tokens, err := MintTokens(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		seen[tok] = true
	}
	if len(tokens) != 50 || len(seen) != 50 || seen[""] {
		t.Fatalf("got %d tokens, %d distinct: %v", len(tokens), len(seen), tokens)
	}
	cfg.ClientSecret = "wrong"
	if _, err := MintTokens(context.Background(), cfg); err == nil {
		t.Fatal("a refused request must fail the whole pool")
	}
	cfg.URL = "http://192.0.2.1/oauth2/token"
	if _, err := MintTokens(context.Background(), cfg); err == nil {
		t.Fatal("a target off the machine must be refused")
	}
}
