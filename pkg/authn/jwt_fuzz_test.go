package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"google.golang.org/grpc/codes"
)

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzJWTAuthenticate")

// fuzzIssuer has fixed keys and a fixed clock, so that the tokens of the
// seed corpus stay valid: a deterministic Ed25519 key, and a P-256 key from
// a fixed scalar.
type fuzzIssuer struct {
	now        time.Time
	ed, es     *testKey
	jwks       []byte
	headers    map[string]bool // header segments of the tokens issued
	payloads   map[string]bool // payload segments of the tokens issued
	validToken []string
}

func newFuzzIssuer(t testing.TB) *fuzzIssuer {
	t.Helper()
	seed := sha256.Sum256([]byte("gatehouse fuzz ed25519"))
	edPriv := ed25519.NewKeyFromSeed(seed[:])
	scalar := sha256.Sum256([]byte("gatehouse fuzz p-256"))
	esPriv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar[:])
	if err != nil {
		t.Fatal(err)
	}
	fi := &fuzzIssuer{
		now:      time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		ed:       &testKey{kid: "fuzz-ed", alg: jwa.EdDSA, priv: edPriv, pub: edPriv.Public()},
		es:       &testKey{kid: "fuzz-es", alg: jwa.ES256, priv: esPriv, pub: &esPriv.PublicKey},
		headers:  map[string]bool{},
		payloads: map[string]bool{},
	}
	fi.jwks = jwksDoc(t, jwkOf(t, fi.ed), jwkOf(t, fi.es))
	claims := validClaims(fi.now).with("exp", fi.now.Add(time.Hour).Unix(), "aud", []string{"other", testAudience})
	for _, k := range []*testKey{fi.ed, fi.es} {
		tok := mint(t, k, claims)
		parts := strings.Split(tok, ".")
		fi.headers[parts[0]] = true
		fi.payloads[parts[1]] = true
		fi.validToken = append(fi.validToken, tok)
	}
	return fi
}

// issued reports whether tok carries exactly the header and claims of a
// token the issuer signed (an ECDSA signature has more than one valid
// encoding, so the signature segment is not compared).
func (fi *fuzzIssuer) issued(tok string) bool {
	parts := strings.Split(tok, ".")
	return len(parts) == 3 && fi.headers[parts[0]] && fi.payloads[parts[1]]
}

// fuzzSeeds are the seed inputs: the valid tokens and the malformed and
// hostile shapes of SECURITY-CHECKLIST item 16 and its neighbours.
func (fi *fuzzIssuer) fuzzSeeds(t testing.TB) []string {
	t.Helper()
	ed := fi.validToken[0]
	p := strings.Split(ed, ".")
	claims := claimsJSON(t, validClaims(fi.now).with("exp", fi.now.Add(time.Hour).Unix()))
	h := func(extra ...any) string { return headerJSON(t, fi.ed, extra...) }
	attackerSeed := sha256.Sum256([]byte("gatehouse fuzz attacker"))
	attackerPriv := ed25519.NewKeyFromSeed(attackerSeed[:])
	attacker := &testKey{kid: "fuzz-ed", alg: jwa.EdDSA, priv: attackerPriv, pub: attackerPriv.Public()}
	seeds := []string{
		ed,
		mintRaw(t, jwa.NoSignature, nil, `{"alg":"none","typ":"at+jwt","kid":"fuzz-ed"}`, claims),
		mintRaw(t, jwa.HS256, []byte(jwkOf(t, fi.ed)["x"].(string)), `{"alg":"HS256","typ":"at+jwt","kid":"fuzz-ed"}`, claims),
		signed(t, fi.ed, `{"alg":"EdDSA","alg":"none","typ":"at+jwt","kid":"fuzz-ed"}`, claims),
		signed(t, fi.ed, h("crit", []string{"exp"}), claims),
		signed(t, fi.ed, h("typ", "JWT"), claims),
		signed(t, fi.ed, h("kid", "../../dev/null"), claims),
		signed(t, fi.ed, h("cty", "JWT"), claims),
		// jku and an embedded jwk naming the attacker's key, which signed.
		signed(t, attacker, h("jku", "http://127.0.0.1:9/", "jwk", jwkOf(t, attacker)), claims),
		signed(t, fi.ed, h(), claims[:len(claims)-1]+`,"exp":1e400}`),
		signed(t, fi.ed, h(), claims[:len(claims)-1]+`,"x":"`+"\xff"+`"}`),
		p[0],
		p[0] + "." + p[1],
		ed + ".AAAA",
		p[0] + ".AAAA.AAAA.AAAA.AAAA",
		p[0] + "=." + p[1] + "." + p[2],
		p[0] + "." + p[1] + "+/." + p[2],
		fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, p[1], p[0], p[2]),
		"",
	}
	return seeds
}

func (fi *fuzzIssuer) authenticator(t testing.TB) *JWTAuthenticator {
	t.Helper()
	clk := &fakeClock{t: fi.now}
	src := JWKSFunc(func(context.Context) ([]byte, error) { return fi.jwks, nil })
	return newTestJWTAuth(t, src, clk, WithTokenCache(64))
}

// FuzzJWTAuthenticate checks that no input validates unless it carries
// exactly the header and claims of a token the issuer signed, and that
// every refusal is a clean Unauthenticated *AuthError: no panic, no 5xx.
func FuzzJWTAuthenticate(f *testing.F) {
	fi := newFuzzIssuer(f)
	for _, tok := range fi.validToken {
		f.Add(tok) // the ES256 signature differs at each run
	}
	for _, s := range fi.fuzzSeeds(f) {
		f.Add(s)
	}
	a := fi.authenticator(f)
	valid := 0
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := a.Authenticate(context.Background(), tok)
		if err == nil {
			if !fi.issued(tok) {
				t.Fatalf("a token the issuer did not sign validated: %q", tok)
			}
			if p.ClientID != "client-1" {
				t.Fatalf("principal %+v", p)
			}
			valid++
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Code != codes.Unauthenticated || ae.OAuthError != ErrInvalidToken || !ae.Reason.Valid() {
			t.Fatalf("refusal %v (%T), want an Unauthenticated invalid_token *AuthError", err, err)
		}
		if sanitizeQuoted(ae.Message) != ae.Message || (len(tok) >= 16 && strings.Contains(ae.Message, tok)) {
			t.Fatalf("unsafe description %q", ae.Message)
		}
	})
}

// TestFuzzSeedCorpus checks the checked-in corpus: its valid tokens still
// validate (so the fuzzer starts from them), and -update-fuzz-corpus
// rewrites it.
func TestFuzzSeedCorpus(t *testing.T) {
	fi := newFuzzIssuer(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzJWTAuthenticate")
	if *updateFuzzCorpus {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		for i, s := range append(fi.fuzzSeeds(t), fi.validToken[1]) {
			body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := fi.authenticator(t)
	valid := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var tok string
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(b), "go test fuzz v1\n"), "string(%q)", &tok); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if _, err := a.Authenticate(context.Background(), tok); err == nil {
			valid++
		}
	}
	if len(entries) < 10 || valid != 2 {
		t.Fatalf("corpus of %d inputs with %d valid tokens; want at least 10 with 2 (run with -update-fuzz-corpus)", len(entries), valid)
	}
}
