package token

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
)

// maxTokenLen bounds a token presented for introspection; a longer one is
// inactive without any verification work.
const maxTokenLen = 8 << 10

// inactiveBody is RFC 7662 §2.2's answer for every token that is not
// active, whatever the reason: no other member (checklist item 73).
var inactiveBody = []byte(`{"active":false}`)

// handleIntrospect is RFC 7662 §2. The caller authenticates exactly as at
// the token endpoint (same code path, same failure budgets) and must be
// allowed gatehouse:introspect (its own resources' tokens),
// gatehouse:introspect.all or gatehouse:admin (every token).
//
// Choices: bad or missing caller credentials get 401 invalid_client (RFC
// 7662 §2.3) and never token data; an authenticated client without the
// scope gets 403 insufficient_scope (its credentials are fine, its
// privilege is not; the RFC leaves this open); a caller over its budget
// (its client's rate-limit tier, keyed "introspect:<client_id>") gets 429.
func (s *Service) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	body, err := s.introspectHTTP(r.Context(), w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setNoStore(w.Header())
	writeJSON(w, http.StatusOK, body)
}

func (s *Service) introspectHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request) ([]byte, error) {
	f, err := readForm(w, r)
	if err != nil {
		return nil, err
	}
	caller, err := s.authenticateClient(ctx, r, f, introspectPath)
	if err != nil {
		return nil, err
	}
	if caller.authMethod == authNone {
		// A public client proves nothing: introspection is for
		// authenticated resource servers (RFC 7662 §2.1).
		s.record(ctx, audit.ReasonCredentialKindNotAllowed, caller.id, introspectPath, s.cfg.RemoteIP(r))
		return nil, errInvalidClient(nil)
	}
	view := introspectionView{all: caller.allowsScope(ScopeIntrospectAll) || caller.allowsScope(scopeAdmin), resources: caller.resources}
	allowed := view.all || caller.allowsScope(ScopeIntrospect)
	if err := s.authorizeIntrospection(ctx, introspectPath, caller.id, caller.introspectBudget, allowed, caller.tier, r); err != nil {
		return nil, err
	}
	token := f.get("token")
	if token == "" {
		return nil, errInvalidRequest("token is required")
	}
	// token_type_hint is optional and only a hint (RFC 7662 §2.1): every
	// token here is an access token, so it is ignored.
	c, active := s.introspect(ctx, token)
	if !active || !view.sees(c.Audience) {
		return inactiveBody, nil
	}
	return introspectionJSON(c), nil
}

// introspectionView is which tokens a caller may see active (checklist
// item 91; RFC 7662 §4 lets the server answer each protected resource for
// its own tokens): every token with gatehouse:introspect.all or
// gatehouse:admin, otherwise those whose audience includes one of the
// caller's registered resources. Any other token is {"active":false} to
// it, as an unknown one would be, so a resource server cannot read the
// scopes, subjects and clients of tokens meant for others.
type introspectionView struct {
	all       bool
	resources []string
}

func (v introspectionView) sees(aud []string) bool {
	if v.all {
		return true
	}
	for _, a := range aud {
		if slices.Contains(v.resources, a) {
			return true
		}
	}
	return false
}

// introspectBudgetKey is the Limiter key of a caller's introspection
// budget.
func introspectBudgetKey(clientID string) string { return "introspect:" + clientID }

// authorizeIntrospection checks the caller's privilege and spends its
// request budget (Limiter key budget) against token scanning (RFC 7662 §4).
// The caller's address is only worked out for a refusal: r is an
// *http.Request or a gRPC context's peer.
func (s *Service) authorizeIntrospection(ctx context.Context, endpoint, clientID, budget string, allowed bool, tier string, r *http.Request) error {
	ip := func() string {
		if r != nil {
			return s.cfg.RemoteIP(r)
		}
		return peerIP(ctx)
	}
	if !allowed {
		s.record(ctx, audit.ReasonInsufficientScope, clientID, endpoint, ip())
		return newError(CodeInsufficientScope, http.StatusForbidden, "the client is not allowed to introspect tokens")
	}
	if ok, retry := s.limiter.Allow(budget, tier); !ok {
		s.record(ctx, audit.ReasonRateLimited, clientID, endpoint, ip())
		return errRateLimited(descriptionTooManyRequests, retry)
	}
	return nil
}

// introspect is the core both faces share: the token's claims when it is
// active now. Malformed, unknown, expired, not-yet-valid, revoked and
// foreign tokens are all simply inactive.
func (s *Service) introspect(ctx context.Context, token string) (Claims, bool) {
	if len(token) > maxTokenLen {
		return Claims{}, false
	}
	c, err := s.verifier.VerifyAccessToken(ctx, token)
	if err != nil {
		return Claims{}, false
	}
	now := s.cfg.Now()
	skewed := now.Add(s.cfg.ClockSkew)
	switch {
	case c.Issuer != s.cfg.Issuer:
		return Claims{}, false
	case c.Expiry.IsZero() || !now.Before(c.Expiry):
		return Claims{}, false
	case !c.NotBefore.IsZero() && c.NotBefore.After(skewed):
		return Claims{}, false
	case c.IssuedAt.After(skewed):
		return Claims{}, false
	}
	return c, true
}

// introspectionJSON renders an active token (RFC 7662 §2.2, RFC 8705 §3.2
// for cnf). aud is a string for one audience, an array otherwise, as in
// the token.
func introspectionJSON(c Claims) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"active":true`...)
	str := func(name, v string) {
		if v != "" {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = appendJSONString(b, v)
		}
	}
	num := func(name string, v int64) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, v, 10)
	}
	str("scope", c.Scope)
	str("client_id", c.ClientID)
	str("sub", c.Subject)
	switch len(c.Audience) {
	case 0:
	case 1:
		str("aud", c.Audience[0])
	default:
		b = append(b, `,"aud":[`...)
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	str("iss", c.Issuer)
	num("exp", c.Expiry.Unix())
	if !c.IssuedAt.IsZero() {
		num("iat", c.IssuedAt.Unix())
	}
	if !c.NotBefore.IsZero() {
		num("nbf", c.NotBefore.Unix())
	}
	str("jti", c.JTI)
	if c.DPoPJKT != "" {
		str("token_type", "DPoP")
	} else {
		str("token_type", "Bearer")
	}
	// RFC 8705 §3.2, RFC 9449 §6.2.
	if c.CertThumbprint != "" || c.DPoPJKT != "" {
		b = append(b, `,"cnf":{`...)
		if c.CertThumbprint != "" {
			b = append(b, `"x5t#S256":`...)
			b = appendJSONString(b, c.CertThumbprint)
		}
		if c.DPoPJKT != "" {
			if c.CertThumbprint != "" {
				b = append(b, ',')
			}
			b = append(b, `"jkt":`...)
			b = appendJSONString(b, c.DPoPJKT)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
