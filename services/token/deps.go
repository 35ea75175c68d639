package token

import (
	"context"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Clients is what the token service needs from the client registry.
// *clients.Registry implements it directly; a split deployment wires the
// generated ClientRegistryService client behind it.
type Clients interface {
	// VerifyClientSecret answers codes.Unauthenticated for an unknown
	// client, a disabled client, a wrong secret, or a client whose
	// token_endpoint_auth_method is not a client_secret one. Any other
	// error means the registry could not decide.
	VerifyClientSecret(ctx context.Context, req *clientsv1.VerifyClientSecretRequest) (*clientsv1.VerifyClientSecretResponse, error)
	// GetClient returns a client by id (codes.NotFound if absent).
	GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error)
}

// SigningKey is the active signing key: its kid, the one algorithm it is
// used with (RFC 8725 §3.1), and the private key as a JWK.
type SigningKey struct {
	KID string
	Alg jwa.SignatureAlgorithm
	// Key is the private JWK (EC P-256/P-384/P-521, RSA or Ed25519).
	Key jwk.Key
}

// Signer supplies the active signing key. It is called once per token, so
// it must be cheap: the key service's implementation holds the key in
// memory behind an atomic pointer. Returning the same jwk.Key value until a
// rotation lets the service reuse its prepared signer.
type Signer interface {
	SigningKey(ctx context.Context) (SigningKey, error)
}

// KeySet supplies the published key set (a JWKS document) of the issuer:
// the key service's JWKS.
type KeySet interface {
	JWKS(ctx context.Context) ([]byte, error)
}

// Claims are the claims of a validated access token, as introspection
// reports them (RFC 7662 §2.2).
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ClientID  string
	Scope     string // space-separated, RFC 6749 §3.3
	JTI       string
	IssuedAt  time.Time
	NotBefore time.Time // zero when absent
	Expiry    time.Time
	// CertThumbprint is cnf.x5t#S256 (RFC 8705 §3.1) of a
	// certificate-bound token; empty otherwise.
	CertThumbprint string
	// DPoPJKT is cnf.jkt (RFC 9449 §6.1) of a DPoP-bound token; empty
	// otherwise.
	DPoPJKT string
}

// Verifier validates an access token: signature against the published keys
// with the algorithm allow-list, typ at+jwt, iss, exp/nbf, and revocation.
// Any error means the token is not active. pkg/authn's JWT validator,
// configured to accept any audience, is adapted to it.
type Verifier interface {
	VerifyAccessToken(ctx context.Context, token string) (Claims, error)
}
