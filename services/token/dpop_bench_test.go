package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// BenchmarkTokenEndpointDPoP compares, in one run, client_credentials
// requests over loopback HTTP without a proof and with a fresh ES256 proof
// carrying the server nonce (signed before the timer starts): what proof
// verification and the bound token's cnf add at the token endpoint.
//
//	go test -run '^$' -bench TokenEndpointDPoP -benchmem ./services/token/
func BenchmarkTokenEndpointDPoP(b *testing.B) {
	e := newEnv(b, withUnlimitedClients())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	authz := basicHeader(e.partner.id, e.partner.secret)
	u := e.svc.Endpoints().Token
	const body = "grant_type=client_credentials&scope=orders%3Aread"
	post := func(proof string) (int, http.Header) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", authz)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	priv, _ := jwk.FromRaw(raw)
	pub, _ := jwk.PublicKeyOf(priv)
	proof := func(nonce string) string {
		var jti [12]byte
		_, _ = rand.Read(jti[:])
		c := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": "POST", "htu": u, "iat": e.clock.Now().Unix()}
		if nonce != "" {
			c["nonce"] = nonce
		}
		payload, _ := json.Marshal(c)
		hdr := jws.NewHeaders()
		_ = hdr.Set("typ", "dpop+jwt")
		_ = hdr.Set("jwk", pub)
		s, err := jws.Sign(payload, jws.WithKey(jwa.ES256, priv, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			b.Fatal(err)
		}
		return string(s)
	}
	_, h := post(proof(""))
	nonce := h.Get("DPoP-Nonce")
	if nonce == "" {
		b.Fatal("no DPoP-Nonce")
	}

	b.Run("bearer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if code, _ := post(""); code != http.StatusOK {
				b.Fatalf("status %d", code)
			}
		}
	})
	b.Run("dpop", func(b *testing.B) {
		proofs := make([]string, b.N)
		for i := range proofs {
			proofs[i] = proof(nonce)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if code, _ := post(proofs[i]); code != http.StatusOK {
				b.Fatalf("status %d", code)
			}
		}
	})
}
