package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// The OpenID Connect scopes (Core §3.1.2.1, §5.4). A first-party client may
// ask for them without registering them; a third-party client only if it is
// registered for them.
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
	ScopeEmail   = "email"
)

// oidcScopes are the scopes the discovery document lists beside the
// catalogue's.
var oidcScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail}

// ignoredScopes are OpenID Connect scopes that grant nothing here, which
// an authorization request may carry (relying-party libraries and AppAuth
// often ask for them): Core §3.1.2.1 says to ignore what is not
// understood, so they are dropped rather than refused. offline_access:
// refresh tokens follow the client's refresh_token grant; address and
// phone: no user has those claims.
var ignoredScopes = []string{"offline_access", "address", "phone"}

// Defaults and limits of OpenID Connect.
const (
	// DefaultIDTokenLifetime is the exp of an ID token, unless the client
	// is registered with its own.
	DefaultIDTokenLifetime = 5 * time.Minute
	// maxNonceLen bounds nonce: it is echoed in the ID token.
	maxNonceLen = 1024
	// maxHintLen bounds id_token_hint and login_hint.
	maxHintLen = 8 << 10
)

// allowsScope says whether cl may be granted scope: a registered scope, or
// an OpenID Connect scope for a first-party client.
func (c *client) allowsScopeOIDC(scope string) bool {
	return c.allowsScope(scope) || (c.firstParty && slices.Contains(oidcScopes, scope))
}

// UserClaims are what the user service knows of a user that the ID token
// and UserInfo may carry (OpenID Connect Core §5.1).
type UserClaims struct {
	Email             string
	EmailVerified     bool
	Name              string
	GivenName         string
	FamilyName        string
	PreferredUsername string
	Locale            string
	UpdatedAt         time.Time
	Disabled          bool
}

// ErrUnknownUser is what Users.Claims returns for a user that does not
// exist (any more).
var ErrUnknownUser = errors.New("token: unknown user")

// sessionID is the sid of a login session (OpenID Connect Back-Channel
// Logout §2.1): stable for the session, and not the cookie's secret nor its
// stored hash, from which it is derived one-way.
func sessionID(sessionHash []byte) string {
	h := sha256.New()
	h.Write([]byte("gatehouse sid\x00"))
	h.Write(sessionHash)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// userInfo is the JSON of the claims about a user: the UserInfo response
// (Core §5.3.2) and the profile and email part of an ID token. Each group
// is present only when its scope was granted.
type userInfo struct {
	Sub string `json:"sub"`
	*profileClaims
	*emailClaims
}

type profileClaims struct {
	Name              string `json:"name,omitempty"`
	GivenName         string `json:"given_name,omitempty"`
	FamilyName        string `json:"family_name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Locale            string `json:"locale,omitempty"`
	// UpdatedAt is seconds since the epoch (Core §5.1).
	UpdatedAt int64 `json:"updated_at,omitempty"`
}

type emailClaims struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// claimsFor returns the claims of u that scopes allow.
func claimsFor(sub string, u UserClaims, scopes []string) userInfo {
	out := userInfo{Sub: sub}
	if slices.Contains(scopes, ScopeProfile) {
		p := &profileClaims{
			Name: u.Name, GivenName: u.GivenName, FamilyName: u.FamilyName,
			PreferredUsername: u.PreferredUsername, Locale: u.Locale,
		}
		if !u.UpdatedAt.IsZero() {
			p.UpdatedAt = u.UpdatedAt.Unix()
		}
		out.profileClaims = p
	}
	if slices.Contains(scopes, ScopeEmail) {
		out.emailClaims = &emailClaims{Email: u.Email, EmailVerified: u.EmailVerified}
	}
	return out
}

// idTokenClaims is an ID token's claims set (Core §2, §3.1.3.6).
type idTokenClaims struct {
	Iss      string   `json:"iss"`
	Aud      string   `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	AuthTime int64    `json:"auth_time"`
	Nonce    string   `json:"nonce,omitempty"`
	Azp      string   `json:"azp"`
	AtHash   string   `json:"at_hash,omitempty"`
	Sid      string   `json:"sid,omitempty"`
	Amr      []string `json:"amr,omitempty"`
	Jti      string   `json:"jti"`
	userInfo
}

// idTokenFor is what an ID token of a grant says beyond the grant: the
// nonce of the authorization request (empty on refresh, Core §12.2) and the
// access token issued with it.
type idTokenFor struct {
	nonce       string
	accessToken string
}

// idToken mints the ID token of a grant whose token response carries
// scopes including openid. Its claims about the user come from the user
// service, and only those scopes allow: they are in the ID token as well as
// at UserInfo, as Keycloak does, so a single-page app needs no second
// request to show who signed in.
func (g *userGrants) idToken(ctx context.Context, cl *client, fam grantstore.Family, scopes []string, t idTokenFor) (string, error) {
	claims := idTokenClaims{
		Iss: g.s.cfg.Issuer, Aud: cl.id, Azp: cl.id,
		AuthTime: fam.AuthTime.Unix(), Nonce: t.nonce, Sid: fam.SessionID,
		// The login page checks a password: the only method today.
		Amr:      []string{"pwd"},
		userInfo: userInfo{Sub: fam.UserID},
	}
	if slices.Contains(scopes, ScopeProfile) || slices.Contains(scopes, ScopeEmail) {
		u, err := g.s.users.Claims(ctx, fam.UserID)
		switch {
		case errors.Is(err, ErrUnknownUser):
			return "", errInvalidGrant("the user no longer exists")
		case err != nil:
			return "", errUnavailable(err)
		case u.Disabled:
			return "", errInvalidGrant("the user is disabled")
		}
		claims.userInfo = claimsFor(fam.UserID, u, scopes)
	}
	life := cl.idTokenLifetime
	if life <= 0 {
		life = g.s.cfg.IDTokenLifetime
	}
	return g.minter.signJWT(ctx, typJWT, func(alg jwa.SignatureAlgorithm) (any, error) {
		now := g.s.cfg.Now()
		claims.Iat, claims.Exp = now.Unix(), now.Add(life).Unix()
		jti, err := randomID()
		if err != nil {
			return nil, err
		}
		claims.Jti = jti
		if t.accessToken != "" {
			h, err := halfHash(alg, t.accessToken)
			if err != nil {
				return nil, err
			}
			claims.AtHash = h
		}
		return claims, nil
	})
}

// randomID is 128 random bits, base64url: a jti.
func randomID() (string, error) {
	var b [jtiBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// halfHash is at_hash (Core §3.1.3.6): the base64url of the left half of
// the hash of s, with the hash of the ID token's alg. EdDSA has none of its
// own; SHA-512 is what the OpenID Foundation's tests and the common
// relying-party libraries use for Ed25519.
func halfHash(alg jwa.SignatureAlgorithm, s string) (string, error) {
	var h crypto.Hash
	switch alg {
	case jwa.ES256, jwa.RS256, jwa.PS256:
		h = crypto.SHA256
	case jwa.ES384, jwa.RS384, jwa.PS384:
		h = crypto.SHA384
	case jwa.ES512, jwa.RS512, jwa.PS512, jwa.EdDSA:
		h = crypto.SHA512
	default:
		return "", fmt.Errorf("token: no at_hash for alg %s", alg)
	}
	d := h.New()
	d.Write([]byte(s))
	sum := d.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// JWT types this service signs besides access tokens: ID tokens (Core §2
// does not register one; JWT is what every relying-party library accepts,
// and never at+jwt, so a resource server refuses an ID token as an access
// token) and back-channel logout tokens (Back-Channel Logout §2.4).
const (
	typJWT    = "JWT"
	typLogout = "logout+jwt"
)

// signJWT signs the claims that build returns, as a JWS of typ with the
// active signing key; build gets the key's alg (for at_hash).
func (m *jwtMinter) signJWT(ctx context.Context, typ string, build func(jwa.SignatureAlgorithm) (any, error)) (string, error) {
	sk, err := m.signer.SigningKey(ctx)
	if err != nil {
		return "", errUnavailable(fmt.Errorf("signing key: %w", err))
	}
	pk, err := m.prepare(sk)
	if err != nil {
		return "", errServer(err)
	}
	claims, err := build(pk.alg)
	if err != nil {
		return "", errServer(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", errServer(fmt.Errorf("encode %s claims: %w", typ, err))
	}
	header := make([]byte, 0, 64+len(pk.kid))
	header = append(header, `{"alg":`...)
	header = appendJSONString(header, pk.alg.String())
	header = append(header, `,"kid":`...)
	header = appendJSONString(header, pk.kid)
	header = append(header, `,"typ":`...)
	header = appendJSONString(header, typ)
	header = append(header, '}')
	out := base64.RawURLEncoding.AppendEncode(nil, header)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, payload)
	sig, err := pk.sign(out)
	if err != nil {
		return "", errServer(fmt.Errorf("sign %s: %w", typ, err))
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	return string(out), nil
}
