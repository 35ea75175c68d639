package authn_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"google.golang.org/grpc/status"
)

// Validating JWT access tokens of one issuer. In a split deployment the
// JWKS comes from the issuer's jwks_uri (NewHTTPJWKSSource) or from a
// KeyManagementService.GetJWKS call wrapped in JWKSFunc; here an in-memory
// key stands in for the key service.
func ExampleNewJWTAuthenticator() {
	// The issuer's signing key and its JWKS.
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub, _ := jwk.FromRaw(priv.Public())
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, jwa.EdDSA)
	_ = pub.Set(jwk.KeyUsageKey, jwk.ForSignature)
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwksJSON, _ := json.Marshal(set)
	keys := authn.JWKSFunc(func(context.Context) ([]byte, error) { return jwksJSON, nil })
	// Or: keys := authn.NewHTTPJWKSSource("https://auth.example/.well-known/jwks.json")

	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tokens := authn.NewJWTAuthenticator(keys,
		authn.WithIssuer("https://auth.example"),
		authn.WithAudience("https://api.example/orders"),
		authn.WithClock(func() time.Time { return now }), // for the example only
	)
	// Register it with the validator: bearer tokens that are not API keys
	// reach it.
	//   v := authn.NewValidator(rules, authn.WithAuthenticator(tokens), ...)
	// With NATS: stop, err := tokens.FollowKeyRotations(ctx, nc)

	// An access token as the issuer signs it (RFC 9068).
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "at+jwt")
	_ = hdr.Set(jws.KeyIDKey, "k1")
	claims, _ := json.Marshal(map[string]any{
		"iss": "https://auth.example", "aud": "https://api.example/orders",
		"sub": "partner-42", "client_id": "partner-42", "scope": "orders:read",
		"jti": "t-1", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	tok, _ := jws.Sign(claims, jws.WithKey(jwa.EdDSA, priv, jws.WithProtectedHeaders(hdr)))

	p, err := tokens.Authenticate(context.Background(), string(tok))
	fmt.Println(p.ClientID, p.Scopes, p.TokenID, p.ExpiresAt.Format(time.RFC3339), err)

	_, err = tokens.Authenticate(context.Background(), string(tok[:len(tok)-2])+"AA")
	st := status.Convert(err)
	fmt.Println(st.Code(), st.Message())
	// Output:
	// partner-42 [orders:read] t-1 2030-01-02T03:09:05Z <nil>
	// Unauthenticated invalid signature
}
