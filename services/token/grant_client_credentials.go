package token

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// tokenResponse is a successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	accessToken string
	expiresIn   int64
	scope       string
	// refreshToken is empty for client credentials (RFC 6749 §4.4.3).
	refreshToken string
	// refreshExpires is when the refresh token's grant ends.
	refreshExpires time.Time
	// idToken is the OpenID Connect ID token of a user grant with openid.
	idToken string
	// dpopBound: the access token carries cnf.jkt, token_type DPoP (RFC
	// 9449 §5).
	dpopBound bool
}

// grantHandler runs one grant type for a client that the dispatcher has
// already authenticated and found registered for the grant.
type grantHandler interface {
	handle(ctx context.Context, cl *client, f *form) (*tokenResponse, error)
}

// fallbackLifetime applies if a client record carries no lifetime; the
// registry always sets one (its default is also 10 minutes).
const fallbackLifetime = 10 * time.Minute

// clientCredentialsGrant is RFC 6749 §4.4: the client acts for itself, so
// sub is its client_id (client ids are "c_..." and cannot collide with user
// subjects), and no refresh token is issued (§4.4.3).
type clientCredentialsGrant struct {
	minter          accessTokenMinter
	defaultAudience string
}

var _ grantHandler = (*clientCredentialsGrant)(nil)

func (g *clientCredentialsGrant) handle(ctx context.Context, cl *client, f *form) (*tokenResponse, error) {
	requested, err := parseScope(f.get("scope"))
	if err != nil {
		return nil, err
	}
	return g.issue(ctx, cl, requested, f.all("resource"), nil)
}

// issue is the grant's core, shared with the gRPC IssueClientCredentialsToken.
func (g *clientCredentialsGrant) issue(ctx context.Context, cl *client, requested, resources, bound []string) (*tokenResponse, error) {
	scope, err := grantedScope(cl, requested, bound)
	if err != nil {
		return nil, err
	}
	aud, err := g.audience(cl, resources)
	if err != nil {
		return nil, err
	}
	life := cl.lifetime
	if life <= 0 {
		life = fallbackLifetime
	}
	jkt := dpopJKT(ctx)
	m, err := g.minter.mint(ctx, accessToken{subject: cl.id, clientID: cl.id, audience: aud, scope: scope, lifetime: life,
		certThumbprint: boundCert(ctx), dpopJKT: jkt})
	if err != nil {
		return nil, err
	}
	return &tokenResponse{accessToken: m.jwt, expiresIn: m.expiresIn, scope: scope, dpopBound: jkt != ""}, nil
}

// audience applies RFC 8707: the resource asked, which must be one the
// client registered (compared as exact strings), or the default audience.
// One resource per request here: a token has one aud.
func (g *clientCredentialsGrant) audience(cl *client, resources []string) (string, error) {
	switch len(resources) {
	case 0:
		return g.defaultAudience, nil
	case 1:
		if slices.Contains(cl.resources, resources[0]) {
			return resources[0], nil
		}
		return "", newError(CodeInvalidTarget, http.StatusBadRequest, "the resource is not registered for the client (RFC 8707 section 2)")
	}
	return "", newError(CodeInvalidTarget, http.StatusBadRequest, "one resource per token request")
}
