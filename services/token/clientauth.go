package token

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Audit reasons the token service adds to pkg/audit's (which it does not
// extend): the metric counts them under "other", the log and the audit
// stream carry them as they are.
const (
	// ReasonInvalidClientCredentials: unknown client_id, wrong secret or a
	// client without a client_secret method (the registry does not say
	// which, and neither does the response).
	ReasonInvalidClientCredentials = audit.ReasonInvalidClientCredentials
	// ReasonGrantNotAllowed: the client authenticated but is not
	// registered for the grant type it asked (unauthorized_client).
	ReasonGrantNotAllowed = audit.ReasonGrantNotAllowed
)

const (
	// maxClientIDLen and maxSecretLen bound what is hashed or sent to the
	// registry; registry ids and secrets are far shorter.
	maxClientIDLen = 256
	maxSecretLen   = 512
)

// credentials are the client credentials of one request.
type credentials struct {
	clientID, secret string
	method           string // authSecretBasic or authSecretPost
	viaHeader        bool   // the Authorization header was used
}

// authFailure is a refused authentication before its budget is spent.
type authFailure struct {
	reason audit.Reason
	err    *Error
}

// extractCredentials reads the client's credentials from the request: HTTP
// Basic (client_secret_basic) or client_id and client_secret in the body
// (client_secret_post), exactly one of them (RFC 6749 §2.3, checklist item
// 56). It does no I/O. On failure it still returns the client_id the
// request named, for the failure budget and the audit trail.
func extractCredentials(r *http.Request, f *form) (credentials, *authFailure) {
	authz := r.Header.Values("Authorization")
	switch {
	case len(authz) > 1:
		return credentials{viaHeader: true}, &authFailure{audit.ReasonMultipleCredentials,
			errInvalidRequest("more than one Authorization header")}
	case len(authz) == 1:
		return basicCredentials(authz[0], f)
	}
	c := credentials{clientID: f.get("client_id"), secret: f.get("client_secret"), method: authSecretPost}
	switch {
	case c.clientID == "" && c.secret == "":
		// Nothing tried: challenge for the method most clients use.
		e := errInvalidClient(nil)
		e.Challenge = true
		return c, &authFailure{audit.ReasonMissingCredential, e}
	case c.clientID == "":
		return c, &authFailure{audit.ReasonMalformedCredential, errInvalidRequest("client_secret without client_id")}
	case len(c.clientID) > maxClientIDLen || len(c.secret) > maxSecretLen:
		return credentials{method: authSecretPost}, &authFailure{audit.ReasonCredentialTooLarge, errInvalidClient(nil)}
	case c.secret == "":
		// client_id alone: a public client (method none), which only the
		// registered method decides.
		c.method = authNone
	}
	return c, nil
}

// basicCredentials decodes client_secret_basic (RFC 6749 §2.3.1, RFC 7617):
// base64 of form-urlencoded client_id ":" form-urlencoded client_secret.
// The id and the secret are form-decoded after splitting, so a secret with
// ':' '%' '+' '&' '=' works once the client encoded it (checklist item 53).
func basicCredentials(header string, f *form) (credentials, *authFailure) {
	c := credentials{method: authSecretBasic, viaHeader: true}
	fail := func(reason audit.Reason) (credentials, *authFailure) {
		e := errInvalidClient(nil)
		e.Challenge = true
		return c, &authFailure{reason, e}
	}
	if len(header) > maxAuthorizationLen {
		return fail(audit.ReasonCredentialTooLarge)
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return fail(audit.ReasonUnsupportedCredential)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil {
		return fail(audit.ReasonMalformedCredential)
	}
	encID, encSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return fail(audit.ReasonMalformedCredential)
	}
	id, err1 := url.QueryUnescape(encID)
	secret, err2 := url.QueryUnescape(encSecret)
	if err1 != nil || err2 != nil || id == "" || secret == "" {
		return fail(audit.ReasonMalformedCredential)
	}
	if len(id) > maxClientIDLen || len(secret) > maxSecretLen {
		return fail(audit.ReasonCredentialTooLarge)
	}
	c.clientID, c.secret = id, secret
	if f.has("client_secret") {
		// RFC 6749 §2.3: one authentication method per request.
		return c, &authFailure{audit.ReasonMultipleCredentials,
			errInvalidRequest("use exactly one client authentication method: HTTP Basic or client_secret in the body, not both")}
	}
	if bodyID := f.get("client_id"); bodyID != "" && bodyID != id {
		return c, &authFailure{audit.ReasonMultipleCredentials,
			errInvalidRequest("client_id in the body differs from the HTTP Basic client")}
	}
	return c, nil
}

// authenticateClient authenticates the client of a token or introspection
// request: the over-budget check, credential extraction, a positive-cache
// lookup or one VerifyClientSecret call, and the registered-method check.
// Every refusal is audited and spends the client's and the address's
// failure budget (checklist item 80).
func (s *Service) authenticateClient(ctx context.Context, r *http.Request, f *form, endpoint string) (*client, error) {
	ip := s.cfg.RemoteIP(r)
	creds, failure := extractCredentials(r, f)
	now := s.cfg.Now()
	// Refused unchecked only when this client's own failure budget at this
	// address is spent: failures elsewhere, or of other clients here,
	// never lock a correct secret out (failures.go).
	if d := s.failures.check(creds.clientID, ip, now); d.wait > 0 {
		s.record(ctx, audit.ReasonTooManyFailures, creds.clientID, endpoint, ip)
		return nil, errRateLimited(descriptionTooManyFailures, d.wait)
	}
	if creds.clientID == "" && len(peerCerts(r)) > 0 {
		// RFC 8705 §2: an mTLS client names itself with client_id.
		return nil, s.authFailed(ctx, creds, endpoint, ip, audit.ReasonMalformedCredential,
			errInvalidRequest("client_id is required with a client certificate (RFC 8705 section 2)"))
	}
	if failure != nil {
		return nil, s.authFailed(ctx, creds, endpoint, ip, failure.reason, failure.err)
	}
	if creds.method != authNone && len(peerCerts(r)) > 0 && endpoint == tokenPath {
		// RFC 6749 §2.3 / checklist item 56: a certificate and a secret
		// are two authentication methods.
		return nil, s.authFailed(ctx, creds, endpoint, ip, audit.ReasonMultipleCredentials,
			errInvalidRequest("use exactly one client authentication method: a client certificate or a secret, not both"))
	}
	var cl *client
	var err error
	if creds.method == authNone {
		// client_id alone: a public client, or an mTLS client whose
		// certificate is the credential (RFC 8705 §2: client_id is sent).
		cl, err = s.publicClient(ctx, creds.clientID)
		if err == nil && (cl.authMethod == authTLSClient || cl.authMethod == authSelfSignedTLSClient) {
			if reason := s.checkClientCert(r, cl); reason != "" {
				return nil, s.authFailed(ctx, creds, endpoint, ip, reason, errInvalidClient(nil))
			}
			creds.method = cl.authMethod
		}
	} else {
		cl, err = s.verifySecret(ctx, creds)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeInvalidClient {
			return nil, s.authFailed(ctx, creds, endpoint, ip, ReasonInvalidClientCredentials, e)
		}
		s.record(ctx, audit.ReasonVerifierUnavailable, creds.clientID, endpoint, ip)
		return nil, err
	}
	switch {
	case cl.disabled:
		return nil, s.authFailed(ctx, creds, endpoint, ip, audit.ReasonClientDisabled, errInvalidClient(nil))
	case cl.authMethod != creds.method:
		// The method must be the registered token_endpoint_auth_method
		// (RFC 7591 §2), even with the right secret. The secret (or the
		// certificate) was right, so saying which method is registered
		// tells nothing to someone who does not hold it, and tells a
		// library defaulting to the other method what went wrong.
		e := errInvalidClient(nil)
		if creds.method != authNone {
			e.Description = "the client is registered for " + cl.authMethod + "; the request used " + creds.method
		}
		return nil, s.authFailed(ctx, creds, endpoint, ip, audit.ReasonCredentialKindNotAllowed, e)
	}
	return cl, nil
}

// publicClient looks up a client that presented only its client_id. It
// authenticates nothing: the caller checks that the client is registered
// with the method none, and the grant's own proof (the PKCE verifier, the
// refresh token) does the rest. The registry's answer is cached as a
// verified secret is, for the same TTL and dropped by the same
// ClientChanged events: on PostgreSQL a quarter of a code exchange's CPU
// was this lookup, and in a split deployment it is a gRPC call.
func (s *Service) publicClient(ctx context.Context, id string) (*client, error) {
	key := newCacheKey(id, "")
	if cl, ok := s.public.get(key, s.cfg.Now()); ok {
		return cl, nil
	}
	gen := s.public.generation()
	resp, err := s.clients.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound, codes.InvalidArgument:
			return nil, errInvalidClient(nil)
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
			return nil, errUnavailable(err)
		}
		return nil, errServer(err)
	}
	cl := clientFromProto(resp.GetClient())
	if cl.id != id { // not-secret: compares client ids
		return nil, errServer(errors.New("the registry answered for another client than the one asked"))
	}
	s.public.put(key, cl, s.cfg.Now(), gen)
	return cl, nil
}

// verifySecret checks the client's secret: a fresh positive cache entry, or
// the registry. Wrong secrets are never cached.
func (s *Service) verifySecret(ctx context.Context, c credentials) (*client, error) {
	key := newCacheKey(c.clientID, c.secret)
	if cl, ok := s.cache.get(key, s.cfg.Now()); ok {
		return cl, nil
	}
	gen := s.cache.generation()
	resp, err := s.clients.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: c.clientID, ClientSecret: c.secret})
	if err != nil {
		switch status.Code(err) {
		case codes.Unauthenticated:
			return nil, errInvalidClient(nil)
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
			return nil, errUnavailable(err)
		}
		return nil, errServer(err)
	}
	cl := clientFromProto(resp.GetClient())
	if cl.id != c.clientID { // not-secret: compares client ids
		return nil, errServer(errors.New("the registry verified another client than the one asked"))
	}
	s.cache.put(key, cl, s.cfg.Now(), gen)
	return cl, nil
}

// authFailed audits a refused authentication and spends the failure
// budgets; once a budget is exhausted the answer is 429.
func (s *Service) authFailed(ctx context.Context, c credentials, endpoint, ip string, reason audit.Reason, e *Error) error {
	s.record(ctx, reason, c.clientID, endpoint, ip)
	if e.Code == CodeInvalidClient && c.viaHeader {
		e.Challenge = true // RFC 6749 §5.2
	}
	if wait, over := s.failures.fail(c.clientID, ip, s.cfg.Now()); over {
		return errRateLimited(descriptionTooManyFailures, wait)
	}
	return e
}

func (s *Service) record(ctx context.Context, reason audit.Reason, clientID, endpoint, ip string) {
	s.cfg.Audit.RecordFailure(ctx, audit.Failure{Reason: reason, ClientID: clientID, Method: endpoint, Remote: ip, At: s.cfg.Now()})
}
