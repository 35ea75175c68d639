package dpop_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// FuzzVerify feeds arbitrary proofs, methods and URIs to a verifier whose
// clock is the seeds' time (testdata/fuzz/FuzzVerify: valid ES256, EdDSA and
// RS256 proofs and refused ones). Whatever comes in, Verify must not panic,
// and what it accepts must be a dpop+jwt with an allowed alg and a
// thumbprint, for the method asked, and never twice.
func FuzzVerify(f *testing.F) {
	f.Add("", "POST", tokenURL)
	f.Add("a.b.c", "POST", tokenURL)
	v, err := dpop.NewVerifier(dpop.WithClock(func() time.Time { return t0 }),
		dpop.WithAlgorithms(jwa.ES256, jwa.EdDSA, jwa.RS256), dpop.WithReplayEntries(1<<12))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, proof, method, uri string) {
		p, err := v.Verify(proof, dpop.Request{Method: method, URI: uri})
		if err != nil {
			return
		}
		if p.JKT == "" || p.Key == nil {
			t.Fatalf("accepted without a key: %+v", p)
		}
		hdr, _, _ := strings.Cut(proof, ".")
		b, err := base64.RawURLEncoding.DecodeString(hdr)
		if err != nil {
			t.Fatalf("accepted a proof whose header does not decode: %v", err)
		}
		var h struct{ Typ, Alg string }
		if err := json.Unmarshal(b, &h); err != nil || h.Typ != dpop.ProofType || (h.Alg != "ES256" && h.Alg != "EdDSA" && h.Alg != "RS256") {
			t.Fatalf("accepted header %s", b)
		}
		if _, err := v.Verify(proof, dpop.Request{Method: method, URI: uri}); err == nil {
			t.Fatal("accepted the same proof twice")
		}
	})
}
