package token

import (
	"context"
	"errors"
	"net/http"
	"strings"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Revoker records revocations in the revocation list, from which every
// validator learns them (the revocation service, in process or through
// its gRPC client).
type Revoker interface {
	Revoke(ctx context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error)
}

// CodeUnsupportedTokenType is RFC 7009 §2.2.1's error for a token type the
// server does not revoke.
const CodeUnsupportedTokenType = "unsupported_token_type"

// apiKeyPrefix starts every Gatehouse API key (pkg/apikey). API keys are
// revoked through the client registry, which knows their owner and grace
// periods, not through RFC 7009.
const apiKeyPrefix = "gth_"

// handleRevoke is RFC 7009 §2. The caller authenticates as at the token
// endpoint (same failure budgets) and spends its request budget
// (spendClientBudget): over it, 429 with Retry-After. Every token that
// is unknown, malformed, expired, already revoked or issued to another
// client gets the same empty 200 and changes nothing (§2.2): the answer
// says nothing about other clients' tokens.
//
// token_type_hint is only a hint (§2.1): an unknown hint is ignored. An
// access token (a JWT we signed for this client) is revoked by jti until
// it expires. An API key gets unsupported_token_type: this endpoint does
// not revoke that type. A refresh token revokes its whole family, and
// through the revocation list the access tokens issued from it (RFC 7009
// §2.1 SHOULD).
func (s *Service) handleRevoke(w http.ResponseWriter, r *http.Request) {
	cl, err := s.revoke(r.Context(), w, r)
	allowCORS(w, r, cl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setNoStore(w.Header())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (s *Service) revoke(ctx context.Context, w http.ResponseWriter, r *http.Request) (*client, error) {
	f, err := readForm(w, r)
	if err != nil {
		return nil, err
	}
	cl, err := s.authenticateClient(ctx, r, f, revokePath)
	if err != nil {
		return nil, err
	}
	if err := s.spendClientBudget(ctx, cl, revokePath, s.cfg.RemoteIP(r)); err != nil {
		return cl, err
	}
	token := f.get("token")
	if token == "" && cl.refreshCookie {
		// A browser app signing out: its refresh token is the cookie.
		rt, err := s.refreshFromCookie(r, cl, f)
		s.clearRefreshCookie(w, cl.id)
		if errors.Is(err, errNoRefreshCookie) {
			return cl, nil
		}
		if err != nil {
			return cl, err
		}
		return cl, s.revokeRefresh(ctx, cl, rt)
	}
	if token == "" {
		return cl, errInvalidRequest("token is required")
	}
	if strings.HasPrefix(token, apiKeyPrefix) {
		return cl, newError(CodeUnsupportedTokenType, http.StatusBadRequest, "API keys are revoked through the client registry")
	}
	if len(token) > maxTokenLen {
		return cl, nil
	}
	if !strings.Contains(token, ".") {
		// Opaque: one of our refresh tokens, or nothing of ours. The hint
		// is not needed to tell (RFC 7009 §2.1).
		return cl, s.revokeRefresh(ctx, cl, token)
	}
	c, err := s.verifier.VerifyAccessToken(ctx, token)
	if err != nil || c.JTI == "" {
		return cl, nil // not an active token of ours: nothing to revoke
	}
	now := s.cfg.Now()
	if c.ClientID != cl.id || !now.Before(c.Expiry) {
		// Another client's token is left alone, and the caller is told
		// nothing about it (RFC 7009 §2.1).
		s.log.InfoContext(ctx, "revocation of a token not issued to the caller ignored", "client_id", cl.id)
		return cl, nil
	}
	_, err = s.revoker.Revoke(ctx, &revocationv1.RevokeRequest{
		Kind:   revocationv1.Kind_KIND_ACCESS_TOKEN,
		Id:     c.JTI,
		Reason: "revoked by its client (RFC 7009)",
		// Validators accept a token up to the clock skew past exp; the
		// entry lives as long.
		ExpireTime: timestamppb.New(c.Expiry.Add(s.cfg.ClockSkew)),
	})
	if err != nil {
		return cl, errUnavailable(err)
	}
	return cl, nil
}

// spendClientBudget spends one request of the client's tier at an
// endpoint (checklist item 90): over it, 429 with Retry-After. A public
// client is one client_id for all its users' devices, so its budget is
// per (client, address): one device cannot spend the others'.
func (s *Service) spendClientBudget(ctx context.Context, cl *client, endpoint, ip string) error {
	key := endpoint + "\x00" + cl.id
	if cl.authMethod == authNone {
		key += "\x00" + ip
	}
	if ok, retry := s.limiter.Allow(key, cl.tier); !ok {
		s.record(ctx, audit.ReasonRateLimited, cl.id, endpoint, ip)
		return errRateLimited(descriptionTooManyRequests, retry)
	}
	return nil
}

// revokeRefresh revokes the family of one of the caller's refresh tokens;
// anything else is left alone with the same 200.
func (s *Service) revokeRefresh(ctx context.Context, cl *client, token string) error {
	if s.grants == nil || len(token) > maxOpaqueLen {
		return nil
	}
	_, fam, err := s.grants.GetRefresh(ctx, hashSecret(token))
	switch {
	case errors.Is(err, grantstore.ErrNotFound):
		return nil
	case err != nil:
		return errUnavailable(err)
	case fam.ClientID != cl.id: // not-secret: compares client ids
		s.log.InfoContext(ctx, "revocation of a token not issued to the caller ignored", "client_id", cl.id)
		return nil
	}
	if err := s.revokeFamily(ctx, fam.ID, "revoked by its client (RFC 7009)", s.cfg.Now()); err != nil {
		return errUnavailable(err)
	}
	return nil
}
