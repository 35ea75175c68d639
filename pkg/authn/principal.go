package authn

import (
	"context"
	"slices"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
)

// TrustLevel is how strongly a credential binds the caller to its identity.
// Levels are ordered: a higher value is a stronger assurance, so a policy
// can require p.Trust >= TrustBearer.
type TrustLevel int

const (
	// TrustNone is the zero value: no credential.
	TrustNone TrustLevel = iota
	// TrustAPIKey is a static shared secret: whoever holds the key is the
	// client, until the key is revoked or expires.
	TrustAPIKey
	// TrustBearer is a short-lived signed access token (JWT): still a
	// bearer credential, but it expires within minutes.
	TrustBearer
	// TrustMTLS is a credential bound to a client certificate whose private
	// key the caller proved it holds (RFC 8705). The Validator raises a
	// certificate-bound JWT to it when the request's certificate matches.
	TrustMTLS
)

// String returns the level's name.
func (t TrustLevel) String() string {
	switch t {
	case TrustNone:
		return "none"
	case TrustAPIKey:
		return "api_key"
	case TrustBearer:
		return "bearer"
	case TrustMTLS:
		return "mtls"
	}
	return "unknown"
}

// Principal is the authenticated caller of a request.
//
// A Principal may be shared between requests (the API-key and JWT caches
// hand out the same one for every request with the same credential): treat
// it, and its Scopes slice, as read-only.
type Principal struct {
	// Subject is who the request acts for. For client credentials and API
	// keys it is the client itself, so Subject == ClientID.
	Subject string
	// ClientID is the OAuth client that presented the credential.
	ClientID string
	// Kind is the kind of credential presented.
	Kind authv1.CredentialKind
	// Scopes are the scopes granted to the credential.
	Scopes []string
	// Trust is the assurance of the credential.
	Trust TrustLevel
	// KeyID is the API key's public id, for API keys.
	KeyID string
	// RateLimitTier names the client's tier in pkg/ratelimit.
	RateLimitTier string
	// TokenID is the access token's jti, for JWTs.
	TokenID string
	// ExpiresAt is when the access token expires (its exp), for JWTs; zero
	// for other credentials.
	ExpiresAt time.Time
	// IssuedAt is when the access token was issued (its iat), for JWTs;
	// zero for other credentials. A client or subject revocation refuses
	// tokens issued at or before its time.
	IssuedAt time.Time
	// SigningKeyID is the kid of the key that signed the access token, for
	// JWTs.
	SigningKeyID string
	// FamilyID is the refresh-token family an access token was issued
	// from, when it was; revoking the family refuses its access tokens.
	FamilyID string
	// CertSerial is the serial number (lower-case hex) of the client
	// certificate the request was made with (its own TLS connection's, or
	// the one a trusted forwarder stated); empty without one. The Validator
	// sets it on its own copy of the principal, before the
	// RevocationChecker sees it.
	CertSerial string
	// CertThumbprint is the x5t#S256 of the client certificate the
	// credential is bound to (a JWT's cnf claim, RFC 8705 §3.1); empty for
	// a bearer credential. The Validator refuses a bound credential on a
	// request made without that certificate.
	CertThumbprint string
	// DPoPJKT is the thumbprint of the DPoP key the credential is bound to
	// (a JWT's cnf.jkt, RFC 9449 §6.1); empty otherwise. The Validator
	// accepts a bound credential only with the DPoP scheme and a proof by
	// that key.
	DPoPJKT string
}

// HasScope reports whether scope was granted.
func (p *Principal) HasScope(scope string) bool {
	return p != nil && slices.Contains(p.Scopes, scope)
}

type principalKey struct{}

// NewContext returns a copy of ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the validator put in ctx. It returns
// false for a public method, which runs without a principal.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
