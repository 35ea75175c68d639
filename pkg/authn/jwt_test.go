package authn

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"google.golang.org/grpc/codes"
)

// jwtCase is one token and the answer it must get. Every case runs
// against a fresh authenticator that has fetched the JWKS once; no case
// may cause another fetch (they all run inside the unknown-kid cooldown).
type jwtCase struct {
	name  string
	opts  []JWTOption
	token func(t *testing.T, e *jwtEnv) string
	// reason is the audit reason of the refusal; empty means accepted.
	reason audit.Reason
}

func runJWTCases(t *testing.T, cases []jwtCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newJWTEnv(t, tc.opts...)
			env.warm(t)
			tok := tc.token(t, env)
			p, err := env.auth.Authenticate(context.Background(), tok)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.Kind != authv1.CredentialKind_CREDENTIAL_KIND_JWT || p.Trust != TrustBearer || p.Subject == "" || p.ClientID == "" {
					t.Fatalf("principal %+v", p)
				}
			} else {
				if err == nil {
					t.Fatalf("accepted, want refusal %s", tc.reason)
				}
				wantRefusal(t, err, tc.reason, tok)
			}
			if n := env.jwks.Hits(); n != 1 {
				t.Errorf("JWKS fetched %d times, want 1 (the warm-up)", n)
			}
		})
	}
}

// signed signs exact header and claims JSON with k.
func signed(t testing.TB, k *testKey, header, claims string) string {
	t.Helper()
	return mintRaw(t, k.alg, k.priv, header, claims)
}

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func derOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// jwkMember is a member of the key's public JWK, as the string bytes.
func jwkMember(t *testing.T, k *testKey, name string) []byte {
	t.Helper()
	s, _ := jwkOf(t, k)[name].(string)
	if s == "" {
		t.Fatalf("JWK of %s has no %s", k.kid, name)
	}
	return []byte(s)
}

// resign replaces the signature segment of tok.
func resign(tok string, mutate func(sig []byte) []byte) string {
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(mutate(sig))
}

func flipBit(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)/2] ^= 0x01
	return c
}

// TestJWTAlgorithms covers SECURITY-CHECKLIST items 1, 2 and 3.
func TestJWTAlgorithms(t *testing.T) {
	noneHeader := func(alg string) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			h := fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":"es256-1"}`, alg)
			return mintRaw(t, jwa.NoSignature, nil, h, claimsJSON(t, validClaims(e.now())))
		}
	}
	// hs256 signs with HMAC keyed by secret(e), under kid.
	hs256 := func(kid string, secret func(t *testing.T, e *jwtEnv) []byte) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			h := fmt.Sprintf(`{"alg":"HS256","typ":"at+jwt","kid":%q}`, kid)
			return mintRaw(t, jwa.HS256, secret(t, e), h, claimsJSON(t, validClaims(e.now())))
		}
	}
	rsaPEM := func(t *testing.T, e *jwtEnv) []byte { return pemOf(t, e.keys.rs256.pub) }
	rsaDER := func(t *testing.T, e *jwtEnv) []byte { return derOf(t, e.keys.rs256.pub) }
	rsaN := func(t *testing.T, e *jwtEnv) []byte { return jwkMember(t, e.keys.rs256, "n") }
	ecPEM := func(t *testing.T, e *jwtEnv) []byte { return pemOf(t, e.keys.es256.pub) }
	ecDER := func(t *testing.T, e *jwtEnv) []byte { return derOf(t, e.keys.es256.pub) }
	ecX := func(t *testing.T, e *jwtEnv) []byte { return jwkMember(t, e.keys.es256, "x") }
	byKey := func(pick func(*testKeySet) *testKey) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string { return mint(t, pick(e.keys), validClaims(e.now())) }
	}
	withHS := WithAlgorithms(jwa.HS256, jwa.ES256, jwa.RS256)

	runJWTCases(t, []jwtCase{
		// Accepted: each allowed algorithm with its own key.
		{name: "ES256 accepted", token: byKey(func(k *testKeySet) *testKey { return k.es256 })},
		{name: "EdDSA accepted", token: byKey(func(k *testKeySet) *testKey { return k.eddsa })},
		{name: "RS256 accepted", token: byKey(func(k *testKeySet) *testKey { return k.rs256 })},
		{name: "PS256 accepted", token: byKey(func(k *testKeySet) *testKey { return k.ps256 })},

		// Item 1: none, whatever its case, with an empty signature.
		{name: "1 alg none", token: noneHeader("none"), reason: audit.ReasonDisallowedAlgorithm},
		{name: "1 alg None", token: noneHeader("None"), reason: audit.ReasonDisallowedAlgorithm},
		{name: "1 alg NONE", token: noneHeader("NONE"), reason: audit.ReasonDisallowedAlgorithm},
		{name: "1 alg none without kid", token: func(t *testing.T, e *jwtEnv) string {
			return mintRaw(t, jwa.NoSignature, nil, `{"alg":"none","typ":"at+jwt"}`, claimsJSON(t, validClaims(e.now())))
		}, reason: audit.ReasonDisallowedAlgorithm},
		{name: "1 alg none with a real signature appended", token: func(t *testing.T, e *jwtEnv) string {
			valid := e.valid(t)
			none := noneHeader("none")(t, e)
			return none + valid[strings.LastIndexByte(valid, '.')+1:]
		}, reason: audit.ReasonDisallowedAlgorithm},

		// Item 2: HS256 keyed with the public key, carrying the real kid.
		{name: "2 HS256 keyed with the RSA public key PEM", token: hs256("rs256-1", rsaPEM), reason: audit.ReasonDisallowedAlgorithm},
		{name: "2 HS256 keyed with the RSA public key DER", token: hs256("rs256-1", rsaDER), reason: audit.ReasonDisallowedAlgorithm},
		{name: "2 HS256 keyed with the RSA JWK n", token: hs256("rs256-1", rsaN), reason: audit.ReasonDisallowedAlgorithm},
		{name: "2 HS256 keyed with the EC public key PEM", token: hs256("es256-1", ecPEM), reason: audit.ReasonDisallowedAlgorithm},
		{name: "2 HS256 keyed with the EC public key DER", token: hs256("es256-1", ecDER), reason: audit.ReasonDisallowedAlgorithm},
		{name: "2 HS256 keyed with the EC JWK x", token: hs256("es256-1", ecX), reason: audit.ReasonDisallowedAlgorithm},
		{name: "2 HS256 even when WithAlgorithms names it", opts: []JWTOption{withHS}, token: hs256("rs256-1", rsaPEM), reason: audit.ReasonDisallowedAlgorithm},
		{name: "2 HS256 under the kid of the oct key in the JWKS", opts: []JWTOption{withHS}, token: hs256("oct-1", func(_ *testing.T, e *jwtEnv) []byte { return e.keys.hmac }), reason: audit.ReasonDisallowedAlgorithm},

		// Item 3: allow-list, and one algorithm per key.
		{name: "3a RS256 when the policy is PS256 ES256 EdDSA", opts: []JWTOption{WithAlgorithms(jwa.PS256, jwa.ES256, jwa.EdDSA)},
			token: byKey(func(k *testKeySet) *testKey { return k.rs256 }), reason: audit.ReasonDisallowedAlgorithm},
		{name: "3b RS256 under the kid of a PS256 key", token: byKey(func(k *testKeySet) *testKey { return k.ps256.withAlg(jwa.RS256) }), reason: audit.ReasonDisallowedAlgorithm},
		{name: "3b PS384 under the kid of a PS256 key", token: byKey(func(k *testKeySet) *testKey { return k.ps256.withAlg(jwa.PS384) }), reason: audit.ReasonDisallowedAlgorithm},
		{name: "3b PS384 allowed, under the kid of a PS256 key", opts: []JWTOption{WithAlgorithms(jwa.PS256, jwa.PS384, jwa.ES256)},
			token: byKey(func(k *testKeySet) *testKey { return k.ps256.withAlg(jwa.PS384) }), reason: audit.ReasonDisallowedAlgorithm},
		{name: "3b PS256 under the kid of an RS256 key", token: byKey(func(k *testKeySet) *testKey { return k.rs256.withAlg(jwa.PS256) }), reason: audit.ReasonDisallowedAlgorithm},
		{name: "3c ES256 with an RSA kid", token: byKey(func(k *testKeySet) *testKey { return k.es256.withKID("rs256-1") }), reason: audit.ReasonDisallowedAlgorithm},
		{name: "3c EdDSA with an ES256 kid", token: byKey(func(k *testKeySet) *testKey { return k.eddsa.withKID("es256-1") }), reason: audit.ReasonDisallowedAlgorithm},
		{name: "3 lower-case es256", token: func(t *testing.T, e *jwtEnv) string {
			return signed(t, e.keys.es256, `{"alg":"es256","typ":"at+jwt","kid":"es256-1"}`, claimsJSON(t, validClaims(e.now())))
		}, reason: audit.ReasonDisallowedAlgorithm},
	})
}

// TestJWTSignature covers SECURITY-CHECKLIST item 4.
func TestJWTSignature(t *testing.T) {
	mutated := func(pick func(*testKeySet) *testKey, mutate func([]byte) []byte) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			return resign(mint(t, pick(e.keys), validClaims(e.now())), mutate)
		}
	}
	es := func(k *testKeySet) *testKey { return k.es256 }
	runJWTCases(t, []jwtCase{
		{name: "ES256 flipped bit in the signature", token: mutated(es, flipBit), reason: audit.ReasonBadSignature},
		{name: "EdDSA flipped bit in the signature", token: mutated(func(k *testKeySet) *testKey { return k.eddsa }, flipBit), reason: audit.ReasonBadSignature},
		{name: "RS256 flipped bit in the signature", token: mutated(func(k *testKeySet) *testKey { return k.rs256 }, flipBit), reason: audit.ReasonBadSignature},
		{name: "PS256 flipped bit in the signature", token: mutated(func(k *testKeySet) *testKey { return k.ps256 }, flipBit), reason: audit.ReasonBadSignature},
		{name: "ES256 truncated signature", token: mutated(es, func(b []byte) []byte { return b[:len(b)-1] }), reason: audit.ReasonBadSignature},
		{name: "ES256 half a signature", token: mutated(es, func(b []byte) []byte { return b[:len(b)/2] }), reason: audit.ReasonBadSignature},
		{name: "ES256 signature with a byte appended", token: mutated(es, func(b []byte) []byte { return append(b, 0) }), reason: audit.ReasonBadSignature},
		{name: "RS256 truncated signature", token: mutated(func(k *testKeySet) *testKey { return k.rs256 }, func(b []byte) []byte { return b[:len(b)-1] }), reason: audit.ReasonBadSignature},
		{name: "ES256 empty signature", token: mutated(es, func([]byte) []byte { return nil }), reason: audit.ReasonBadSignature},
		{name: "ES256 signature segment cut mid-character", token: func(t *testing.T, e *jwtEnv) string {
			tok := e.valid(t)
			return tok[:len(tok)-1]
		}, reason: audit.ReasonBadSignature},
		{name: "flipped bit in the payload", token: func(t *testing.T, e *jwtEnv) string {
			c := validClaims(e.now())
			tok := mint(t, e.keys.es256, c)
			forged := mint(t, e.keys.es256Other, c.with("sub", "admin"))
			parts, fparts := strings.Split(tok, "."), strings.Split(forged, ".")
			return parts[0] + "." + fparts[1] + "." + parts[2]
		}, reason: audit.ReasonBadSignature},
		{name: "signature by another key under the same kid", token: func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.es256Other.withKID("es256-1"), validClaims(e.now()))
		}, reason: audit.ReasonBadSignature},
		{name: "RSA signature by another issuer's key under our kid", token: func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.rsaOther.withKID("rs256-1"), validClaims(e.now()))
		}, reason: audit.ReasonBadSignature},
	})
}

// TestJWTHeader covers SECURITY-CHECKLIST items 6 (the refusal; the
// connection count is TestJWTKeySourcePinned), 7, 8 and 9.
func TestJWTHeader(t *testing.T) {
	withHeader := func(extra ...any) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			return signed(t, e.keys.es256, headerJSON(t, e.keys.es256, extra...), claimsJSON(t, validClaims(e.now())))
		}
	}
	attackerJWK := func(t *testing.T, e *jwtEnv) map[string]any { return jwkOf(t, e.keys.es256Other) }
	byAttacker := func(kid string, extra func(t *testing.T, e *jwtEnv) []any) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			k := e.keys.es256Other.withKID(kid)
			return signed(t, k, headerJSON(t, k, extra(t, e)...), claimsJSON(t, validClaims(e.now())))
		}
	}
	const attacker = "http://127.0.0.1:9/jwks.json"
	runJWTCases(t, []jwtCase{
		// Item 6: jku, x5u, jwk and x5c are never used to find the key.
		{name: "6 jku to the attacker, attacker's key and kid", token: byAttacker("attacker-kid", func(*testing.T, *jwtEnv) []any { return []any{"jku", attacker} }), reason: audit.ReasonUnknownKID},
		{name: "6 jku to the attacker, our kid", token: byAttacker("es256-1", func(*testing.T, *jwtEnv) []any { return []any{"jku", attacker} }), reason: audit.ReasonBadSignature},
		{name: "6 x5u to the attacker", token: byAttacker("es256-1", func(*testing.T, *jwtEnv) []any { return []any{"x5u", attacker} }), reason: audit.ReasonBadSignature},
		{name: "6 embedded jwk of the signing key, attacker's kid", token: byAttacker("es256-attacker", func(t *testing.T, e *jwtEnv) []any {
			return []any{"jwk", attackerJWK(t, e)}
		}), reason: audit.ReasonUnknownKID},
		{name: "6 embedded jwk of the signing key, our kid", token: byAttacker("es256-1", func(t *testing.T, e *jwtEnv) []any {
			return []any{"jwk", attackerJWK(t, e)}
		}), reason: audit.ReasonBadSignature},
		{name: "6 embedded jwk without kid", token: func(t *testing.T, e *jwtEnv) string {
			k := e.keys.es256Other
			return signed(t, k, headerJSON(t, k, "kid", nil, "jwk", attackerJWK(t, e)), claimsJSON(t, validClaims(e.now())))
		}, reason: audit.ReasonInvalidToken},
		{name: "6 embedded x5c of the signing key", token: byAttacker("es256-1", func(t *testing.T, e *jwtEnv) []any {
			return []any{"x5c", []string{base64.StdEncoding.EncodeToString(selfSignedCert(t, e.keys.es256Other))}}
		}), reason: audit.ReasonBadSignature},
		{name: "6 jku on a token signed by the issuer is ignored", token: withHeader("jku", attacker, "x5u", attacker), reason: ""},

		// Item 7: hostile kids are map misses, or refused unseen.
		{name: "7 kid path traversal", token: withHeader("kid", "../../dev/null"), reason: audit.ReasonUnknownKID},
		{name: "7 kid SQL", token: withHeader("kid", "' OR 1=1 --"), reason: audit.ReasonUnknownKID},
		{name: "7 kid URL", token: withHeader("kid", "file:///etc/passwd"), reason: audit.ReasonUnknownKID},
		{name: "7 kid of 64 KiB within the token limit", opts: []JWTOption{WithMaxTokenBytes(1 << 20)},
			token: withHeader("kid", strings.Repeat("A", 64<<10)), reason: audit.ReasonUnknownKID},
		{name: "7 kid of 64 KiB", token: withHeader("kid", strings.Repeat("A", 64<<10)), reason: audit.ReasonCredentialTooLarge},
		{name: "7 kid of NUL bytes", token: withHeader("kid", "\x00\x00es256-1"), reason: audit.ReasonUnknownKID},
		{name: "7 kid with a newline", token: withHeader("kid", "es256-1\n"), reason: audit.ReasonUnknownKID},
		{name: "7 empty kid", token: withHeader("kid", ""), reason: audit.ReasonUnknownKID},
		{name: "7 kid is a number", token: withHeader("kid", 1), reason: audit.ReasonInvalidToken},
		{name: "7 kid is an object", token: withHeader("kid", map[string]any{"$ne": ""}), reason: audit.ReasonInvalidToken},
		{name: "7 missing kid", token: withHeader("kid", nil), reason: audit.ReasonInvalidToken},

		// Item 8: crit is never understood.
		{name: "8 crit with an extension", token: withHeader("crit", []string{"x-foo"}, "x-foo", 1), reason: audit.ReasonInvalidToken},
		{name: "8 crit naming a registered header", token: withHeader("crit", []string{"alg"}), reason: audit.ReasonInvalidToken},
		{name: "8 crit b64", token: withHeader("crit", []string{"b64"}, "b64", false), reason: audit.ReasonInvalidToken},
		{name: "8 empty crit", token: withHeader("crit", []string{}), reason: audit.ReasonInvalidToken},

		// Item 9: explicit typing.
		{name: "9 typ at+jwt upper case accepted", token: withHeader("typ", "AT+JWT")},
		{name: "9 typ application/at+jwt accepted", token: withHeader("typ", "application/at+jwt")},
		{name: "9 typ Application/At+Jwt accepted", token: withHeader("typ", "Application/At+Jwt")},
		{name: "9 ID token typ JWT", token: func(t *testing.T, e *jwtEnv) string {
			c := validClaims(e.now()).with("aud", "client-1", "nonce", "n-0S6_WzA2Mj", "client_id", nil)
			return mint(t, e.keys.es256, c, "typ", "JWT")
		}, reason: audit.ReasonWrongTokenType},
		{name: "9 DPoP proof", token: func(t *testing.T, e *jwtEnv) string {
			c := claimSet{"jti": "p-1", "htm": "POST", "htu": "https://api.example/things", "iat": e.now().Unix()}
			return mint(t, e.keys.es256, c, "typ", "dpop+jwt")
		}, reason: audit.ReasonWrongTokenType},
		{name: "9 client assertion", token: func(t *testing.T, e *jwtEnv) string {
			c := validClaims(e.now()).with("iss", "client-1", "sub", "client-1", "aud", testIssuer+"/oauth2/token")
			return mint(t, e.keys.es256, c, "typ", "JWT")
		}, reason: audit.ReasonWrongTokenType},
		{name: "9 logout token", token: withHeader("typ", "logout+jwt"), reason: audit.ReasonWrongTokenType},
		{name: "9 typ missing", token: withHeader("typ", nil), reason: audit.ReasonWrongTokenType},
		{name: "9 typ at+jwt with a space", token: withHeader("typ", "at+jwt "), reason: audit.ReasonWrongTokenType},
		{name: "9 typ application/", token: withHeader("typ", "application/"), reason: audit.ReasonWrongTokenType},
		{name: "9 typ is a number", token: withHeader("typ", 1), reason: audit.ReasonInvalidToken},
	})
}

// selfSignedCert is a certificate for k, as an x5c member would carry it.
func selfSignedCert(t *testing.T, k *testKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.pub, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestJWTClaims covers SECURITY-CHECKLIST items 10–14.
func TestJWTClaims(t *testing.T) {
	// claims signs validClaims changed by kv.
	claims := func(kv ...any) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string { return mint(t, e.keys.es256, validClaims(e.now()).with(kv...)) }
	}
	// at signs validClaims with a time claim at now+d.
	at := func(name string, d time.Duration) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.es256, validClaims(e.now()).with(name, e.now().Add(d).Unix()))
		}
	}
	// rawClaim signs validClaims with name set to the exact JSON literal.
	rawClaim := func(name, literal string) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			c := claimsJSON(t, validClaims(e.now()).with(name, nil))
			c = c[:len(c)-1] + fmt.Sprintf(",%q:%s}", name, literal)
			return signed(t, e.keys.es256, headerJSON(t, e.keys.es256), c)
		}
	}
	skew60 := []JWTOption{WithClockSkew(60 * time.Second)}
	runJWTCases(t, []jwtCase{
		// Item 10: iss, exactly.
		{name: "10 iss with a trailing slash", token: claims("iss", testIssuer+"/"), reason: audit.ReasonWrongIssuer},
		{name: "10 iss in another case", token: claims("iss", strings.ToUpper(testIssuer)), reason: audit.ReasonWrongIssuer},
		{name: "10 iss of the attacker", token: claims("iss", "https://attacker.example"), reason: audit.ReasonWrongIssuer},
		{name: "10 iss missing", token: claims("iss", nil), reason: audit.ReasonWrongIssuer},
		{name: "10 iss is an array", token: claims("iss", []string{testIssuer}), reason: audit.ReasonInvalidToken},
		{name: "10 our iss signed by another issuer's key", token: func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.rsaOther, validClaims(e.now()))
		}, reason: audit.ReasonUnknownKID},

		// Item 11: aud.
		{name: "11 aud missing", token: claims("aud", nil), reason: audit.ReasonWrongAudience},
		{name: "11 aud of another RS", token: claims("aud", "https://other.example"), reason: audit.ReasonWrongAudience},
		{name: "11 aud with a trailing slash", token: claims("aud", testAudience+"/"), reason: audit.ReasonWrongAudience},
		{name: "11 aud array with ours accepted", token: claims("aud", []string{"https://other.example", testAudience})},
		{name: "11 aud array without ours", token: claims("aud", []string{"https://other.example", "x"}), reason: audit.ReasonWrongAudience},
		{name: "11 aud empty array", token: claims("aud", []string{}), reason: audit.ReasonWrongAudience},
		{name: "11 aud empty string", token: claims("aud", ""), reason: audit.ReasonWrongAudience},
		{name: "11 aud is a number", token: claims("aud", 1), reason: audit.ReasonInvalidToken},
		{name: "11 aud array with a number", token: claims("aud", []any{testAudience, 1}), reason: audit.ReasonInvalidToken},
		{name: "11 any audience still needs aud", opts: []JWTOption{WithAnyAudience()}, token: claims("aud", nil), reason: audit.ReasonWrongAudience},
		{name: "11 any audience accepts another", opts: []JWTOption{WithAnyAudience()}, token: claims("aud", "https://other.example")},

		// Item 12: exp, with the default 30 s leeway.
		{name: "12 exp now-(skew+1s)", token: at("exp", -31*time.Second), reason: audit.ReasonExpiredToken},
		{name: "12 exp now-skew", token: at("exp", -30*time.Second), reason: audit.ReasonExpiredToken},
		{name: "12 exp now-(skew-1s) accepted", token: at("exp", -29*time.Second)},
		{name: "12 exp with a fraction accepted", token: rawClaim("exp", "1893553445.5")},
		{name: "12 exp missing", token: claims("exp", nil), reason: audit.ReasonInvalidToken},
		{name: "12 exp a string", token: func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.es256, validClaims(e.now()).with("exp", fmt.Sprint(e.now().Add(time.Hour).Unix())))
		}, reason: audit.ReasonInvalidToken},
		{name: "12 exp float overflow", token: rawClaim("exp", "1e400"), reason: audit.ReasonInvalidToken},
		{name: "12 exp huge float", token: rawClaim("exp", "1.7976931348623157e308"), reason: audit.ReasonInvalidToken},
		{name: "12 exp past year 9999", token: rawClaim("exp", "253402300800"), reason: audit.ReasonInvalidToken},
		{name: "12 exp huge integer", token: rawClaim("exp", "99999999999999999999999"), reason: audit.ReasonInvalidToken},
		{name: "12 exp negative", token: rawClaim("exp", "-1"), reason: audit.ReasonInvalidToken},
		{name: "12 exp true", token: rawClaim("exp", "true"), reason: audit.ReasonInvalidToken},
		{name: "12 exp null", token: rawClaim("exp", "null"), reason: audit.ReasonInvalidToken},
		{name: "12 skew above 60 s is clamped", opts: []JWTOption{WithClockSkew(5 * time.Minute)}, token: at("exp", -61*time.Second), reason: audit.ReasonExpiredToken},
		{name: "12 skew 60 s accepts exp now-59s", opts: skew60, token: at("exp", -59*time.Second)},

		// Item 13: nbf and iat in the future.
		{name: "13 nbf now+8s accepted", token: at("nbf", 8*time.Second)},
		{name: "13 iat now+8s accepted", token: at("iat", 8*time.Second)},
		{name: "13 nbf now+60s", token: at("nbf", 60*time.Second), reason: audit.ReasonTokenNotYetValid},
		{name: "13 iat now+60s", token: at("iat", 60*time.Second), reason: audit.ReasonTokenNotYetValid},
		{name: "13 nbf now+1h", token: at("nbf", time.Hour), reason: audit.ReasonTokenNotYetValid},
		{name: "13 nbf now+skew", token: at("nbf", 30*time.Second), reason: audit.ReasonTokenNotYetValid},
		{name: "13 nbf now+60s with the largest skew", opts: skew60, token: at("nbf", 60*time.Second), reason: audit.ReasonTokenNotYetValid},
		{name: "13 iat now+60s with the largest skew", opts: skew60, token: at("iat", 60*time.Second), reason: audit.ReasonTokenNotYetValid},
		{name: "13 nbf in the past accepted", token: at("nbf", -time.Hour)},
		{name: "13 nbf a string", token: func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.es256, validClaims(e.now()).with("nbf", "0"))
		}, reason: audit.ReasonInvalidToken},

		// Item 14: required claims.
		{name: "14 sub missing", token: claims("sub", nil), reason: audit.ReasonInvalidToken},
		{name: "14 client_id missing", token: claims("client_id", nil), reason: audit.ReasonInvalidToken},
		{name: "14 iat missing", token: claims("iat", nil), reason: audit.ReasonInvalidToken},
		{name: "14 jti missing", token: claims("jti", nil), reason: audit.ReasonInvalidToken},
		{name: "14 sub empty", token: claims("sub", ""), reason: audit.ReasonInvalidToken},
		{name: "14 sub a number", token: claims("sub", 42), reason: audit.ReasonInvalidToken},
		{name: "14 scope a list", token: claims("scope", []string{"things:read"}), reason: audit.ReasonInvalidToken},
		{name: "14 scope missing accepted", token: claims("scope", nil)},
		{name: "14 cnf not an object", token: claims("cnf", "x"), reason: audit.ReasonInvalidToken},
		{name: "14 cnf x5t#S256 empty", token: claims("cnf", map[string]any{"x5t#S256": ""}), reason: audit.ReasonInvalidToken},
		{name: "14 cnf x5t#S256 a number", token: claims("cnf", map[string]any{"x5t#S256": 1}), reason: audit.ReasonInvalidToken},
		// A DPoP jkt (RFC 9449 §6.1) is read; the Validator enforces it
		// (dpop_test.go).
		{name: "14 cnf DPoP jkt only accepted", token: claims("cnf", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})},
		{name: "14 cnf x5t#S256 and jkt accepted", token: claims("cnf", map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2", "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})},
		{name: "14 cnf jkt empty", token: claims("cnf", map[string]any{"jkt": ""}), reason: audit.ReasonInvalidToken},
		{name: "14 cnf jkt a number", token: claims("cnf", map[string]any{"jkt": 1}), reason: audit.ReasonInvalidToken},
		{name: "14 cnf another method", token: claims("cnf", map[string]any{"jwk": map[string]any{"kty": "EC"}}), reason: audit.ReasonInvalidToken},
		{name: "14 cnf empty object", token: claims("cnf", map[string]any{}), reason: audit.ReasonInvalidToken},
	})
}

// TestJWTMalformed covers SECURITY-CHECKLIST item 16 (the fuzz target
// is FuzzJWTAuthenticate).
func TestJWTMalformed(t *testing.T) {
	// replaceSegment rebuilds a valid token with segment i replaced.
	replaceSegment := func(i int, f func(seg string) string) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			parts := strings.Split(e.valid(t), ".")
			parts[i] = f(parts[i])
			return strings.Join(parts, ".")
		}
	}
	// exact signs exact header and claims JSON with the ES256 key.
	exact := func(header, claims string) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			if claims == "" {
				claims = claimsJSON(t, validClaims(e.now()))
			}
			return signed(t, e.keys.es256, header, claims)
		}
	}
	// claimsWith signs the valid claims JSON with extra JSON text before
	// its closing brace.
	claimsWith := func(extra string) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			c := claimsJSON(t, validClaims(e.now()))
			return signed(t, e.keys.es256, headerJSON(t, e.keys.es256), c[:len(c)-1]+extra+"}")
		}
	}
	const hdr = `{"alg":"ES256","typ":"at+jwt","kid":"es256-1"}`
	jwsJSON := func(flattened bool) func(t *testing.T, e *jwtEnv) string {
		return func(t *testing.T, e *jwtEnv) string {
			p := strings.Split(e.valid(t), ".")
			if flattened {
				return fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, p[1], p[0], p[2])
			}
			return fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, p[1], p[0], p[2])
		}
	}
	runJWTCases(t, []jwtCase{
		{name: "16 empty", token: func(*testing.T, *jwtEnv) string { return "" }, reason: audit.ReasonInvalidToken},
		{name: "16 one segment", token: func(t *testing.T, e *jwtEnv) string { return strings.Split(e.valid(t), ".")[0] }, reason: audit.ReasonInvalidToken},
		{name: "16 two segments", token: func(t *testing.T, e *jwtEnv) string {
			tok := e.valid(t)
			return tok[:strings.LastIndexByte(tok, '.')]
		}, reason: audit.ReasonInvalidToken},
		{name: "16 four segments", token: func(t *testing.T, e *jwtEnv) string { return e.valid(t) + ".AAAA" }, reason: audit.ReasonInvalidToken},
		{name: "16 five segments JWE", token: func(*testing.T, *jwtEnv) string {
			return b64url(`{"alg":"RSA-OAEP","enc":"A256GCM","typ":"at+jwt","kid":"rs256-1"}`) + ".AAAA.AAAA.AAAA.AAAA"
		}, reason: audit.ReasonInvalidToken},
		{name: "16 only dots", token: func(*testing.T, *jwtEnv) string { return ".." }, reason: audit.ReasonInvalidToken},
		{name: "16 empty payload", token: replaceSegment(1, func(string) string { return "" }), reason: audit.ReasonInvalidToken},
		{name: "16 padding", token: func(t *testing.T, e *jwtEnv) string {
			// A header whose encoding needs padding.
			h := `{"alg":"ES256","typ":"at+jwt","kid":"es256-1","x":"a"}`
			for len(h)%3 == 0 {
				h = h[:len(h)-2] + `a"}`
			}
			tok := signed(t, e.keys.es256, h, claimsJSON(t, validClaims(e.now())))
			i := strings.IndexByte(tok, '.')
			return base64.URLEncoding.EncodeToString([]byte(h)) + tok[i:]
		}, reason: audit.ReasonInvalidToken},
		{name: "16 padding on the signature", token: func(t *testing.T, e *jwtEnv) string { return e.valid(t) + "==" }, reason: audit.ReasonInvalidToken},
		{name: "16 standard base64 characters", token: replaceSegment(1, func(s string) string { return "+/" + s[2:] }), reason: audit.ReasonInvalidToken},
		{name: "16 asterisk", token: replaceSegment(0, func(s string) string { return s[:4] + "*" + s[5:] }), reason: audit.ReasonInvalidToken},
		{name: "16 newline inside a segment", token: replaceSegment(1, func(s string) string { return s[:4] + "\n" + s[4:] }), reason: audit.ReasonInvalidToken},
		{name: "16 space around", token: func(t *testing.T, e *jwtEnv) string { return " " + e.valid(t) }, reason: audit.ReasonInvalidToken},
		{name: "16 unused bits set in the last character", token: replaceSegment(0, setUnusedBits), reason: audit.ReasonInvalidToken},
		{name: "16 duplicate alg ES256 then none", token: exact(`{"alg":"ES256","alg":"none","typ":"at+jwt","kid":"es256-1"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 duplicate alg none then ES256", token: exact(`{"alg":"none","alg":"ES256","typ":"at+jwt","kid":"es256-1"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 duplicate alg, escaped name", token: exact(`{"alg":"ES256","a\u006cg":"none","typ":"at+jwt","kid":"es256-1"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 duplicate kid", token: exact(`{"alg":"ES256","typ":"at+jwt","kid":"es256-1","kid":"rs256-1"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 duplicate sub", token: claimsWith(`,"sub":"admin"`), reason: audit.ReasonInvalidToken},
		{name: "16 duplicate aud", token: claimsWith(`,"aud":"https://other.example"`), reason: audit.ReasonInvalidToken},
		{name: "16 escaped member names accepted", token: exact(`{"\u0061lg":"ES256","typ":"at\u002bjwt","kid":"es256-1"}`, "")},
		{name: "16 non-UTF-8 header", token: exact(`{"alg":"ES256","typ":"at+jwt","kid":"es256-1","x":"`+"\xff\xfe"+`"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 non-UTF-8 claims", token: claimsWith(`,"x":"` + "\xc3\x28" + `"`), reason: audit.ReasonInvalidToken},
		{name: "16 nested cty JWT", token: exact(`{"alg":"ES256","typ":"at+jwt","kid":"es256-1","cty":"JWT"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 header not an object", token: exact(`["ES256"]`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 header with trailing data", token: exact(hdr+`x`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 alg a number", token: exact(`{"alg":256,"typ":"at+jwt","kid":"es256-1"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 alg missing", token: exact(`{"typ":"at+jwt","kid":"es256-1"}`, ""), reason: audit.ReasonInvalidToken},
		{name: "16 claims an array", token: exact(hdr, `[{"sub":"x"}]`), reason: audit.ReasonInvalidToken},
		{name: "16 claims a string", token: exact(hdr, `"claims"`), reason: audit.ReasonInvalidToken},
		{name: "16 claims not JSON", token: exact(hdr, `{"sub":`), reason: audit.ReasonInvalidToken},
		{name: "16 JWS JSON serialization", token: jwsJSON(false), reason: audit.ReasonInvalidToken},
		{name: "16 flattened JWS JSON serialization", token: jwsJSON(true), reason: audit.ReasonInvalidToken},
		{name: "16 over the size limit", token: exact(`{"alg":"ES256","typ":"at+jwt","kid":"es256-1","x":"`+strings.Repeat("a", DefaultMaxTokenBytes)+`"}`, ""), reason: audit.ReasonCredentialTooLarge},
		{name: "16 over a smaller size limit", opts: []JWTOption{WithMaxTokenBytes(1024)}, token: exact(`{"alg":"ES256","typ":"at+jwt","kid":"es256-1","x":"`+strings.Repeat("a", 1024)+`"}`, ""), reason: audit.ReasonCredentialTooLarge},
	})
}

// setUnusedBits changes the last character of a base64url segment so
// that the bits past the data are not zero (the segment decodes to the
// same bytes leniently, and is refused strictly).
func setUnusedBits(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		return seg + "A" // no unused bits: make the length invalid instead
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

// TestJWTWeakKeys covers SECURITY-CHECKLIST item 17: weak or unsupported
// keys in the JWKS are ignored, and their tokens refused.
func TestJWTWeakKeys(t *testing.T) {
	runJWTCases(t, []jwtCase{
		{name: "17 RSA-1024 key", token: func(t *testing.T, e *jwtEnv) string { return mint(t, e.keys.rsa1024, validClaims(e.now())) }, reason: audit.ReasonUnknownKID},
		{name: "17 P-384 key published as ES256", token: func(t *testing.T, e *jwtEnv) string { return mint(t, e.keys.p384, validClaims(e.now())) }, reason: audit.ReasonUnknownKID},
		{name: "17 P-384 key as ES384", token: func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.p384.withAlg(jwa.ES384), validClaims(e.now()))
		}, reason: audit.ReasonDisallowedAlgorithm},
		{name: "17 oct key", token: func(t *testing.T, e *jwtEnv) string {
			return mintRaw(t, jwa.HS256, e.keys.hmac, `{"alg":"HS256","typ":"at+jwt","kid":"oct-1"}`, claimsJSON(t, validClaims(e.now())))
		}, reason: audit.ReasonDisallowedAlgorithm},
		{name: "17 oct key's kid with ES256", token: func(t *testing.T, e *jwtEnv) string {
			return mint(t, e.keys.es256.withKID("oct-1"), validClaims(e.now()))
		}, reason: audit.ReasonUnknownKID},
	})
}

func TestParseKeySet(t *testing.T) {
	ks := theKeys(t)
	allowed := map[jwa.SignatureAlgorithm]bool{jwa.ES256: true, jwa.EdDSA: true, jwa.PS256: true, jwa.RS256: true}
	good := jwkOf(t, ks.es256)
	with := func(k *testKey, members ...any) map[string]any {
		m := jwkOf(t, k)
		for i := 0; i+1 < len(members); i += 2 {
			name, _ := members[i].(string)
			if members[i+1] == nil {
				delete(m, name)
			} else {
				m[name] = members[i+1]
			}
		}
		return m
	}
	privateEC := jwkRaw(t, ks.es256Other.priv, map[string]any{"kid": "private", "alg": "ES256", "use": "sig"})
	tests := []struct {
		name    string
		keys    []map[string]any
		raw     string // the document, instead of keys
		want    []string
		wantErr bool
	}{
		{name: "good keys kept", keys: []map[string]any{good, jwkOf(t, ks.eddsa), jwkOf(t, ks.rs256), jwkOf(t, ks.ps256)}, want: []string{"eddsa-1", "es256-1", "ps256-1", "rs256-1"}},
		{name: "RSA-1024 ignored", keys: []map[string]any{good, jwkOf(t, ks.rsa1024)}, want: []string{"es256-1"}},
		{name: "P-384 as ES256 ignored", keys: []map[string]any{good, jwkOf(t, ks.p384)}, want: []string{"es256-1"}},
		{name: "P-256 as ES384 ignored (not allowed)", keys: []map[string]any{good, with(ks.es256Other, "alg", "ES384")}, want: []string{"es256-1"}},
		{name: "oct ignored", keys: []map[string]any{good, {"kty": "oct", "kid": "o", "alg": "HS256", "use": "sig", "k": "c2VjcmV0"}}, want: []string{"es256-1"}},
		{name: "oct claiming ES256 ignored", keys: []map[string]any{good, {"kty": "oct", "kid": "o", "alg": "ES256", "use": "sig", "k": "c2VjcmV0"}}, want: []string{"es256-1"}},
		{name: "no kid ignored", keys: []map[string]any{good, with(ks.eddsa, "kid", nil)}, want: []string{"es256-1"}},
		{name: "no alg ignored", keys: []map[string]any{good, with(ks.eddsa, "alg", nil)}, want: []string{"es256-1"}},
		{name: "no use ignored", keys: []map[string]any{good, with(ks.eddsa, "use", nil)}, want: []string{"es256-1"}},
		{name: "use enc ignored", keys: []map[string]any{good, with(ks.eddsa, "use", "enc")}, want: []string{"es256-1"}},
		{name: "key_ops without verify ignored", keys: []map[string]any{good, with(ks.eddsa, "key_ops", []string{"encrypt"})}, want: []string{"es256-1"}},
		{name: "key_ops with verify kept", keys: []map[string]any{with(ks.eddsa, "key_ops", []string{"verify"})}, want: []string{"eddsa-1"}},
		{name: "alg none ignored", keys: []map[string]any{good, with(ks.eddsa, "alg", "none")}, want: []string{"es256-1"}},
		{name: "RSA key claiming ES256 ignored", keys: []map[string]any{good, with(ks.rs256, "alg", "ES256", "kid", "x")}, want: []string{"es256-1"}},
		{name: "EC key claiming EdDSA ignored", keys: []map[string]any{good, with(ks.es256Other, "alg", "EdDSA")}, want: []string{"es256-1"}},
		{name: "private key ignored", keys: []map[string]any{good, privateEC}, want: []string{"es256-1"}},
		{name: "unknown kty ignored", keys: []map[string]any{good, {"kty": "XYZ", "kid": "z", "alg": "ES256", "use": "sig"}}, want: []string{"es256-1"}},
		{name: "hostile kid ignored", keys: []map[string]any{good, with(ks.eddsa, "kid", "a\x00b")}, want: []string{"es256-1"}},
		{name: "duplicate kids both ignored", keys: []map[string]any{good, with(ks.eddsa, "kid", "dup"), with(ks.rs256, "kid", "dup")}, want: []string{"es256-1"}},
		{name: "only weak keys is an error", keys: []map[string]any{jwkOf(t, ks.rsa1024)}, wantErr: true},
		{name: "empty set is an error", keys: []map[string]any{}, wantErr: true},
		{name: "no keys member", raw: `{"kys":[]}`, wantErr: true},
		{name: "not JSON", raw: `{"keys":[`, wantErr: true},
		{name: "keys not an array", raw: `{"keys":{}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			if tt.raw == "" {
				raw = jwksDoc(t, tt.keys...)
			}
			set, _, err := parseKeySet(raw, allowed)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed, want error (kids %v)", kidsOf(set))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := kidsOf(set); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("kids %v, want %v", got, tt.want)
			}
		})
	}
}

func kidsOf(s *keySet) []string {
	if s == nil {
		return nil
	}
	var kids []string
	for kid := range s.keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return kids
}

// TestJWTPrincipalAndClaims checks what a valid token yields.
func TestJWTPrincipalAndClaims(t *testing.T) {
	env := newJWTEnv(t)
	now := env.now()
	c := validClaims(now).with("nbf", now.Add(-time.Minute).Unix(), "aud", []string{"x", testAudience},
		"cnf", map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
	tok := mint(t, env.keys.es256, c)
	p, err := env.auth.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{Subject: "user-42", ClientID: "client-1", Kind: authv1.CredentialKind_CREDENTIAL_KIND_JWT,
		Scopes: []string{"things:read", "things:write"}, Trust: TrustBearer, TokenID: "jti-1", ExpiresAt: now.Add(5 * time.Minute)}
	if p.Subject != want.Subject || p.ClientID != want.ClientID || p.Kind != want.Kind || p.Trust != want.Trust ||
		p.TokenID != want.TokenID || !p.ExpiresAt.Equal(want.ExpiresAt) || strings.Join(p.Scopes, " ") != "things:read things:write" {
		t.Fatalf("principal %+v, want %+v", p, want)
	}
	got, err := env.auth.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != testIssuer || got.Subject != "user-42" || strings.Join(got.Audience, ",") != "x,"+testAudience ||
		got.ClientID != "client-1" || got.Scope != "things:read things:write" || got.JTI != "jti-1" ||
		!got.IssuedAt.Equal(now.Truncate(time.Second)) || !got.NotBefore.Equal(now.Add(-time.Minute).Truncate(time.Second)) ||
		!got.ExpiresAt.Equal(now.Add(5*time.Minute)) || got.CnfX5tS256 != "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" || got.KeyID != "es256-1" {
		t.Fatalf("claims %+v", got)
	}
	// Verify hands out a copy: changing it does not change the cache.
	got.Audience[0] = "changed"
	again, err := env.auth.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if again.Audience[0] != "x" {
		t.Fatal("Verify returned the cached claims")
	}
}

func TestJWTConfiguration(t *testing.T) {
	src := JWKSFunc(func(context.Context) ([]byte, error) { return nil, errOutage })
	tests := []struct {
		name    string
		src     JWKSSource
		opts    []JWTOption
		wantErr string
	}{
		{name: "complete", src: src, opts: []JWTOption{WithIssuer(testIssuer), WithAudience(testAudience)}},
		{name: "introspection", src: src, opts: []JWTOption{WithIssuer(testIssuer), WithAnyAudience()}},
		{name: "no issuer", src: src, opts: []JWTOption{WithAudience(testAudience)}, wantErr: "WithIssuer"},
		{name: "no audience", src: src, opts: []JWTOption{WithIssuer(testIssuer)}, wantErr: "WithAudience"},
		{name: "audience after any audience", src: src, opts: []JWTOption{WithIssuer(testIssuer), WithAnyAudience(), WithAudience("")}, wantErr: "WithAudience"},
		{name: "no source", opts: []JWTOption{WithIssuer(testIssuer), WithAudience(testAudience)}, wantErr: "no JWKS source"},
		{name: "only HMAC and none", src: src, opts: []JWTOption{WithIssuer(testIssuer), WithAudience(testAudience), WithAlgorithms(jwa.HS256, jwa.NoSignature, "None")}, wantErr: "algorithm"},
		{name: "remote plain http JWKS", src: NewHTTPJWKSSource("http://keys.example/jwks"), opts: []JWTOption{WithIssuer(testIssuer), WithAudience(testAudience)}, wantErr: "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewJWTAuthenticator(tt.src, append(tt.opts, WithJWTLogger(discardLogger()))...)
			err := a.ConfigError()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("config error %v, want one about %q", err, tt.wantErr)
			}
			// A misconfigured authenticator refuses every token with
			// Unavailable, and fetches nothing.
			_, aerr := a.Authenticate(context.Background(), "a.b.c")
			ae := asAuthError(aerr)
			if ae.Code != codes.Unavailable {
				t.Fatalf("misconfigured authenticator answered %v", ae.Code)
			}
		})
	}
}

func TestJWTTooLargeBeforeFetch(t *testing.T) {
	env := newJWTEnv(t)
	tok := strings.Repeat("A", DefaultMaxTokenBytes+1)
	_, err := env.auth.Authenticate(context.Background(), tok)
	wantRefusal(t, err, audit.ReasonCredentialTooLarge, tok)
	if env.jwks.Hits() != 0 {
		t.Fatal("an oversized token caused a JWKS fetch")
	}
}

// fakeRevocations revokes by jti.
type fakeRevocations struct {
	mu  sync.Mutex
	ids map[string]bool
}

func newFakeRevocations() *fakeRevocations {
	return &fakeRevocations{ids: map[string]bool{}}
}

func (r *fakeRevocations) revoke(jti string) {
	r.mu.Lock()
	r.ids[jti] = true
	r.mu.Unlock()
}

func (r *fakeRevocations) Revoked(c *Claims) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[c.JTI]
}

// TestJWTRevocation covers SECURITY-CHECKLIST item 15 at the validator:
// once the revocation list has the jti, the token is refused at once,
// cached or not, and Verify (introspection) refuses it too.
func TestJWTRevocation(t *testing.T) {
	revs := newFakeRevocations()
	env := newJWTEnv(t, WithRevocationList(revs))
	tok := env.valid(t)
	other := mint(t, env.keys.es256, validClaims(env.now()).with("jti", "jti-2"))
	for _, tk := range []string{tok, other} {
		if _, err := env.auth.Authenticate(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	revs.revoke("jti-1")
	_, err := env.auth.Authenticate(context.Background(), tok)
	wantRefusal(t, err, audit.ReasonRevokedToken, tok)
	_, err = env.auth.Verify(context.Background(), tok)
	wantRefusal(t, err, audit.ReasonRevokedToken, tok)
	if _, err := env.auth.Authenticate(context.Background(), other); err != nil {
		t.Fatalf("another token refused: %v", err)
	}
}
