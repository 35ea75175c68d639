package token

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Audit reasons of the user grants.
const (
	// ReasonCodeReuse: an authorization code presented a second time; the
	// grant it created is revoked (RFC 6749 §4.1.2).
	ReasonCodeReuse = audit.ReasonCodeReuse
	// ReasonRefreshReuse: a rotated-out refresh token presented again; its
	// whole family is revoked (RFC 9700 §4.14.2).
	ReasonRefreshReuse = audit.ReasonRefreshReuse
)

const (
	// maxOpaqueLen bounds codes and refresh tokens presented: ours are 43
	// characters.
	maxOpaqueLen = 512
	// familyEntryLife is how long a revoked family stays in the
	// revocation list: as long as an access token issued from it could
	// live (the registry's longest lifetime, 60 min) plus skew.
	familyEntryLife = time.Hour + time.Minute
)

// userGrants holds what the authorization_code and refresh_token grants
// share: the grant store and the minter.
type userGrants struct {
	s      *Service
	minter accessTokenMinter
}

func errInvalidGrant(description string) *Error {
	return newError(CodeInvalidGrant, http.StatusBadRequest, "%s", description)
}

// codeGrant is RFC 6749 §4.1.3 with RFC 7636 §4.5-4.6.
type codeGrant struct{ userGrants }

func (g *codeGrant) handle(ctx context.Context, cl *client, f *form) (*tokenResponse, error) {
	code, verifier := f.get("code"), f.get("code_verifier")
	switch {
	case code == "":
		return nil, errInvalidRequest("code is required")
	case len(code) > maxOpaqueLen:
		return nil, errInvalidGrant("the code is invalid")
	case verifier == "":
		// Checked before the code is spent (checklist item 46).
		return nil, errInvalidGrant("code_verifier is required (PKCE)")
	case !validVerifier(verifier):
		return nil, errInvalidGrant("code_verifier must be 43 to 128 unreserved characters")
	}
	now := g.s.cfg.Now()
	jkt := dpopJKT(ctx)
	redirect := f.get("redirect_uri")
	// The grant is decided before the code is read, so a store can spend
	// the code and store the grant in one statement when the code is the
	// one expected; Check decides for any other.
	x := &grantstore.CodeExchange{
		ClientID: cl.id, RedirectURI: redirect, Challenge: s256(verifier), DPoPJKT: jkt,
		FamilyExpiresAt: now.Add(g.s.cfg.RefreshLifetime),
		// RFC 9449 §5: a public client's refresh tokens are bound to the
		// key of the proof that obtained them; a confidential client's
		// are bound to its authentication already.
		BindFamily: cl.public,
	}
	var rtRaw string
	if cl.allowsGrant(grantRefreshToken) {
		raw, hash, err := newSecret()
		if err != nil {
			return nil, errServer(err)
		}
		rtRaw = raw
		idle := x.FamilyExpiresAt // not rotated (see refreshGrant), so no idle timeout either
		if cl.public {
			idle = now.Add(g.s.cfg.RefreshIdle) // Grant caps it at the family's expiry
		}
		x.Refresh = &grantstore.Refresh{Hash: hash, IdleExpiresAt: idle}
	}
	x.Check = func(c grantstore.Code) error {
		if c.ClientID != cl.id { // not-secret: compares client ids
			return errInvalidGrant("the code was issued to another client")
		}
		if c.RedirectURI != "" && redirect != c.RedirectURI {
			return errInvalidGrant("redirect_uri differs from the authorization request")
		}
		if c.RedirectURI == "" && redirect != "" && !slices.Contains(cl.redirectURIs, redirect) {
			return errInvalidGrant("redirect_uri differs from the authorization request")
		}
		if !verifierMatches(verifier, c.Challenge) {
			return errInvalidGrant("code_verifier does not match the code_challenge")
		}
		// RFC 9449 §10: a code bound with dpop_jkt is exchanged only with
		// a proof by that key.
		if c.DPoPJKT != "" && !sameJKT(c.DPoPJKT, jkt) {
			g.s.record(ctx, ReasonDPoPBindingMismatch, cl.id, tokenPath, "")
			return errInvalidGrant("the DPoP proof is not by the key the code is bound to (dpop_jkt)")
		}
		return nil
	}
	// The checks run inside the redemption, and the grant is stored with
	// it (checklist item 49): of concurrent exchanges of one code exactly
	// one issues tokens, and a replay finds its grant to revoke. A refused
	// exchange still spends the code.
	c, err := g.s.grants.ExchangeCode(ctx, hashSecret(code), now, x)
	var refused *Error
	switch {
	case errors.Is(err, grantstore.ErrCodeRedeemed):
		// A replay: whoever redeemed it first may be the attacker, so
		// everything issued from the code goes (checklist item 49).
		g.s.record(ctx, ReasonCodeReuse, cl.id, tokenPath, "")
		if rerr := g.revokeRedeemed(ctx, c, now); rerr != nil {
			g.s.log.ErrorContext(ctx, "revoke the grant of a reused code", "error", rerr)
		}
		return nil, errInvalidGrant("the code was already used")
	case errors.Is(err, grantstore.ErrNotFound), errors.Is(err, grantstore.ErrExpired):
		return nil, errInvalidGrant("the code is invalid or expired")
	case errors.As(err, &refused):
		return nil, refused
	case err != nil:
		return nil, errUnavailable(err)
	}
	fam, _ := x.Grant(c, now)
	return g.issue(ctx, cl, fam, c.Scopes, rtRaw, c.Nonce)
}

// revokeRedeemed revokes the grant of a replayed code (checklist item 49).
// The exchange that spent the code stored its grant in the same
// transaction, so it is there; none when that exchange was refused.
func (g *codeGrant) revokeRedeemed(ctx context.Context, c grantstore.Code, now time.Time) error {
	if c.FamilyID == "" {
		return nil
	}
	reason := string(ReasonCodeReuse)
	if _, err := g.s.grants.RevokeFamily(ctx, c.FamilyID, reason, now); errors.Is(err, grantstore.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return g.s.publishFamilyRevocation(ctx, c.FamilyID, reason, now)
}

// issue mints the access token of a user grant: sub is the user, with
// auth_time and the grant id (fid); and, when scopes include openid, the ID
// token (OpenID Connect Core §3.1.3.3, and §12.2 on refresh, where nonce
// is empty).
func (g *userGrants) issue(ctx context.Context, cl *client, fam grantstore.Family, scopes []string, refreshToken, nonce string) (*tokenResponse, error) {
	life := cl.lifetime
	if life <= 0 {
		life = fallbackLifetime
	}
	scope := strings.Join(scopes, " ")
	jkt := dpopJKT(ctx)
	m, err := g.minter.mint(ctx, accessToken{
		subject: fam.UserID, clientID: cl.id, audience: g.s.cfg.DefaultAudience, scope: scope,
		lifetime: life, authTime: fam.AuthTime, familyID: fam.ID, certThumbprint: boundCert(ctx), dpopJKT: jkt,
	})
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{accessToken: m.jwt, expiresIn: m.expiresIn, scope: scope, refreshToken: refreshToken,
		refreshExpires: fam.ExpiresAt, dpopBound: jkt != ""}
	if slices.Contains(scopes, ScopeOpenID) {
		if resp.idToken, err = g.idToken(ctx, cl, fam, scopes, idTokenFor{nonce: nonce, accessToken: m.jwt}); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// errRefreshFailed marks a refresh that failed for the token itself
// (unknown, reused, revoked, expired): a cookie holding it is cleared.
var errRefreshFailed = errors.New("token: refresh token refused")

// refreshRefused is invalid_grant for a refused refresh token.
func refreshRefused(description string) *Error {
	e := errInvalidGrant(description)
	e.Cause = errRefreshFailed
	return e
}

// refreshGrant is RFC 6749 §6. For public clients with rotation: every
// use returns a new refresh token and retires the old one; a retired one
// presented again revokes the family (RFC 9700 §4.14.2). Confidential
// clients' tokens, bound to the client's authentication, are not rotated.
type refreshGrant struct{ userGrants }

func (g *refreshGrant) handle(ctx context.Context, cl *client, f *form) (*tokenResponse, error) {
	raw := f.get("refresh_token")
	switch {
	case raw == "":
		return nil, errInvalidRequest("refresh_token is required")
	case len(raw) > maxOpaqueLen:
		return nil, errInvalidGrant("the refresh token is invalid")
	}
	requested, err := parseScope(f.get("scope"))
	if err != nil {
		return nil, err
	}
	hash := hashSecret(raw)
	now := g.s.cfg.Now()
	if !cl.public || slices.ContainsFunc(requested, func(sc string) bool { return !cl.allowsScopeOIDC(sc) }) {
		// Not rotated, or refused whatever the token: no need to
		// spend a write on it.
		return g.unrotated(ctx, cl, hash, requested, now)
	}
	next, nextHash, err := newSecret()
	if err != nil {
		return nil, errServer(err)
	}
	// The store checks the client, the DPoP key and the scopes in the
	// rotation itself (one round trip); a refusal of those comes back
	// with the token and its family, for presented to say which.
	fam, old, err := g.s.grants.RotateRefresh(ctx, hash, grantstore.Presenter{ClientID: cl.id, DPoPJKT: dpopJKT(ctx)},
		grantstore.Refresh{Hash: nextHash, Scopes: requested, CreatedAt: now, IdleExpiresAt: now.Add(g.s.cfg.RefreshIdle)}, now)
	switch {
	case errors.Is(err, grantstore.ErrNotFound):
		return nil, refreshRefused("the refresh token is invalid")
	case errors.Is(err, grantstore.ErrMismatch):
		if _, perr := g.presented(ctx, cl, fam, old, requested); perr != nil {
			return nil, perr
		}
		return nil, errInvalidGrant("the refresh token does not match the request")
	case errors.Is(err, grantstore.ErrRefreshReused):
		g.s.record(ctx, ReasonRefreshReuse, cl.id, tokenPath, "")
		if rerr := g.s.publishFamilyRevocation(ctx, fam.ID, string(ReasonRefreshReuse), now); rerr != nil {
			g.s.log.ErrorContext(ctx, "publish the revocation of a reused refresh token's family", "error", rerr)
		}
		return nil, refreshRefused("the refresh token was already used")
	case errors.Is(err, grantstore.ErrRevoked), errors.Is(err, grantstore.ErrExpired):
		return nil, refreshRefused("the refresh token is revoked or expired")
	case err != nil:
		return nil, errUnavailable(err)
	}
	scopes := requested
	if len(scopes) == 0 {
		scopes = old.Scopes
	}
	return g.issue(ctx, cl, fam, scopes, next, "")
}

// presented checks a refresh token's family against the request: its
// client (checklist item 65: another client's attempt changes nothing), its
// DPoP key (RFC 9449 §5: the token is not spent by the refusal) and the
// scopes, which may narrow, never widen (checklist item 66). It returns the
// scopes of the response.
func (g *refreshGrant) presented(ctx context.Context, cl *client, fam grantstore.Family, old grantstore.Refresh, requested []string) ([]string, error) {
	if fam.ClientID != cl.id { // not-secret: compares client ids
		return nil, errInvalidGrant("the refresh token was issued to another client")
	}
	if fam.DPoPJKT != "" && !sameJKT(fam.DPoPJKT, dpopJKT(ctx)) {
		g.s.record(ctx, ReasonDPoPBindingMismatch, cl.id, tokenPath, "")
		return nil, errInvalidGrant("the refresh token is bound to another DPoP key, or no proof was sent")
	}
	if len(requested) == 0 {
		return old.Scopes, nil
	}
	for _, sc := range requested {
		if !slices.Contains(fam.Scopes, sc) || !cl.allowsScopeOIDC(sc) {
			return nil, newError(CodeInvalidScope, http.StatusBadRequest, "scope %s was not granted", sc)
		}
	}
	return requested, nil
}

// unrotated is the refresh of a confidential client, whose refresh token is
// bound to its client authentication and is not rotated: a retry with the
// same token after a lost response must work (checklist item 64, FAPI 2.0
// §5.3.2.1), so there is nothing to detect reuse of. The response carries
// no new refresh token; the client keeps its own. It also refuses a public
// client's request for scopes the client may not have, before any write.
func (g *refreshGrant) unrotated(ctx context.Context, cl *client, hash []byte, requested []string, now time.Time) (*tokenResponse, error) {
	old, fam, err := g.s.grants.GetRefresh(ctx, hash)
	switch {
	case errors.Is(err, grantstore.ErrNotFound):
		return nil, refreshRefused("the refresh token is invalid")
	case err != nil:
		return nil, errUnavailable(err)
	}
	scopes, err := g.presented(ctx, cl, fam, old, requested)
	if err != nil {
		return nil, err
	}
	if cl.public {
		// Only a request for scopes the client may not have comes here.
		return nil, errInvalidGrant("the refresh token does not match the request")
	}
	switch {
	case !fam.RevokedAt.IsZero() || !old.RotatedAt.IsZero():
		return nil, refreshRefused("the refresh token is revoked")
	case !now.Before(fam.ExpiresAt) || !now.Before(old.IdleExpiresAt):
		return nil, refreshRefused("the refresh token is expired")
	}
	return g.issue(ctx, cl, fam, scopes, "", "")
}

// revokeFamily revokes a grant in the store and in the revocation list
// (its access tokens carry its id).
func (s *Service) revokeFamily(ctx context.Context, id, reason string, now time.Time) error {
	if _, err := s.grants.RevokeFamily(ctx, id, reason, now); err != nil && !errors.Is(err, grantstore.ErrNotFound) {
		return err
	}
	return s.publishFamilyRevocation(ctx, id, reason, now)
}

// publishFamilyRevocation records a revoked family in the revocation list,
// so that every validator refuses the access tokens issued from it.
func (s *Service) publishFamilyRevocation(ctx context.Context, id, reason string, now time.Time) error {
	if s.revoker == nil || id == "" {
		return nil
	}
	_, err := s.revoker.Revoke(ctx, &revocationv1.RevokeRequest{
		Kind: revocationv1.Kind_KIND_REFRESH_FAMILY, Id: id, Reason: reason,
		ExpireTime: timestamppb.New(now.Add(familyEntryLife)),
	})
	return err
}

// RevocationsApplied makes the grant store follow the revocation list:
// call it with the entries the process's follower applies, a page (or an
// event's one entry) at a time, in order. It runs in every replica; each
// step is idempotent. Each run of a page's family revocations goes to the
// grant store in one statement: a follower replays the whole list at
// every start, and a statement per family was about 20 times slower on
// PostgreSQL (BenchmarkRevocationsApplied).
func (s *Service) RevocationsApplied(ctx context.Context, entries []*revocationv1.Entry) {
	if s.grants == nil {
		return
	}
	now := s.cfg.Now()
	var families []string
	// flush revokes the families gathered so far, so that entries of the
	// other kinds apply after them, in the list's order.
	flush := func() {
		if len(families) == 0 {
			return
		}
		if _, err := s.grants.RevokeFamilies(ctx, families, "family revoked", now); err != nil {
			s.log.ErrorContext(ctx, "apply a revocation to the grant store", "kind", revocationv1.Kind_KIND_REFRESH_FAMILY.String(), "families", len(families), "error", err)
		}
		families = families[:0]
	}
	for _, e := range entries {
		if e.GetKind() == revocationv1.Kind_KIND_REFRESH_FAMILY {
			families = append(families, e.GetId())
			continue
		}
		flush()
		cut := e.GetRevokeTime().AsTime()
		var err error
		switch e.GetKind() {
		case revocationv1.Kind_KIND_SUBJECT:
			// The access tokens fall to the subject cut-off itself.
			if _, err = s.grants.RevokeUserFamilies(ctx, e.GetId(), "subject revoked", cut, now); err == nil {
				_, err = s.grants.RevokeUserSessions(ctx, e.GetId(), cut, now)
			}
		case revocationv1.Kind_KIND_CLIENT:
			s.InvalidateClient(e.GetId())
			_, err = s.grants.RevokeClientFamilies(ctx, e.GetId(), "client revoked", cut, now)
		}
		if err != nil {
			s.log.ErrorContext(ctx, "apply a revocation to the grant store", "kind", e.GetKind().String(), "error", err)
		}
	}
	flush()
}
