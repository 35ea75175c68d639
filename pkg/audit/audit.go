package audit

import (
	"context"
	"errors"
	"log/slog"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Reason is why a request was refused. Only the constants below are used,
// so that the metric label and the audit stream stay enumerable.
type Reason string

// The reasons of a refusal.
const (
	// No credential was presented (or only one the server ignores, such as
	// an access_token query parameter).
	ReasonMissingCredential Reason = "missing_credential"
	// The credential is not of its scheme's format (bad API key checksum,
	// "Bearer" without a token, "Bearer a b", ...).
	ReasonMalformedCredential Reason = "malformed_credential"
	// More than one credential was presented (RFC 6750 §2).
	ReasonMultipleCredentials Reason = "multiple_credentials"
	// The credential is longer than the validator accepts.
	ReasonCredentialTooLarge Reason = "credential_too_large"
	// The API key is well formed but not registered, or its secret is wrong.
	ReasonUnknownAPIKey Reason = "unknown_api_key"
	// The API key was revoked.
	ReasonRevokedAPIKey Reason = "revoked_api_key"
	// The API key is past its expiry or its rotation grace period.
	ReasonExpiredAPIKey Reason = "expired_api_key"
	// The owning client is disabled or deleted.
	ReasonClientDisabled Reason = "client_disabled"
	// The method does not accept this kind of credential.
	ReasonCredentialKindNotAllowed Reason = "credential_kind_not_allowed"
	// The scheme is unknown, or no authenticator handles its kind.
	ReasonUnsupportedCredential Reason = "unsupported_credential"
	// A scope the method requires was not granted.
	ReasonInsufficientScope Reason = "insufficient_scope"
	// The client exceeded its rate-limit tier.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonTooManyFailures: the caller's address failed authentication too
	// often and is refused for a while without any verification.
	ReasonTooManyFailures Reason = "too_many_failures"
	// The method has no auth rule, so it is refused (deny by default).
	ReasonNoAuthRule Reason = "no_auth_rule"
	// The credential could not be checked because a verifier (the client
	// registry, a JWKS endpoint) failed; the request is refused with
	// Unavailable.
	ReasonVerifierUnavailable Reason = "verifier_unavailable"

	// The reasons below refuse a JWT access token (RFC 9068, RFC 8725).

	// The token is malformed: not a compact JWS, bad base64url or JSON,
	// duplicate members, a crit or cty header, a required claim missing or
	// of the wrong type.
	ReasonInvalidToken Reason = "invalid_token"
	// The token's exp has passed (beyond the allowed clock skew).
	ReasonExpiredToken Reason = "expired_token"
	// The token's nbf or iat is in the future (beyond the clock skew).
	ReasonTokenNotYetValid Reason = "token_not_yet_valid"
	// The token's aud does not name this service.
	ReasonWrongAudience Reason = "wrong_audience"
	// The token's iss is not the configured issuer.
	ReasonWrongIssuer Reason = "wrong_issuer"
	// The token's typ is not at+jwt (RFC 9068 §4): an ID token, a DPoP
	// proof or another JWT.
	ReasonWrongTokenType Reason = "wrong_token_type"
	// The token's kid is not in the issuer's JWKS, even after a refetch.
	ReasonUnknownKID Reason = "unknown_kid"
	// The token's signature does not verify with the key its kid names.
	ReasonBadSignature Reason = "bad_signature"
	// The token's alg is not allowed, or is not the one algorithm of the
	// key its kid names (none, HS256, RS256 against a PS256 key, ...).
	ReasonDisallowedAlgorithm Reason = "disallowed_algorithm"
	// The token was revoked (by jti, client, subject or signing key).
	ReasonRevokedToken Reason = "revoked_token"
	// The revocation list could not be trusted: not loaded yet, or neither
	// NATS nor the revocation service answered for longer than the
	// staleness bound. The request fails closed with Unavailable.
	ReasonRevocationListStale Reason = "revocation_list_stale"
	// The token is bound to a client certificate (cnf x5t#S256, RFC 8705
	// §3) and the request was made without it: no certificate, another
	// one, or a plain channel.
	ReasonCertificateBindingMismatch Reason = "certificate_binding_mismatch"
	// A client certificate presented as the only credential belongs to no
	// client that may use it: it names none, the client is unknown, or the
	// certificate is neither from the platform CA nor the client's
	// registered one.
	ReasonUnknownClientCertificate Reason = "unknown_client_certificate"

	// The reasons below are the authorization server's own (the token
	// service's endpoints and its sign-in pages).

	// A client_id and secret (or a client certificate) that do not
	// authenticate the client at the token, introspection or revocation
	// endpoint.
	ReasonInvalidClientCredentials Reason = "invalid_client_credentials"
	// The client is not registered for the grant type it asked for.
	ReasonGrantNotAllowed Reason = "grant_not_allowed"
	// A client certificate the token service refused (RFC 8705 §2).
	ReasonClientCertificateRefused Reason = "client_certificate_refused"
	// A wrong email or password on the login page, or a disabled user.
	ReasonLoginFailed Reason = "login_failed"
	// A form of the sign-in pages without its page's CSRF token, or from
	// another origin.
	ReasonCSRF Reason = "csrf_check_failed"
	// An authorization code presented again; its grant is revoked.
	ReasonCodeReuse Reason = "authorization_code_reuse"
	// A rotated-out refresh token presented again; its family is revoked.
	ReasonRefreshReuse Reason = "refresh_token_reuse"
	// A DPoP proof (RFC 9449 §4.3) missing where one is required, or
	// refused: malformed, wrong method or URI, stale, replayed, or not
	// signed by its key.
	ReasonInvalidDPoPProof Reason = "invalid_dpop_proof"
	// A DPoP-bound token (cnf.jkt, RFC 9449 §6) presented with a proof by
	// another key, without a proof, or as a Bearer token; or a DPoP-bound
	// code or refresh token redeemed with another key.
	ReasonDPoPBindingMismatch Reason = "dpop_binding_mismatch"
	// A bearer token or an API key at a method whose rule requires a
	// sender-constrained credential (require_sender_constrained).
	ReasonSenderConstraintRequired Reason = "sender_constraint_required"
)

// Reasons lists every Reason, in a stable order.
func Reasons() []Reason {
	return []Reason{
		ReasonMissingCredential, ReasonMalformedCredential, ReasonMultipleCredentials,
		ReasonCredentialTooLarge, ReasonUnknownAPIKey, ReasonRevokedAPIKey,
		ReasonExpiredAPIKey, ReasonClientDisabled, ReasonCredentialKindNotAllowed,
		ReasonUnsupportedCredential, ReasonInsufficientScope, ReasonRateLimited,
		ReasonNoAuthRule, ReasonVerifierUnavailable,
		ReasonInvalidToken, ReasonExpiredToken, ReasonTokenNotYetValid,
		ReasonWrongAudience, ReasonWrongIssuer, ReasonWrongTokenType,
		ReasonUnknownKID, ReasonBadSignature, ReasonDisallowedAlgorithm,
		ReasonRevokedToken, ReasonTooManyFailures, ReasonRevocationListStale,
		ReasonCertificateBindingMismatch, ReasonUnknownClientCertificate,
		ReasonInvalidClientCredentials, ReasonGrantNotAllowed, ReasonClientCertificateRefused,
		ReasonLoginFailed, ReasonCSRF, ReasonCodeReuse, ReasonRefreshReuse,
		ReasonInvalidDPoPProof, ReasonDPoPBindingMismatch, ReasonSenderConstraintRequired,
	}
}

// valid is the set of Reasons, built once from the one list.
var valid = func() map[Reason]bool {
	m := make(map[Reason]bool)
	for _, r := range Reasons() {
		m[r] = true
	}
	return m
}()

// Valid reports whether r is one of the enumerated reasons.
func (r Reason) Valid() bool { return valid[r] }

// otherLabel is the metric label of a reason outside the enumeration, which
// keeps the label set bounded whatever a caller passes.
const otherLabel = "other"

// Failure is one refused request. It never holds a credential.
type Failure struct {
	Reason Reason
	// ClientID is the client, when the credential identified one.
	ClientID string
	// Method is the gRPC full method ("/pkg.Service/Method") or the HTTP
	// route ("GET /v1/things").
	Method string
	// Remote is the caller's address.
	Remote string
	// Service is the service that refused the request; empty means the
	// Logger's own.
	Service string
	// At is when it happened; zero means now.
	At time.Time
	// RequestID is the request's id; empty means the one its context
	// carries (requestid.FromContext), if any.
	RequestID string
}

// Recorder takes every refused request. Implementations must not block.
type Recorder interface {
	RecordFailure(ctx context.Context, f Failure)
}

// Publisher sends an AuthFailure event. It must not block: the request
// that failed waits for it. NewNATSPublisher's publish is buffered.
type Publisher interface {
	PublishAuthFailure(ctx context.Context, ev *eventsv1.AuthFailure) error
}

// MetricName is the name of the failure counter in the default namespace.
const MetricName = "gatehouse_auth_failures_total"

// Option configures a Logger.
type Option func(*options)

type options struct{ namespace string }

// WithMetricNamespace names the failure counter <namespace>_auth_failures_total
// instead of MetricName, so a service's failures are not mixed with
// Gatehouse's own in a shared Prometheus; "" drops the prefix.
func WithMetricNamespace(namespace string) Option {
	return func(o *options) { o.namespace = namespace }
}

// Logger is the Recorder Gatehouse uses: slog, a Prometheus counter and a
// Publisher. It is safe for concurrent use.
type Logger struct {
	log     *slog.Logger
	failed  *prometheus.CounterVec
	pub     Publisher
	service string
	now     func() time.Time
}

var _ Recorder = (*Logger)(nil)

// New returns a Logger. A nil logger means slog.Default(); a nil reg means
// the counter is not registered anywhere; a nil pub means no events. If reg
// already holds the counter (two validators in one process), that one is
// shared.
func New(logger *slog.Logger, reg prometheus.Registerer, pub Publisher, service string, opts ...Option) *Logger {
	if logger == nil {
		logger = slog.Default()
	}
	o := options{namespace: "gatehouse"}
	for _, opt := range opts {
		opt(&o)
	}
	name := o.namespace + "_auth_failures_total"
	if o.namespace == "" {
		name = "auth_failures_total"
	}
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name,
		Help: "Requests refused by authentication or authorization, by reason.",
	}, []string{"reason"})
	if reg != nil {
		if err := reg.Register(failed); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					failed = existing
				}
			} else {
				logger.Error("audit: register metric", "metric", name, "error", err)
			}
		}
	}
	// Export every reason from the start, so that rate() works from zero.
	for _, r := range Reasons() {
		failed.WithLabelValues(string(r))
	}
	return &Logger{log: logger, failed: failed, pub: pub, service: service, now: time.Now}
}

// RecordFailure logs, counts and publishes f. A publish error is logged at
// Debug and otherwise ignored: auditing never fails a request.
func (l *Logger) RecordFailure(ctx context.Context, f Failure) {
	if f.Service == "" {
		f.Service = l.service
	}
	if f.At.IsZero() {
		f.At = l.now()
	}
	if f.RequestID == "" {
		f.RequestID = requestid.FromContext(ctx)
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("event", "auth_failure"), slog.String("reason", string(f.Reason)))
	if f.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", f.ClientID))
	}
	attrs = append(attrs,
		slog.String("method", f.Method),
		slog.String("remote", f.Remote),
		slog.String("service", f.Service),
	)
	if f.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", f.RequestID))
	}
	l.log.LogAttrs(ctx, slog.LevelWarn, "auth failure", attrs...)

	label := string(f.Reason)
	if !f.Reason.Valid() {
		label = otherLabel
	}
	l.failed.WithLabelValues(label).Inc()

	if l.pub == nil {
		return
	}
	ev := &eventsv1.AuthFailure{
		Reason:    string(f.Reason),
		ClientId:  f.ClientID,
		Method:    f.Method,
		Remote:    f.Remote,
		At:        timestamppb.New(f.At),
		Service:   f.Service,
		RequestId: f.RequestID,
	}
	if err := l.pub.PublishAuthFailure(ctx, ev); err != nil {
		l.log.LogAttrs(ctx, slog.LevelDebug, "audit: publish auth failure", slog.String("error", err.Error()))
	}
}
